package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestAzidentityGetsVerifiableToken: the cloud SDK's client secret
// credential, pointed at berth as its authority, gets a token; a standard
// OIDC verifier checks it from discovery and the published keys alone.
func TestAzidentityGetsVerifiableToken(t *testing.T) {
	s := berthtest.Start(t)
	ctx := context.Background()
	client := s.Client()
	opts := &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloudAt(s),
			Transport: client,
		},
		DisableInstanceDiscovery: true,
	}
	cred, err := azidentity.NewClientSecretCredential(s.Boot.TenantID, s.Boot.ClientID, s.Boot.ClientSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, scope := range []string{"https://management.core.windows.net//.default", "https://containerregistry.azure.net/.default"} {
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
		if err != nil {
			t.Fatalf("GetToken(%s): %v", scope, err)
		}
		// v1 tokens (the management and registry resources take v1) name
		// the v1 issuer, whose discovery document lists the keys.
		provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), s.URL+"/"+s.Boot.TenantID+"/")
		if err != nil {
			t.Fatal(err)
		}
		aud := strings.TrimSuffix(scope, "/.default")
		idt, err := provider.Verifier(&oidc.Config{ClientID: aud}).Verify(oidc.ClientContext(ctx, client), tok.Token)
		if err != nil {
			t.Fatalf("token for %s does not verify: %v", scope, err)
		}
		var claims struct {
			Tid, Appid, Appidacr, Ver, Idtyp, Oid string
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if claims.Tid != s.Boot.TenantID || claims.Appid != s.Boot.ClientID || claims.Appidacr != "1" || claims.Ver != "1.0" || claims.Idtyp != "app" || claims.Oid == "" {
			t.Errorf("claims %+v", claims)
		}
	}
}

func cloudAt(s *berthtest.Server) cloud.Configuration {
	return cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL + "/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}
}

// tokenError posts a token request and decodes the error answer.
func tokenError(t *testing.T, s *berthtest.Server, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := s.Client().PostForm(s.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s: not JSON: %s", path, b)
	}
	return resp.StatusCode, body
}

func TestTokenErrors(t *testing.T) {
	s := berthtest.Start(t)
	tid := s.Boot.TenantID
	good := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {s.Boot.ClientID}, "client_secret": {s.Boot.ClientSecret},
		"scope": {"https://management.azure.com/.default"},
	}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range good {
			f[key] = vals
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	cases := []struct {
		name   string
		path   string
		form   url.Values
		status int
		err    string
		code   float64
	}{
		{"unknown tenant", "/00000000-0000-0000-0000-000000000001/oauth2/v2.0/token", good, 400, "invalid_request", 90002},
		{"unknown application", "/" + tid + "/oauth2/v2.0/token", with("client_id", "11111111-1111-1111-1111-111111111111"), 400, "unauthorized_client", 700016},
		{"wrong secret", "/" + tid + "/oauth2/v2.0/token", with("client_secret", "not-the-secret"), 401, "invalid_client", 7000215},
		{"unknown resource", "/" + tid + "/oauth2/v2.0/token", with("scope", "https://unknown.example/.default"), 400, "invalid_resource", 500011},
		{"two resources", "/" + tid + "/oauth2/v2.0/token", with("scope", "https://management.azure.com/.default https://graph.microsoft.com/.default"), 400, "invalid_scope", 700022},
		{"scope without .default", "/" + tid + "/oauth2/v2.0/token", with("scope", "https://management.azure.com/user_impersonation"), 400, "invalid_scope", 70011},
		{"no grant type", "/" + tid + "/oauth2/v2.0/token", with("grant_type", ""), 400, "invalid_request", 900144},
		{"other grant type", "/" + tid + "/oauth2/v2.0/token", with("grant_type", "password"), 400, "unsupported_grant_type", 70003},
		{"v1 without resource", "/" + tid + "/oauth2/token", with("scope", ""), 400, "invalid_request", 900144},
	}
	for _, c := range cases {
		status, body := tokenError(t, s, c.path, c.form)
		codes, _ := body["error_codes"].([]any)
		desc, _ := body["error_description"].(string)
		if status != c.status || body["error"] != c.err || len(codes) != 1 || codes[0] != c.code ||
			!strings.HasPrefix(desc, "AADSTS") || !strings.Contains(desc, "\r\nTrace ID: ") || body["trace_id"] == nil || body["correlation_id"] == nil {
			t.Errorf("%s: %d %v", c.name, status, body)
		}
		if strings.Contains(desc, s.Boot.ClientSecret) {
			t.Errorf("%s: the error repeats the secret", c.name)
		}
	}
}

func TestTokenV1AndDiscovery(t *testing.T) {
	s := berthtest.Start(t)
	tid := s.Boot.TenantID
	resp, err := s.Client().PostForm(s.URL+"/"+tid+"/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {s.Boot.ClientID}, "client_secret": {s.Boot.ClientSecret},
		"resource": {"https://management.core.windows.net/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var v1 map[string]any
	json.NewDecoder(resp.Body).Decode(&v1)
	resp.Body.Close()
	for _, k := range []string{"token_type", "expires_in", "ext_expires_in", "expires_on", "not_before", "resource", "access_token"} {
		if _, ok := v1[k].(string); !ok {
			t.Errorf("v1 field %s = %#v, want a string", k, v1[k])
		}
	}
	if v1["resource"] != "https://management.core.windows.net/" {
		t.Errorf("resource %v", v1["resource"])
	}
	parts := strings.Split(v1["access_token"].(string), ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h map[string]string
	json.Unmarshal(hdr, &h)
	if h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] == "" || h["x5t"] != h["kid"] {
		t.Errorf("v1 header %v", h)
	}
	// Discovery by tenant id, and the multi-tenant form.
	var commonDoc map[string]any
	getJSON(t, s, "/common/v2.0/.well-known/openid-configuration", &commonDoc)
	if commonDoc["issuer"] != s.URL+"/{tenantid}/v2.0" {
		t.Errorf("common issuer %v", commonDoc["issuer"])
	}
	var idDoc map[string]any
	getJSON(t, s, "/"+tid+"/v2.0/.well-known/openid-configuration", &idDoc)
	if idDoc["issuer"] != s.URL+"/"+tid+"/v2.0" || idDoc["jwks_uri"] != s.URL+"/"+tid+"/discovery/v2.0/keys" {
		t.Errorf("v2 discovery %v", idDoc)
	}
	var inst map[string]any
	getJSON(t, s, "/common/discovery/instance?api-version=1.1&authorization_endpoint="+url.QueryEscape(s.URL+"/"+tid+"/oauth2/v2.0/authorize"), &inst)
	if inst["tenant_discovery_endpoint"] != s.URL+"/"+tid+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("instance discovery %v", inst)
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, s, "/common/discovery/keys", &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0]["kid"] != h["kid"] || jwks.Keys[0]["use"] != "sig" || jwks.Keys[0]["kty"] != "RSA" {
		t.Errorf("keys %v", jwks.Keys)
	}
}

func getJSON(t *testing.T, s *berthtest.Server, path string, v any) {
	t.Helper()
	resp, err := s.Client().Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
