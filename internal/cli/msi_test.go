package cli

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeToken is a JWT-shaped token in tenant tid; nothing verifies it here.
func fakeToken(tid string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"tid":"`+tid+`"}`)) + ".sig"
}

// TestMSIEndpointForms checks each way the environment names the
// metadata endpoint, and how each names the identity.
func TestMSIEndpointForms(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got = r
		if r.Form.Get("client_id") == "by-object" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_request","error_description":"Identity not found"}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"expires_on":"4102444800","expires_in":"86399","resource":%q,"token_type":"Bearer"}`, fakeToken("t1"), r.Form.Get("resource"))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name              string
		env               map[string]string
		method, path, hdr string
		mi                ManagedIdentity
		param             string
	}{
		{"imds", map[string]string{"BERTH_IMDS_ENDPOINT": srv.URL}, "GET", "/metadata/identity/oauth2/token", "Metadata",
			ManagedIdentity{"client_id", "c1"}, "client_id"},
		{"app service", map[string]string{"IDENTITY_ENDPOINT": srv.URL + "/msi/token", "IDENTITY_HEADER": "h1"}, "GET", "/msi/token", "X-Identity-Header",
			ManagedIdentity{"msi_res_id", "/subscriptions/s/x"}, "mi_res_id"},
		{"cloud shell", map[string]string{"MSI_ENDPOINT": srv.URL + "/oauth2/token"}, "POST", "/oauth2/token", "Metadata",
			ManagedIdentity{"object_id", "o1"}, "object_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"BERTH_IMDS_ENDPOINT", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT"} {
				t.Setenv(k, tc.env[k])
			}
			tok, err := fetchMSIToken(t.Context(), tc.mi, ManagementResource)
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != tc.method || got.URL.Path != tc.path || got.Header.Get(tc.hdr) == "" ||
				got.Form.Get(tc.param) != tc.mi.ID || got.Form.Get("resource") != ManagementResource {
				t.Errorf("request %s %s %v %v", got.Method, got.URL.Path, got.Header, got.Form)
			}
			if tok.ExpiresOn.Unix() != 4102444800 {
				t.Errorf("expires on %v", tok.ExpiresOn)
			}
		})
	}

	// --username: a client id first, then the same id as an object id.
	t.Setenv("BERTH_IMDS_ENDPOINT", srv.URL)
	p := &Profile{}
	if err := loginIdentity(t.Context(), p, "by-object"); err != nil {
		t.Fatal(err)
	}
	if *p.ManagedIdentity != (ManagedIdentity{"object_id", "by-object"}) || p.TenantID != "t1" ||
		p.User != (User{AssignedIdentityInfo: "MSIObject-by-object", Name: "userAssignedIdentity", Type: "servicePrincipal"}) {
		t.Errorf("login %+v %+v", p.ManagedIdentity, p)
	}
	if c := identityCandidates("/subscriptions/S/resourceGroups/G/providers/Microsoft.ManagedIdentity/userAssignedIdentities/I"); len(c) != 1 || c[0].Param != "msi_res_id" {
		t.Errorf("a resource id is tried as %v", c)
	}
}

func TestMSIErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_request","error_description":"Identity not found"}`)
	}))
	defer srv.Close()
	t.Setenv("BERTH_IMDS_ENDPOINT", srv.URL)
	if err := loginIdentity(t.Context(), &Profile{}, ""); err == nil || !strings.Contains(err.Error(), "no managed identity") {
		t.Errorf("a machine without identities: %v", err)
	}
	if err := loginIdentity(t.Context(), &Profile{}, "c1"); err == nil || !strings.Contains(err.Error(), "no managed identity c1") {
		t.Errorf("an identity not assigned: %v", err)
	}
	srv.Close()
	if _, err := fetchMSIToken(t.Context(), ManagedIdentity{}, ManagementResource); err == nil || !strings.Contains(err.Error(), "BERTH_IMDS_ENDPOINT") {
		t.Errorf("no endpoint: %v", err)
	}
}
