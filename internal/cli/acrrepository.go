package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// RegistryData calls a registry's metadata API (/acr/v1/) and distribution
// API as the logged-in principal, as the cloud CLI's acr repository
// commands do.
type RegistryData struct {
	rc      registryEndpoint
	base    string
	auth    string
	Address string
}

// RegistryData logs in to a registry (LoginRegistry) and returns a client
// of its data APIs. Every request carries the registry refresh token as
// the null user's password, which the registry accepts in place of an
// access token.
func (m *Management) RegistryData(ctx context.Context, name string) (*RegistryData, error) {
	l, err := m.LoginRegistry(ctx, name)
	if err != nil {
		return nil, err
	}
	rc, err := m.p.registryClient(l.LoginServer)
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(NullUser, l.RefreshToken)
	return &RegistryData{rc: rc, base: rc.scheme + "://" + l.Address, auth: req.Header.Get("Authorization"), Address: l.Address}, nil
}

// RegistryError is a registry's error answer.
type RegistryError struct {
	Status  int
	Code    string
	Message string
}

func (e *RegistryError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("the registry answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// do sends one request; path is escaped already. It returns the Link
// header's next page, if any.
func (d *RegistryData) do(ctx context.Context, method, path string, query url.Values, in, out any) (string, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return "", err
		}
		body = bytes.NewReader(b)
	}
	u := d.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", d.auth)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.rc.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		e := &RegistryError{Status: resp.StatusCode}
		var eb struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		if json.Unmarshal(data, &eb) == nil && len(eb.Errors) > 0 {
			e.Code, e.Message = eb.Errors[0].Code, eb.Errors[0].Message
		}
		return "", e
	}
	var next string
	if l := resp.Header.Get("Link"); strings.HasPrefix(l, "<") && strings.Contains(l, ">") {
		next = l[1:strings.Index(l, ">")]
	}
	if out != nil && len(data) > 0 {
		return next, json.Unmarshal(data, out)
	}
	return next, nil
}

// escape is a repository name as one path segment, the way the cloud's
// SDK sends it.
func escape(repo string) string { return url.PathEscape(repo) }

// pages gets a listing page after page (of at most 100) until top items
// (top <= 0: all), collecting key's array of each.
func (d *RegistryData) pages(ctx context.Context, path string, query url.Values, key string, top int) ([]any, error) {
	var out []any
	q := url.Values{"n": {"100"}}
	for k, v := range query {
		q[k] = v
	}
	for {
		var page map[string]any
		next, err := d.do(ctx, http.MethodGet, path, q, nil, &page)
		if err != nil {
			return nil, err
		}
		items, _ := page[key].([]any)
		out = append(out, items...)
		if top > 0 && len(out) >= top {
			return out[:top], nil
		}
		if next == "" {
			return out, nil
		}
		u, err := url.Parse(next)
		if err != nil {
			return nil, err
		}
		path, q = u.EscapedPath(), u.Query()
	}
}

// Repositories lists the repositories the principal may see.
func (d *RegistryData) Repositories(ctx context.Context, top int) ([]any, error) {
	out, err := d.pages(ctx, "/acr/v1/_catalog", nil, "repositories", top)
	return nonNilList(out), err
}

// ShowRepository shows a repository's counts and attributes.
func (d *RegistryData) ShowRepository(ctx context.Context, repo string) (Object, error) {
	var out Object
	_, err := d.do(ctx, http.MethodGet, "/acr/v1/"+escape(repo), nil, nil, &out)
	return out, err
}

// Image is --image: REPO:TAG or REPO@DIGEST.
type Image struct {
	Repository, Tag, Digest string
}

// ParseImage reads --image; a name without tag or digest means :latest,
// as the cloud CLI takes it.
func ParseImage(s string) (Image, error) {
	if repo, d, ok := strings.Cut(s, "@"); ok {
		if repo == "" || d == "" {
			return Image{}, fmt.Errorf("--image %q: want REPOSITORY@DIGEST", s)
		}
		return Image{Repository: repo, Digest: d}, nil
	}
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		if s == "" {
			return Image{}, fmt.Errorf("--image is empty: want REPOSITORY:TAG or REPOSITORY@DIGEST")
		}
		return Image{Repository: s, Tag: "latest"}, nil
	}
	if i == 0 || i == len(s)-1 {
		return Image{}, fmt.Errorf("--image %q: want REPOSITORY:TAG or REPOSITORY@DIGEST", s)
	}
	return Image{Repository: s[:i], Tag: s[i+1:]}, nil
}

// ShowImage shows a tag's attributes, or a manifest's.
func (d *RegistryData) ShowImage(ctx context.Context, img Image) (Object, error) {
	if img.Digest != "" {
		var out struct{ Manifest Object }
		_, err := d.do(ctx, http.MethodGet, "/acr/v1/"+escape(img.Repository)+"/_manifests/"+url.PathEscape(img.Digest), nil, nil, &out)
		return out.Manifest, err
	}
	var out struct{ Tag Object }
	_, err := d.do(ctx, http.MethodGet, "/acr/v1/"+escape(img.Repository)+"/_tags/"+url.PathEscape(img.Tag), nil, nil, &out)
	return out.Tag, err
}

