package ociapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/oci"
)

// pushImage pushes a one-layer image under tag and returns its digest.
func (e *env) pushImage(repo, tag, layer string) oci.Digest {
	e.t.Helper()
	cfg, l := e.pushBlob(repo, []byte("{}")), e.pushBlob(repo, []byte(layer))
	m := imageManifest(cfg, l, 2, len(layer))
	wantCode(e.t, e.do("PUT", "/v2/"+repo+"/manifests/"+tag, m, "Content-Type", oci.MediaTypeImageManifest), http.StatusCreated, "")
	return oci.FromBytes(oci.SHA256, m)
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %d %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, b)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMetadataAPI(t *testing.T) {
	e := newEnv(t)
	v1 := e.pushImage("team/app", "v1", "one")
	v2 := e.pushImage("team/app", "v2", "two")

	// The cloud's SDK escapes the slash in names.
	repo := decode(t, e.do("GET", "/acr/v1/team%2Fapp", nil))
	if repo["imageName"] != "team/app" || repo["manifestCount"] != 2.0 || repo["tagCount"] != 2.0 || repo["createdTime"] == "" {
		t.Fatalf("repository = %v", repo)
	}
	tags := decode(t, e.do("GET", "/acr/v1/team/app/_tags?orderby=timedesc&n=1", nil))
	list := tags["tags"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "v2" {
		t.Fatalf("newest tag = %v", tags)
	}
	next := e.do("GET", "/acr/v1/team/app/_tags?orderby=timedesc&n=1", nil).Header.Get("Link")
	if !strings.Contains(next, "last=v2") || !strings.Contains(next, "orderby=timedesc") {
		t.Fatalf("Link = %q", next)
	}
	tag := decode(t, e.do("GET", "/acr/v1/team/app/_tags/v1", nil))["tag"].(map[string]any)
	if tag["digest"] != v1.String() || tag["changeableAttributes"].(map[string]any)["writeEnabled"] != true {
		t.Fatalf("tag v1 = %v", tag)
	}
	m := decode(t, e.do("GET", "/acr/v1/team/app/_manifests/"+v2.String(), nil))["manifest"].(map[string]any)
	if m["tags"].([]any)[0] != "v2" || m["imageSize"].(float64) <= 3 {
		t.Fatalf("manifest v2 = %v", m)
	}

	// Lock v1: it refuses being pushed over and deleted, on both APIs.
	locked := decode(t, e.do("PATCH", "/acr/v1/team/app/_tags/v1", []byte(`{"writeEnabled":false}`)))
	if locked["tag"].(map[string]any)["changeableAttributes"].(map[string]any)["writeEnabled"] != false {
		t.Fatalf("locked tag = %v", locked)
	}
	cfg, l := e.pushBlob("team/app", []byte("{}")), e.pushBlob("team/app", []byte("three"))
	wantCode(t, e.do("PUT", "/v2/team/app/manifests/v1", imageManifest(cfg, l, 2, 5), "Content-Type", oci.MediaTypeImageManifest),
		http.StatusMethodNotAllowed, "REGISTRY_DISALLOWED_OPERATION")
	wantCode(t, e.do("DELETE", "/v2/team/app/manifests/v1", nil), http.StatusMethodNotAllowed, "REGISTRY_DISALLOWED_OPERATION")
	wantCode(t, e.do("DELETE", "/v2/team/app/manifests/"+v1.String(), nil), http.StatusMethodNotAllowed, "REGISTRY_DISALLOWED_OPERATION")
	wantCode(t, e.do("DELETE", "/acr/v1/team/app/_tags/v1", nil), http.StatusMethodNotAllowed, "REGISTRY_DISALLOWED_OPERATION")
	wantCode(t, e.do("DELETE", "/acr/v1/team/app", nil), http.StatusMethodNotAllowed, "REGISTRY_DISALLOWED_OPERATION")
	if got := decode(t, e.do("GET", "/acr/v1/team/app/_tags/v1", nil))["tag"].(map[string]any)["digest"]; got != v1.String() {
		t.Fatalf("refused writes moved v1 to %v", got)
	}

	// Unlisted tags leave listings only.
	decode(t, e.do("PATCH", "/acr/v1/team/app/_tags/v2", []byte(`{"listEnabled":false}`)))
	if list := decode(t, e.do("GET", "/acr/v1/team/app/_tags", nil))["tags"].([]any); len(list) != 1 {
		t.Fatalf("listing shows an unlisted tag: %v", list)
	}
	decode(t, e.do("GET", "/acr/v1/team/app/_tags/v2", nil))

	// Bad input: a clear error, nothing changed.
	for _, c := range []struct{ method, path, body, code string }{
		{"PATCH", "/acr/v1/team/app/_tags/v1", `{"writeEnabled":"yes"}`, "UNSUPPORTED"},
		{"PATCH", "/acr/v1/team/app/_tags/v1", `{"writeEnabled":null}`, "UNSUPPORTED"},
		{"PATCH", "/acr/v1/team/app/_tags/v1", `{"writeEnabled":true,"teleport":1}`, "UNSUPPORTED"},
		{"PATCH", "/acr/v1/team/app", `[true]`, "UNSUPPORTED"},
		{"GET", "/acr/v1/team/app/_tags?orderby=sideways", "", "UNSUPPORTED"},
		{"GET", "/acr/v1/team/app/_manifests?n=-1", "", "PAGINATION_NUMBER_INVALID"},
		{"GET", "/acr/v1/team/app/_manifests/sha256:nope", "", "DIGEST_INVALID"},
		{"GET", "/acr/v1/Team/app", "", "NAME_INVALID"},
		{"GET", "/acr/v1/team/app/_tags/a%2Fb", "", "TAG_INVALID"},
	} {
		resp := e.do(c.method, c.path, []byte(c.body))
		wantCode(t, resp, http.StatusBadRequest, c.code)
	}
	if tag := decode(t, e.do("GET", "/acr/v1/team/app/_tags/v1", nil))["tag"].(map[string]any); tag["changeableAttributes"].(map[string]any)["writeEnabled"] != false {
		t.Fatalf("bad input changed v1: %v", tag)
	}
	wantCode(t, e.do("GET", "/acr/v1/none", nil), http.StatusNotFound, "NAME_UNKNOWN")
	wantCode(t, e.do("GET", "/acr/v1/team/app/_tags/none", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	wantCode(t, e.do("PUT", "/acr/v1/team/app", nil), http.StatusMethodNotAllowed, "UNSUPPORTED")

	// Unlocked, the repository goes with everything in it.
	decode(t, e.do("PATCH", "/acr/v1/team/app/_tags/v1", []byte(`{"writeEnabled":true}`)))
	gone := decode(t, e.do("DELETE", "/acr/v1/team/app", nil))
	if len(gone["manifestsDeleted"].([]any)) != 2 || len(gone["tagsDeleted"].([]any)) != 2 {
		t.Fatalf("deleted = %v", gone)
	}
	if strings.Contains(e.catalog(), "team/app") {
		t.Fatalf("catalog still lists the deleted repository: %s", e.catalog())
	}
	wantCode(t, e.do("DELETE", "/acr/v1/team/app", nil), http.StatusNotFound, "NAME_UNKNOWN")
}
