package ociapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/registry"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/testutil/stores"
)

// allowAll lets every request through: these tests are about the
// distribution surface, not about who may use it.
type allowAll struct{}

func (allowAll) Authorize(*http.Request, string, Access) error { return nil }

type env struct {
	t    *testing.T
	srv  *httptest.Server
	meta store.Store
}

// newEnv serves the handler over real SQLite and filesystem stores.
func newEnv(t *testing.T) *env {
	meta, blobs := stores.New(t)
	h := &Handler{
		Service:     registry.New(meta, blobs),
		Auth:        allowAll{},
		RegistryFor: func(*http.Request) (string, error) { return stores.Registry, nil },
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, meta: meta}
}

func (e *env) do(method, path string, body []byte, hdr ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body == nil {
		req.Body = nil
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// wantCode checks the status and the OCI error code of a response.
func wantCode(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, b)
	}
	if code == "" {
		return
	}
	var body errorBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("%s %s: not an OCI error body: %v", resp.Request.Method, resp.Request.URL.Path, err)
	}
	if body.Errors[0].Code != code {
		t.Fatalf("%s %s: code %s, want %s (%s)", resp.Request.Method, resp.Request.URL.Path, body.Errors[0].Code, code, body.Errors[0].Message)
	}
}

func (e *env) pushBlob(repo string, content []byte) oci.Digest {
	e.t.Helper()
	d := oci.FromBytes(oci.SHA256, content)
	wantCode(e.t, e.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), content), http.StatusCreated, "")
	return d
}

func (e *env) catalog() string {
	e.t.Helper()
	b, _ := io.ReadAll(e.do("GET", "/v2/_catalog", nil).Body)
	return string(b)
}