// OrderBy maps the cloud CLI's --orderby to the API's.
func OrderBy(s string) (string, error) {
	switch s {
	case "":
		return "", nil
	case "time_desc":
		return "timedesc", nil
	case "time_asc":
		return "timeasc", nil
	}
	return "", fmt.Errorf("--orderby %q: use time_desc or time_asc", s)
}

// ListOptions are show-tags' and show-manifests'.
type ListOptions struct {
	Repository string
	OrderBy    string
	Top        int
	Detail     bool
}

func (o ListOptions) query() (url.Values, error) {
	q := url.Values{}
	order, err := OrderBy(o.OrderBy)
	if order != "" {
		q.Set("orderby", order)
	}
	if o.Top < 0 {
		return nil, fmt.Errorf("--top must be positive, not %d", o.Top)
	}
	return q, err
}

// ShowTags lists a repository's tags: their names, or with Detail their
// attributes.
func (d *RegistryData) ShowTags(ctx context.Context, o ListOptions) ([]any, error) {
	q, err := o.query()
	if err != nil {
		return nil, err
	}
	tags, err := d.pages(ctx, "/acr/v1/"+escape(o.Repository)+"/_tags", q, "tags", o.Top)
	if err != nil || o.Detail {
		return nonNilList(tags), err
	}
	names := []any{}
	for _, t := range tags {
		if m, ok := t.(map[string]any); ok {
			names = append(names, m["name"])
		}
	}
	return names, nil
}

// ShowManifests lists a repository's manifests: digest, tags and time,
// or with Detail everything.
func (d *RegistryData) ShowManifests(ctx context.Context, o ListOptions) ([]any, error) {
	q, err := o.query()
	if err != nil {
		return nil, err
	}
	ms, err := d.pages(ctx, "/acr/v1/"+escape(o.Repository)+"/_manifests", q, "manifests", o.Top)
	if err != nil || o.Detail {
		return nonNilList(ms), err
	}
	out := []any{}
	for _, x := range ms {
		if m, ok := x.(map[string]any); ok {
			out = append(out, map[string]any{"digest": m["digest"], "tags": m["tags"], "timestamp": m["lastUpdateTime"]})
		}
	}
	return out, nil
}

// DeleteRepository deletes a repository and everything in it.
func (d *RegistryData) DeleteRepository(ctx context.Context, repo string) (Object, error) {
	var out Object
	_, err := d.do(ctx, http.MethodDelete, "/acr/v1/"+escape(repo), nil, nil, &out)
	return out, err
}

// DeleteImage deletes a manifest, by digest or by a tag pointing at it,
// with every tag pointing at it, as the cloud CLI's repository delete
// --image does.
func (d *RegistryData) DeleteImage(ctx context.Context, img Image) error {
	digest := img.Digest
	if digest == "" {
		tag, err := d.ShowImage(ctx, img)
		if err != nil {
			return err
		}
		digest = tag.str("digest")
	}
	_, err := d.do(ctx, http.MethodDelete, "/v2/"+img.Repository+"/manifests/"+url.PathEscape(digest), nil, nil, nil)
	return err
}

// Untag removes a tag, leaving its manifest.
func (d *RegistryData) Untag(ctx context.Context, img Image) error {
	if img.Tag == "" {
		return fmt.Errorf("--image must name a tag (REPOSITORY:TAG)")
	}
	_, err := d.do(ctx, http.MethodDelete, "/acr/v1/"+escape(img.Repository)+"/_tags/"+url.PathEscape(img.Tag), nil, nil, nil)
	return err
}

// Attributes are update's; nil leaves one as it is.
type Attributes struct {
	DeleteEnabled, WriteEnabled, ListEnabled, ReadEnabled *bool
}

func (a Attributes) body() (map[string]bool, error) {
	out := map[string]bool{}
	for k, v := range map[string]*bool{"deleteEnabled": a.DeleteEnabled, "writeEnabled": a.WriteEnabled, "listEnabled": a.ListEnabled, "readEnabled": a.ReadEnabled} {
		if v != nil {
			out[k] = *v
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nothing to update: give --delete-enabled, --write-enabled, --list-enabled or --read-enabled")
	}
	return out, nil
}

// UpdateRepository sets a repository's attributes.
func (d *RegistryData) UpdateRepository(ctx context.Context, repo string, a Attributes) (Object, error) {
	body, err := a.body()
	if err != nil {
		return nil, err
	}
	var out Object
	_, err = d.do(ctx, http.MethodPatch, "/acr/v1/"+escape(repo), nil, body, &out)
	return out, err
}

// UpdateImage sets a tag's or a manifest's attributes.
func (d *RegistryData) UpdateImage(ctx context.Context, img Image, a Attributes) (Object, error) {
	body, err := a.body()
	if err != nil {
		return nil, err
	}
	if img.Digest != "" {
		var out struct{ Manifest Object }
		_, err = d.do(ctx, http.MethodPatch, "/acr/v1/"+escape(img.Repository)+"/_manifests/"+url.PathEscape(img.Digest), nil, body, &out)
		return out.Manifest, err
	}
	var out struct{ Tag Object }
	_, err = d.do(ctx, http.MethodPatch, "/acr/v1/"+escape(img.Repository)+"/_tags/"+url.PathEscape(img.Tag), nil, body, &out)
	return out.Tag, err
}

func nonNilList(s []any) []any {
	if s == nil {
		return []any{}
	}
	return s
}
