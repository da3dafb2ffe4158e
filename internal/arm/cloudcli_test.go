package arm

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEndpointsAsTheCLIAsks: the cloud's CLI joins its management URL,
// which ends in a slash, to the metadata path; berth's own address names
// the directory API (the token service takes it as that resource), and
// reached as the public cloud's management host berth names the cloud's
// other hosts.
func TestEndpointsAsTheCLIAsks(t *testing.T) {
	f := newFixture(t)
	e := f.do("", "GET", "//metadata/endpoints?api-version=2015-01-01", "")
	if e.status != 200 || e.get("authentication.loginEndpoint") != "http://example.com/" || e.get("graphEndpoint") != "http://example.com/" {
		t.Fatalf("//metadata/endpoints: %d %s", e.status, e.raw)
	}
	e = f.do("", "GET", "/metadata/endpoints?api-version=2019-05-01", "")
	if !strings.Contains(e.raw, `"microsoftGraphResourceId":"http://example.com/"`) {
		t.Fatalf("list form: %s", e.raw)
	}

	r := httptest.NewRequest("GET", "https://management.azure.com/metadata/endpoints?api-version=2019-05-01", nil)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	for _, want := range []string{`"resourceManager":"https://management.azure.com/"`, `"microsoftGraphResourceId":"https://graph.microsoft.com/"`, `"loginEndpoint":"https://login.microsoftonline.com/"`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Fatalf("as management.azure.com, want %s: %s", want, w.Body.String())
		}
	}
}

// TestLoginServerFollowsSettings: a registry's loginServer is what the
// server's settings make it now, with the port clients reach berth at,
// also for a registry made before.
func TestLoginServerFollowsSettings(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	if a := f.do("owner", "PUT", registry+api, `{}`); a.status != 201 || a.get("properties.loginServer") != "myregistry.cr.test" {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	f.h.Service.LoginServerPort = "8443"
	if a := f.do("reader", "GET", registry+api, ""); a.get("properties.loginServer") != "myregistry.cr.test:8443" || a.get("properties.adminUserEnabled") != false {
		t.Fatalf("get with a port: %s", a.raw)
	}
	if vs := f.do("reader", "GET", group+"/providers/Microsoft.ContainerRegistry/registries"+api, "").values(); len(vs) != 1 || vs[0]["properties"].(map[string]any)["loginServer"] != "myregistry.cr.test:8443" {
		t.Fatalf("list with a port: %v", vs)
	}
}