func imageManifest(cfg, layer oci.Digest, cfgSize, layerSize int) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfg.String() + `","size":` + itoa(cfgSize) + `},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + layer.String() + `","size":` + itoa(layerSize) + `}]}`)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	before := e.catalog()
	good := "sha256:" + strings.Repeat("a", 64)
	cases := []struct {
		name, method, path string
		body               []byte
		status             int
		code               string
	}{
		{"upper-case name", "POST", "/v2/Library/x/blobs/uploads/", nil, 400, "NAME_INVALID"},
		{"dot-dot component", "POST", "/v2/a/../b/blobs/uploads/", nil, 400, "NAME_INVALID"},
		{"encoded dot-dot", "GET", "/v2/a/%2e%2e/b/manifests/latest", nil, 400, "NAME_INVALID"},
		{"encoded slash around dot-dot", "GET", "/v2/a%2f..%2fb/manifests/latest", nil, 400, "NAME_INVALID"},
		{"encoded empty component", "GET", "/v2/a%2f%2fb/manifests/latest", nil, 400, "NAME_INVALID"},
		{"empty component", "GET", "/v2/a//b/manifests/latest", nil, 400, "NAME_INVALID"},
		{"trailing separator", "GET", "/v2/a-/manifests/latest", nil, 400, "NAME_INVALID"},
		{"name too long", "GET", "/v2/" + strings.Repeat("a", 256) + "/tags/list", nil, 400, "NAME_INVALID"},
		{"invalid digest", "GET", "/v2/a/blobs/sha256:xyz", nil, 400, "DIGEST_INVALID"},
		{"upper-case hex", "GET", "/v2/a/blobs/sha256:" + strings.Repeat("A", 64), nil, 400, "DIGEST_INVALID"},
		{"unknown algorithm", "GET", "/v2/a/blobs/md5:" + strings.Repeat("a", 32), nil, 400, "DIGEST_INVALID"},
		{"digest as path trick", "GET", "/v2/a/blobs/sha256:..%2f..%2fetc", nil, 400, "DIGEST_INVALID"},
		{"invalid tag", "PUT", "/v2/a/manifests/-bad", []byte("{}"), 400, "TAG_INVALID"},
		{"monolithic digest mismatch", "POST", "/v2/a/blobs/uploads/?digest=" + good, []byte("not a"), 400, "DIGEST_INVALID"},
		{"unknown upload", "PATCH", "/v2/a/blobs/uploads/" + strings.Repeat("0", 32), []byte("x"), 404, "BLOB_UPLOAD_UNKNOWN"},
		{"upload id path trick", "PATCH", "/v2/a/blobs/uploads/..%2f..%2fblobs", []byte("x"), 404, "BLOB_UPLOAD_UNKNOWN"},
		{"malformed manifest", "PUT", "/v2/a/manifests/v1", []byte("{not json"), 400, "MANIFEST_INVALID"},
		{"manifest of wrong shape", "PUT", "/v2/a/manifests/v1", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`), 400, "MANIFEST_INVALID"},
		{"manifest over 4 MiB", "PUT", "/v2/a/manifests/v1", bytes.Repeat([]byte(" "), oci.MaxManifestSize+1), 413, "SIZE_INVALID"},
		{"manifest naming missing blobs", "PUT", "/v2/a/manifests/v1", imageManifest(oci.FromBytes(oci.SHA256, []byte("c")), oci.FromBytes(oci.SHA256, []byte("l")), 1, 1), 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest digest mismatch", "PUT", "/v2/a/manifests/" + good, imageManifest(oci.FromBytes(oci.SHA256, []byte("c")), oci.FromBytes(oci.SHA256, []byte("l")), 1, 1), 400, "DIGEST_INVALID"},
		{"bad pagination", "GET", "/v2/_catalog?n=-1", nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"unknown method", "POST", "/v2/a/manifests/v1", nil, 405, "UNSUPPORTED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, e.do(c.method, c.path, c.body, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), c.status, c.code)
		})
	}
	// Some of the requests above created repositories on the way (an
	// upload session does); none may have left content behind.
	if after := e.catalog(); after != before {
		t.Errorf("catalog changed from %s to %s", before, after)
	}
	if recs, err := e.meta.ListBlobs(context.Background(), "", 10); err != nil || len(recs) != 0 {
		t.Errorf("bad input left blob records %v (%v)", recs, err)
	}
	if ms, err := e.meta.ListManifests(context.Background(), store.ManifestCursor{}, 10); err != nil || len(ms) != 0 {
		t.Errorf("bad input left manifests %v (%v)", ms, err)
	}
}

func TestChunkedUploadResumeAndBadRange(t *testing.T) {
	e := newEnv(t)
	content := bytes.Repeat([]byte("berth!"), 50_000)
	d := oci.FromBytes(oci.SHA256, content)
	resp := e.do("POST", "/v2/x/y/blobs/uploads/", nil)
	wantCode(t, resp, http.StatusAccepted, "")
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/v2/x/y/blobs/uploads/") {
		t.Fatalf("Location %q", loc)
	}
	resp = e.do("PATCH", loc, content[:1000], "Content-Range", "0-999", "Content-Type", "application/octet-stream")
	wantCode(t, resp, http.StatusAccepted, "")
	if got := resp.Header.Get("Range"); got != "0-999" {
		t.Fatalf("Range after first chunk = %q", got)
	}
	// A chunk that does not continue where the upload ends is refused
	// with 416 and the real position, and changes nothing.
	resp = e.do("PATCH", loc, content[2000:3000], "Content-Range", "2000-2999")
	wantCode(t, resp, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
	if got := resp.Header.Get("Range"); got != "0-999" {
		t.Fatalf("Range after bad chunk = %q", got)
	}
	resp = e.do("PATCH", loc, content[1000:1010], "Content-Range", "1000-1999")
	wantCode(t, resp, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
	// The client asks where it stands and resumes from there.
	resp = e.do("GET", loc, nil)
	wantCode(t, resp, http.StatusNoContent, "")
	if got := resp.Header.Get("Range"); got != "0-999" {
		t.Fatalf("status Range = %q", got)
	}
	resp = e.do("PATCH", loc, content[1000:], "Content-Range", "1000-"+itoa(len(content)-1))
	wantCode(t, resp, http.StatusAccepted, "")
	resp = e.do("PUT", loc+"?digest="+oci.FromBytes(oci.SHA256, []byte("other")).String(), nil)
	wantCode(t, resp, http.StatusBadRequest, "DIGEST_INVALID")
	if r := e.do("HEAD", "/v2/x/y/blobs/"+oci.FromBytes(oci.SHA256, []byte("other")).String(), nil); r.StatusCode != 404 {
		t.Fatalf("mismatched content visible: %d", r.StatusCode)
	}
	resp = e.do("PUT", loc+"?digest="+d.String(), nil)
	wantCode(t, resp, http.StatusCreated, "")
	resp = e.do("GET", "/v2/x/y/blobs/"+d.String(), nil)
	got, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(got, content) || resp.Header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("pulled %d bytes, digest header %q", len(got), resp.Header.Get("Docker-Content-Digest"))
	}
	resp = e.do("GET", "/v2/x/y/blobs/"+d.String(), nil, "Range", "bytes=10-19")
	got, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, content[10:20]) {
		t.Fatalf("range GET: %d %q", resp.StatusCode, got)
	}
	// The session is gone once committed.
	wantCode(t, e.do("GET", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
}

func TestManifestLifecycleAndReferrers(t *testing.T) {
	e := newEnv(t)
	cfg := e.pushBlob("app", []byte("{}"))
	layer := e.pushBlob("app", []byte("layer"))
	m := imageManifest(cfg, layer, 2, 5)
	resp := e.do("PUT", "/v2/app/manifests/v1", m, "Content-Type", oci.MediaTypeImageManifest)
	wantCode(t, resp, http.StatusCreated, "")
	md := oci.FromBytes(oci.SHA256, m)
	if resp.Header.Get("Docker-Content-Digest") != md.String() {
		t.Fatalf("digest header %q", resp.Header.Get("Docker-Content-Digest"))
	}
	sig := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + cfg.String() + `","size":2},` +
		`"layers":[{"mediaType":"application/octet-stream","digest":"` + layer.String() + `","size":5}],` +
		`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + md.String() + `","size":` + itoa(len(m)) + `},` +
		`"annotations":{"org.example":"yes"}}`)
	sd := oci.FromBytes(oci.SHA256, sig)
	resp = e.do("PUT", "/v2/app/manifests/"+sd.String(), sig, "Content-Type", oci.MediaTypeImageManifest)
	wantCode(t, resp, http.StatusCreated, "")
	if resp.Header.Get("OCI-Subject") != md.String() {
		t.Fatalf("OCI-Subject = %q", resp.Header.Get("OCI-Subject"))
	}
	resp = e.do("GET", "/v2/app/referrers/"+md.String()+"?artifactType=application/vnd.example.sig", nil)
	var idx struct {
		Manifests []oci.Descriptor `json:"manifests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sd || idx.Manifests[0].ArtifactType != "application/vnd.example.sig" ||
		idx.Manifests[0].Annotations["org.example"] != "yes" || resp.Header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("referrers = %+v, filters %q", idx, resp.Header.Get("OCI-Filters-Applied"))
	}
	for i := 0; i < 5; i++ {
		wantCode(t, e.do("PUT", "/v2/app/manifests/t"+itoa(i), m, "Content-Type", oci.MediaTypeImageManifest), http.StatusCreated, "")
	}
	resp = e.do("GET", "/v2/app/tags/list?n=2&last=t1", nil)
	var tags struct {
		Tags []string `json:"tags"`
	}
	json.NewDecoder(resp.Body).Decode(&tags)
	if strings.Join(tags.Tags, ",") != "t2,t3" || !strings.Contains(resp.Header.Get("Link"), "last=t3") {
		t.Fatalf("tags page = %v, Link %q", tags.Tags, resp.Header.Get("Link"))
	}
	wantCode(t, e.do("DELETE", "/v2/app/manifests/t0", nil), http.StatusAccepted, "")
	wantCode(t, e.do("GET", "/v2/app/manifests/t0", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	wantCode(t, e.do("GET", "/v2/app/manifests/t1", nil), http.StatusOK, "")
	wantCode(t, e.do("DELETE", "/v2/app/manifests/"+md.String(), nil), http.StatusAccepted, "")
	wantCode(t, e.do("GET", "/v2/app/manifests/t1", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	// Mount into another repository, then delete the blob from the first.
	resp = e.do("POST", "/v2/other/blobs/uploads/?mount="+layer.String()+"&from=app", nil)
	wantCode(t, resp, http.StatusCreated, "")
	wantCode(t, e.do("DELETE", "/v2/app/blobs/"+layer.String(), nil), http.StatusAccepted, "")
	wantCode(t, e.do("HEAD", "/v2/app/blobs/"+layer.String(), nil), http.StatusNotFound, "")
	wantCode(t, e.do("HEAD", "/v2/other/blobs/"+layer.String(), nil), http.StatusOK, "")
	// A mount from a repository without the blob falls back to an upload.
	wantCode(t, e.do("POST", "/v2/third/blobs/uploads/?mount="+layer.String()+"&from=app", nil), http.StatusAccepted, "")
}

func TestParseRoutes(t *testing.T) {
	cases := map[string]route{
		"/v2/":                           {kind: "base"},
		"/v2/_catalog":                   {kind: "catalog"},
		"/acr/v1/_catalog":               {kind: "catalog"},
		"/v2/a/b/tags/list":              {kind: "tags", name: "a/b"},
		"/v2/blobs/manifests/x":          {kind: "manifest", name: "blobs", arg: "x"},
		"/v2/a/blobs/uploads/":           {kind: "uploads", name: "a"},
		"/v2/a/blobs/uploads":            {kind: "uploads", name: "a"},
		"/v2/a/blobs/uploads/id":         {kind: "upload", name: "a", arg: "id"},
		"/v2/manifests/blobs/sha256:1":   {kind: "blob", name: "manifests", arg: "sha256:1"},
		"/v2/x/referrers/sha256:2":       {kind: "referrers", name: "x", arg: "sha256:2"},
		"/v2/tags/list/manifests/latest": {kind: "manifest", name: "tags/list", arg: "latest"},
		"/v2/a%2Fb/manifests/v1":         {kind: "manifest", name: "a/b", arg: "v1"},
		"/v2/a/manifests/v1%2Fx":         {kind: "manifest", name: "a", arg: "v1%2Fx"},
	}
	for path, want := range cases {
		got, ok := parse(path)
		if !ok || got != want {
			t.Errorf("parse(%q) = %+v, %v; want %+v", path, got, ok, want)
		}
	}
	if _, ok := parse("/v2/a"); ok {
		t.Error("parse accepted a bare repository path")
	}
}
