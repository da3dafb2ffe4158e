package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Client speaks the part of the OCI distribution API the benchmark drives.
// Both registries get the same client, transport settings and request
// sequence, so any difference is the server's.
type Client struct {
	base     string
	repo     string
	user     string
	password string
	// bearer, when set, authenticates requests instead of user and
	// password.
	bearer string
	http   *http.Client
}

// NewClient returns a client for repository repo on s.
func NewClient(s *Server, repo string) *Client {
	return &Client{
		base:     s.URL,
		repo:     repo,
		user:     s.User,
		password: s.Password,
		bearer:   s.Token,
		http:     &http.Client{Transport: newTransport(s.RootCAs)},
	}
}

// newTransport is shared with the loopback copy test so the machine limit is
// measured with the same TLS and buffer settings as the registries. HTTP/2 is
// off (Go's default once a TLS config is set): docker and containerd pull
// layers over HTTP/1.1 connections in practice, one stream per connection.
func newTransport(roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
}

func (c *Client) url(path string) string {
	return c.base + "/v2/" + c.repo + path
}

// do sends req and fails unless the response has status want. The caller
// owns the returned body.
func (c *Client) do(req *http.Request, want int) (*http.Response, error) {
	switch {
	case c.bearer != "":
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	case c.user != "":
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(msg))
	}
	return resp, nil
}

// drain consumes the body so the connection goes back to the pool.
func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func uploadLocation(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%s %s: no Location header", resp.Request.Method, resp.Request.URL.Path)
	}
	return resp.Request.URL.Parse(loc)
}

// Ping checks that the registry answers /v2/ with the client's credentials.
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// PushBlob uploads b the way docker does: POST to open a session, one
// chunked PATCH streaming the whole body, then PUT with the digest.
func (c *Client) PushBlob(ctx context.Context, b Blob) error {
	return c.push(ctx, b.Digest, func() io.Reader { return NewPayload(b.Seed, b.Size) })
}

// PushBytes uploads a small blob held in memory.
func (c *Client) PushBytes(ctx context.Context, digest string, data []byte) error {
	return c.push(ctx, digest, func() io.Reader { return bytes.NewReader(data) })
}

func (c *Client) push(ctx context.Context, digest string, body func() io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/blobs/uploads/"), nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req, http.StatusAccepted)
	if err != nil {
		return err
	}
	loc, err := uploadLocation(resp)
	drain(resp)
	if err != nil {
		return err
	}

	// The length is deliberately left unknown so the body goes out with
	// chunked transfer encoding, as docker sends it.
	req, err = http.NewRequestWithContext(ctx, http.MethodPatch, loc.String(), io.NopCloser(body()))
	if err != nil {
		return err
	}
	// GetBody lets the transport replay the upload if a pooled connection
	// turns out to have been closed by the server.
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body()), nil }
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = c.do(req, http.StatusAccepted)
	if err != nil {
		return err
	}
	loc, err = uploadLocation(resp)
	drain(resp)
	if err != nil {
		return err
	}

	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	req, err = http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), nil)
	if err != nil {
		return err
	}
	resp, err = c.do(req, http.StatusCreated)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// PullBlob copies the blob into w and returns its length.
func (c *Client) PullBlob(ctx context.Context, digest string, w io.Writer) (int64, error) {
	return c.get(ctx, "/blobs/"+digest, "", w)
}

// PutManifest stores a manifest under ref.
func (c *Client) PutManifest(ctx context.Context, ref, mediaType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.url("/manifests/"+ref), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := c.do(req, http.StatusCreated)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// GetManifest copies the manifest stored under ref into w.
func (c *Client) GetManifest(ctx context.Context, ref, mediaType string, w io.Writer) (int64, error) {
	return c.get(ctx, "/manifests/"+ref, mediaType, w)
}

func (c *Client) get(ctx context.Context, path, accept string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path), nil)
	if err != nil {
		return 0, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("GET %s: %w", req.URL.Path, err)
	}
	return n, nil
}
