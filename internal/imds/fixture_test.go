package imds

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

const (
	armAPI               = "?api-version=2022-04-01"
	managementRes        = "https://management.azure.com/"
	registryRes          = "https://containerregistry.azure.net"
	acrPullRoleDef       = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
	vmContributorRoleDef = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"
)

func TestMain(m *testing.M) {
	berthtest.Main(m)
}

// world is a berth server with a resource group for machines, driven
// through the management API as the bootstrap administrator.
type world struct {
	t     testing.TB
	s     *berthtest.Server
	token string
	group string
}

func newWorld(t testing.TB, s *berthtest.Server) *world {
	t.Helper()
	w := &world{t: t, s: s, group: "/subscriptions/" + s.Boot.SubscriptionID + "/resourceGroups/machines"}
	resp, err := s.Client().PostForm(s.URL+"/"+s.Boot.TenantID+"/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {s.Boot.ClientID}, "client_secret": {s.Boot.ClientSecret},
		"resource": {"https://management.core.windows.net/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body.AccessToken == "" {
		t.Fatalf("management token: %d", resp.StatusCode)
	}
	w.token = body.AccessToken
	w.arm("PUT", w.group, `{"location":"local"}`)
	return w
}

// arm calls the management API and decodes the answer; anything but a
// 2xx fails the test.
func (w *world) arm(method, path, body string) map[string]any {
	w.t.Helper()
	req, err := http.NewRequest(method, w.s.URL+path+armAPI, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+w.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.s.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		w.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	var v map[string]any
	json.Unmarshal(b, &v)
	return v
}

// userIdentity is a user-assigned identity: its resource id, client id
// and principal (object) id.
type userIdentity struct{ ID, ClientID, PrincipalID string }

func (w *world) identity(name string) userIdentity {
	w.t.Helper()
	v := w.arm("PUT", w.group+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"+name, `{"location":"local"}`)
	p := v["properties"].(map[string]any)
	return userIdentity{ID: v["id"].(string), ClientID: p["clientId"].(string), PrincipalID: p["principalId"].(string)}
}

// vm creates (or updates) a virtual machine with an identity block and
// returns its resource id and system-assigned principal id ("" if none).
func (w *world) vm(name, identity string) (id, principal string) {
	w.t.Helper()
	v := w.arm("PUT", w.group+"/providers/Microsoft.Compute/virtualMachines/"+name, `{"location":"local","identity":`+identity+`}`)
	if ident, ok := v["identity"].(map[string]any); ok {
		principal, _ = ident["principalId"].(string)
	}
	return v["id"].(string), principal
}

// credential is what berth vm create writes for the machine.
func (w *world) credential(vm string) *CredentialFile {
	w.t.Helper()
	v := w.arm("POST", vm+"/generateMachineCredential", "")
	b, _ := json.Marshal(v)
	var c CredentialFile
	if err := json.Unmarshal(b, &c); err != nil {
		w.t.Fatal(err)
	}
	ca, err := os.ReadFile(w.s.CAFile)
	if err != nil {
		w.t.Fatal(err)
	}
	c.Server, c.CA = w.s.URL, string(ca)
	return &c
}

// grantPull gives a principal AcrPull on the default registry.
func (w *world) grantPull(principal, assignment string) {
	w.t.Helper()
	sub := w.s.Boot.SubscriptionID
	acr := "/subscriptions/" + sub + "/resourceGroups/berth/providers/Microsoft.ContainerRegistry/registries/" + w.s.Boot.Registry
	w.arm("PUT", acr+"/providers/Microsoft.Authorization/roleAssignments/"+assignment,
		`{"properties":{"roleDefinitionId":"/subscriptions/`+sub+`/providers/Microsoft.Authorization/roleDefinitions/`+acrPullRoleDef+`","principalId":"`+principal+`","principalType":"ServicePrincipal"}}`)
}

// push puts a one-layer image into the default registry with the
// administrator's Basic credentials.
func (w *world) push(repo string) {
	w.t.Helper()
	ctx := context.Background()
	put := func(path string, body []byte, ctype string) {
		w.t.Helper()
		resp, err := w.s.Do(ctx, "PUT", path, bytes.NewReader(body), http.Header{"Content-Type": {ctype}})
		if err != nil {
			w.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			w.t.Fatalf("PUT %s: %d", path, resp.StatusCode)
		}
	}
	digest := func(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }
	config, layer := []byte(`{}`), []byte("layer")
	for _, b := range [][]byte{config, layer} {
		resp, err := w.s.Do(ctx, "POST", "/v2/"+repo+"/blobs/uploads/", nil, nil)
		if err != nil {
			w.t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		put(strings.TrimPrefix(loc, w.s.URL)+sep+"digest="+digest(b), b, "application/octet-stream")
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest(config), len(config), digest(layer), len(layer))
	put("/v2/"+repo+"/manifests/v1", []byte(manifest), "application/vnd.oci.image.manifest.v1+json")
}

// claims verifies a token berth issued against its published keys and
// returns its claims.
func (w *world) claims(token string) map[string]any {
	w.t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		w.t.Fatalf("not a JWT: %d parts", len(parts))
	}
	var h struct{ Alg, Kid string }
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	json.Unmarshal(hb, &h)
	resp, err := w.s.Client().Get(w.s.URL + "/common/discovery/keys")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var jwks struct {
		Keys []struct{ Kid, N, E string }
	}
	json.NewDecoder(resp.Body).Decode(&jwks)
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	verified := false
	for _, k := range jwks.Keys {
		if k.Kid != h.Kid {
			continue
		}
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		verified = h.Alg == "RS256" && rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
	}
	if !verified {
		w.t.Fatalf("the token does not verify with berth's published keys (alg %s, kid %s)", h.Alg, h.Kid)
	}
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	json.Unmarshal(cb, &c)
	return c
}

// countingTransport counts the agent's calls to the token service.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// agentFor runs an agent for a machine credential in this process.
func agentFor(t testing.TB, cred *CredentialFile, identityHeader string) (*Agent, *countingTransport, *httptest.Server) {
	t.Helper()
	a, err := NewAgent(cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct := &countingTransport{next: a.client.Transport}
	a.client.Transport = ct
	srv := httptest.NewServer(Handler(a, identityHeader))
	t.Cleanup(srv.Close)
	return a, ct, srv
}

// answer is an HTTP answer of the agent, decoded.
type answer struct {
	status int
	ctype  string
	body   map[string]any
	raw    string
}

func get(t *testing.T, target string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest("GET", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), raw: string(b)}
	json.Unmarshal(b, &a.body)
	return a
}

var metadata = map[string]string{"Metadata": "true"}

func tokenURL(base, resource string, extra ...string) string {
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {resource}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return base + TokenPath + "?" + q.Encode()
}
