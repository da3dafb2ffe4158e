package imds

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// checkToken gets a management token with the SDK's managed identity
// credential and checks it is the identity's, issued for this machine.
func checkToken(t *testing.T, w *world, cred azcore.TokenCredential, oid, mirid string) {
	t.Helper()
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{managementRes + ".default"}})
	if err != nil {
		t.Fatal(err)
	}
	c := w.claims(tok.Token)
	if c["oid"] != oid || !strings.EqualFold(c["xms_mirid"].(string), mirid) || time.Until(tok.ExpiresOn) < 50*time.Minute {
		t.Fatalf("token for %s: oid %v xms_mirid %v expires %s", mirid, c["oid"], c["xms_mirid"], tok.ExpiresOn)
	}
}

// pullManifest reads a manifest of the default registry with the
// registry SDK, which trades the credential's token for registry tokens.
// (The SDK's repository listing uses /acr/v1/_catalog, which berth does
// not serve yet.)
func pullManifest(t *testing.T, s *berthtest.Server, cred azcore.TokenCredential, repo, ref string, retry policy.RetryOptions) ([]byte, error) {
	t.Helper()
	client, err := azcontainerregistry.NewClient(s.URL, cred, &azcontainerregistry.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: s.Client(), Retry: retry}})
	if err != nil {
		t.Fatal(err)
	}
	accept := "application/vnd.oci.image.manifest.v1+json"
	resp, err := client.GetManifest(context.Background(), repo, ref, &azcontainerregistry.ClientGetManifestOptions{Accept: &accept})
	if err != nil {
		return nil, err
	}
	defer resp.ManifestData.Close()
	return io.ReadAll(resp.ManifestData)
}

// TestManagedIdentityCredential: the cloud SDK's managed identity
// credential, pointed at the agent the App Service way, gets tokens for
// the machine's system-assigned identity and for user-assigned ones by
// client id and by resource id; the registry SDK pulls with it once a
// role assignment lets the identity pull, and not before.
func TestManagedIdentityCredential(t *testing.T) {
	s := berthtest.Start(t)
	w := newWorld(t, s)
	builder, deployer := w.identity("builder"), w.identity("deployer")
	vm, system := w.vm("vm1", `{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+builder.ID+`":{},"`+deployer.ID+`":{}}}`)
	_, _, srv := agentFor(t, w.credential(vm), "the-identity-header")
	t.Setenv("IDENTITY_ENDPOINT", srv.URL+AppServicePath)
	t.Setenv("IDENTITY_HEADER", "the-identity-header")

	for _, c := range []struct {
		name       string
		id         azidentity.ManagedIDKind
		oid, mirid string
	}{
		{"system-assigned", nil, system, vm},
		{"by client id", azidentity.ClientID(builder.ClientID), builder.PrincipalID, builder.ID},
		{"by resource id", azidentity.ResourceID(deployer.ID), deployer.PrincipalID, deployer.ID},
	} {
		t.Run(c.name, func(t *testing.T) {
			cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: c.id})
			if err != nil {
				t.Fatal(err)
			}
			checkToken(t, w, cred, c.oid, c.mirid)
		})
	}

	// A one-segment name: the SDK escapes the slash of library/app
	// (%2F), which berth's registry does not take yet.
	w.push("app")
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(builder.ClientID)})
	if err != nil {
		t.Fatal(err)
	}
	var re *azcore.ResponseError
	// Without retries: the SDK retries a refused exchange for seconds.
	if _, err := pullManifest(t, s, cred, "app", "v1", policy.RetryOptions{MaxRetries: -1}); !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized && re.StatusCode != http.StatusForbidden {
		t.Fatalf("pull before any role assignment: %v", err)
	}
	w.grantPull(builder.PrincipalID, "5b0c6e8e-0000-4000-8000-000000000001")
	if m, err := pullManifest(t, s, cred, "app", "v1", policy.RetryOptions{}); err != nil || !strings.Contains(string(m), `"schemaVersion":2`) {
		t.Fatalf("pull with AcrPull: %v %s", err, m)
	}
}

// TestMetadataShapes: the IMDS answer has every value a string; the
// resource with and without its trailing slash is one cached token; the
// instance metadata comes from the credential file; the App Service and
// MSI_ENDPOINT forms answer in their own shapes.
func TestMetadataShapes(t *testing.T) {
	s := berthtest.Start(t)
	w := newWorld(t, s)
	vm, system := w.vm("shapes", `{"type":"SystemAssigned"}`)
	cred := w.credential(vm)
	_, calls, srv := agentFor(t, cred, "hdr")

	a := get(t, tokenURL(srv.URL, "https://management.azure.com/"), metadata)
	if a.status != 200 || a.ctype != "application/json; charset=utf-8" {
		t.Fatalf("token: %d %s", a.status, a.ctype)
	}
	for _, k := range []string{"access_token", "client_id", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type"} {
		if v, ok := a.body[k].(string); !ok || v == "" {
			t.Errorf("%s: %#v, want a string", k, a.body[k])
		}
	}
	if len(a.body) != 8 || a.body["token_type"] != "Bearer" || a.body["resource"] != "https://management.azure.com/" {
		t.Errorf("token answer: %v", a.body)
	}
	if c := w.claims(a.body["access_token"].(string)); c["oid"] != system || !strings.EqualFold(c["xms_mirid"].(string), vm) {
		t.Errorf("claims: %v", c)
	}
	b := get(t, tokenURL(srv.URL, "https://management.azure.com"), metadata)
	if b.status != 200 || b.body["access_token"] != a.body["access_token"] || b.body["resource"] != "https://management.azure.com" || calls.n.Load() != 1 {
		t.Fatalf("without the slash: %d, same token %v, %d calls to berth", b.status, b.body["access_token"] == a.body["access_token"], calls.n.Load())
	}

	inst := get(t, srv.URL+InstancePath+"?api-version=2021-02-01", metadata)
	compute, _ := inst.body["compute"].(map[string]any)
	if inst.status != 200 || compute["name"] != "shapes" || compute["resourceGroupName"] != "machines" || compute["subscriptionId"] != s.Boot.SubscriptionID ||
		compute["vmId"] != cred.VMID || compute["vmId"] == "" || compute["location"] != "local" || inst.body["network"] == nil {
		t.Fatalf("instance: %d %s", inst.status, inst.raw)
	}
	if c := get(t, srv.URL+InstancePath+"/compute?api-version=2021-02-01", metadata); c.status != 200 || c.body["resourceId"] != vm {
		t.Fatalf("instance/compute: %d %s", c.status, c.raw)
	}
	if c := get(t, srv.URL+InstancePath+"/compute?api-version=2021-02-01", nil); c.status != 400 {
		t.Fatalf("instance without the header: %d", c.status)
	}

	as := get(t, srv.URL+AppServicePath+"?api-version=2019-08-01&resource="+url.QueryEscape(registryRes), map[string]string{"X-IDENTITY-HEADER": "hdr"})
	if as.status != 200 || len(as.body) != 5 || as.body["token_type"] != "Bearer" || as.body["resource"] != registryRes || as.body["client_id"] == "" {
		t.Fatalf("App Service form: %d %s", as.status, as.raw)
	}
	if exp, _ := as.body["expires_on"].(string); exp == "" || strings.ContainsAny(exp, " /:") {
		t.Fatalf("App Service expires_on is seconds since the epoch, as a string: %#v", as.body["expires_on"])
	}
	for _, h := range []map[string]string{nil, {"X-IDENTITY-HEADER": "wrong"}, metadata} {
		if r := get(t, srv.URL+AppServicePath+"?api-version=2019-08-01&resource="+url.QueryEscape(registryRes), h); r.status != 400 {
			t.Errorf("App Service form with headers %v: %d", h, r.status)
		}
	}

	post := func(h map[string]string) answer {
		req, _ := http.NewRequest("POST", srv.URL+MSIPath, strings.NewReader("resource="+url.QueryEscape(managementRes)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		return do(t, req)
	}
	if m := post(metadata); m.status != 200 || m.body["access_token"] != a.body["access_token"] || m.body["expires_in"] == nil {
		t.Fatalf("MSI_ENDPOINT form: %d %s", m.status, m.raw)
	}
	if m := post(nil); m.status != 400 {
		t.Fatalf("MSI_ENDPOINT form without the header: %d", m.status)
	}
}

// TestAttacks: the agent gives a machine only the identities assigned to
// it, now; needs the Metadata header; refuses proxied requests.
func TestAttacks(t *testing.T) {
	s := berthtest.Start(t)
	w := newWorld(t, s)
	mine, stranger, theirs := w.identity("mine"), w.identity("stranger"), w.identity("theirs")
	vm1, _ := w.vm("vm1", `{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+mine.ID+`":{}}}`)
	vm2, vm2System := w.vm("vm2", `{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+theirs.ID+`":{}}}`)
	cred := w.credential(vm1)
	a, calls, srv := agentFor(t, cred, "")
	notFound := func(t *testing.T, r answer) {
		t.Helper()
		if r.status != 400 || r.raw != `{"error":"invalid_request","error_description":"Identity not found"}`+"\n" || r.ctype != "application/json; charset=utf-8" {
			t.Fatalf("got %d %q, want 400 Identity not found", r.status, r.raw)
		}
	}

	t.Run("identity not assigned", func(t *testing.T) {
		notFound(t, get(t, tokenURL(srv.URL, managementRes, "client_id", stranger.ClientID), metadata))
		notFound(t, get(t, tokenURL(srv.URL, managementRes, "object_id", stranger.PrincipalID), metadata))
		notFound(t, get(t, tokenURL(srv.URL, managementRes, "msi_res_id", stranger.ID), metadata))
		notFound(t, get(t, tokenURL(srv.URL, managementRes, "mi_res_id", stranger.ID), metadata))
	})
	t.Run("another machine's identities", func(t *testing.T) {
		notFound(t, get(t, tokenURL(srv.URL, managementRes, "object_id", vm2System), metadata))
		notFound(t, get(t, tokenURL(srv.URL, managementRes, "msi_res_id", vm2), metadata))
		notFound(t, get(t, tokenURL(srv.URL, managementRes, "client_id", theirs.ClientID), metadata))
		// A credential file naming the other machine, with this machine's
		// key: berth refuses the machine, and the agent says its own
		// credential is at fault.
		forged := *cred
		forged.ResourceID = vm2
		_, _, fsrv := agentFor(t, &forged, "")
		if r := get(t, tokenURL(fsrv.URL, managementRes), metadata); r.status != 500 || r.body["error"] != "invalid_client" {
			t.Fatalf("forged credential: %d %s", r.status, r.raw)
		}
	})
	t.Run("Metadata header", func(t *testing.T) {
		before := calls.n.Load()
		for _, h := range []map[string]string{nil, {"Metadata": "false"}} {
			r := get(t, tokenURL(srv.URL, managementRes), h)
			if r.status != 400 || r.raw != `{"error":"invalid_request","error_description":"Required metadata header not specified"}`+"\n" {
				t.Fatalf("headers %v: %d %s", h, r.status, r.raw)
			}
		}
		// The SDK's availability probe: no query, no header; any answer.
		if r := get(t, srv.URL+TokenPath, nil); r.status != 400 || r.body["error"] == nil {
			t.Fatalf("bare GET: %d %s", r.status, r.raw)
		}
		if n := calls.n.Load(); n != before {
			t.Fatalf("%d calls to berth for refused requests", n-before)
		}
	})
	// Every header a proxy adds, on every path: a proxy on the machine
	// must not pass the machine's tokens to whoever reaches the proxy.
	t.Run("proxied", func(t *testing.T) {
		before := calls.n.Load()
		headers := map[string]string{
			"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7", "X-Forwarded-Host": "imds.example",
			"X-Forwarded-Proto": "http", "X-Forwarded-Port": "80", "X-Forwarded-Server": "proxy", "X-Real-IP": "203.0.113.7",
			"Via": "1.1 proxy", "X-Client-IP": "203.0.113.7", "True-Client-IP": "203.0.113.7", "X-Cluster-Client-IP": "203.0.113.7",
			"X-Original-Forwarded-For": "203.0.113.7", "X-ProxyUser-Ip": "203.0.113.7",
		}
		for h, v := range headers {
			for _, target := range []string{tokenURL(srv.URL, managementRes), srv.URL + InstancePath + "?api-version=2021-02-01"} {
				r := get(t, target, map[string]string{"Metadata": "true", h: v})
				want := `{"error":"invalid_request","error_description":"Request was forwarded by a proxy (` + http.CanonicalHeaderKey(h) +
					`); the metadata endpoint answers only direct requests"}` + "\n"
				if r.status != 400 || r.raw != want {
					// Not the raw answer: it may hold a token.
					t.Errorf("%s: %d %v", h, r.status, r.body["error_description"])
				}
			}
		}
		if n := calls.n.Load(); n != before {
			t.Fatalf("%d calls to berth for proxied requests", n-before)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		if r := get(t, tokenURL(srv.URL, "https://unknown.example/"), metadata); r.status != 400 || r.body["error"] != "invalid_resource" {
			t.Fatalf("unknown resource: %d %s", r.status, r.raw)
		}
		if r := get(t, tokenURL(srv.URL, managementRes, "client_id", mine.ClientID, "object_id", mine.PrincipalID), metadata); r.status != 400 {
			t.Fatalf("two selectors: %d %s", r.status, r.raw)
		}
		if r := get(t, srv.URL+TokenPath+"?api-version=2018-02-01", metadata); r.status != 400 {
			t.Fatalf("no resource: %d %s", r.status, r.raw)
		}
		if r := get(t, srv.URL+AppServicePath+"?api-version=2019-08-01&resource=x", map[string]string{"X-IDENTITY-HEADER": ""}); r.status != 404 {
			t.Fatalf("App Service form without --identity-header: %d %s", r.status, r.raw)
		}
	})

	// Removing the identity from the machine: no new tokens at once. A
	// token already cached is handed out until its refresh point (half
	// its life, 30 minutes) and stays valid until it expires (an hour):
	// that is the bound.
	t.Run("identity removed", func(t *testing.T) {
		cached := get(t, tokenURL(srv.URL, managementRes, "client_id", mine.ClientID), metadata)
		if cached.status != 200 {
			t.Fatalf("before removal: %d %s", cached.status, cached.raw)
		}
		w.vm("vm1", `{"type":"SystemAssigned"}`)
		notFound(t, get(t, tokenURL(srv.URL, registryRes, "client_id", mine.ClientID), metadata))
		if r := get(t, tokenURL(srv.URL, managementRes, "client_id", mine.ClientID), metadata); r.body["access_token"] != cached.body["access_token"] {
			t.Fatalf("the cached token, before its refresh point: %d %s", r.status, r.raw)
		}
		a.skew.Store(int64(31 * time.Minute))
		defer a.skew.Store(0)
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := get(t, tokenURL(srv.URL, managementRes, "client_id", mine.ClientID), metadata)
			if r.status == 400 {
				notFound(t, r)
				break
			}
			if r.status != 200 || r.body["access_token"] != cached.body["access_token"] || time.Now().After(deadline) {
				t.Fatalf("after the refresh point: %d %s", r.status, r.raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestServerUnreachable: with berth down, cached tokens are served until
// they expire, past their refresh point; anything else is a clear 503
// in the metadata endpoint's shape.
func TestServerUnreachable(t *testing.T) {
	s := berthtest.Start(t)
	w := newWorld(t, s)
	vm, _ := w.vm("lonely", `{"type":"SystemAssigned"}`)
	a, _, srv := agentFor(t, w.credential(vm), "")
	cached := get(t, tokenURL(srv.URL, managementRes), metadata)
	if cached.status != 200 {
		t.Fatalf("token: %d %s", cached.status, cached.raw)
	}
	s.Stop()

	if r := get(t, tokenURL(srv.URL, managementRes), metadata); r.status != 200 || r.body["access_token"] != cached.body["access_token"] {
		t.Fatalf("cached, server down: %d %s", r.status, r.raw)
	}
	r := get(t, tokenURL(srv.URL, registryRes), metadata)
	if r.status != 503 || r.body["error"] != "service_unavailable" || !strings.Contains(r.body["error_description"].(string), "could not be reached") || r.ctype != "application/json; charset=utf-8" {
		t.Fatalf("uncached, server down: %d %s", r.status, r.raw)
	}
	a.skew.Store(int64(45 * time.Minute))
	for range 3 { // past the refresh point: each try fails, the token is still served
		if r := get(t, tokenURL(srv.URL, managementRes), metadata); r.status != 200 || r.body["access_token"] != cached.body["access_token"] {
			t.Fatalf("cached past its refresh point, server down: %d %s", r.status, r.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.skew.Store(int64(61 * time.Minute))
	r = get(t, tokenURL(srv.URL, managementRes), metadata)
	if r.status != 503 || !strings.Contains(r.body["error_description"].(string), "expired") {
		t.Fatalf("expired, server down: %d %s", r.status, r.raw)
	}
}

// TestCoalescing: a burst of cold requests for one identity and resource
// makes one call to berth.
func TestCoalescing(t *testing.T) {
	s := berthtest.Start(t)
	w := newWorld(t, s)
	vm, _ := w.vm("busy", `{"type":"SystemAssigned"}`)
	_, calls, srv := agentFor(t, w.credential(vm), "")
	var wg sync.WaitGroup
	tokens := make([]string, 32)
	for i := range tokens {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", tokenURL(srv.URL, managementRes), nil)
			req.Header.Set("Metadata", "true")
			r := do(t, req)
			tokens[i], _ = r.body["access_token"].(string)
		})
	}
	wg.Wait()
	for _, tok := range tokens {
		if tok == "" || tok != tokens[0] {
			t.Fatal("the burst did not all get the one token")
		}
	}
	if n := calls.n.Load(); n != 1 {
		t.Fatalf("%d calls to berth for a burst of %d", n, len(tokens))
	}
}

// TestServeChecks: the agent will not start for another machine's
// credential, nor guess an address that is not this machine's.
func TestServeChecks(t *testing.T) {
	cred := &CredentialFile{ResourceID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/a"}
	err := Serve(context.Background(), Options{VM: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/b", Credential: cred}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "not the machine") {
		t.Fatalf("another machine's credential: %v", err)
	}
	if local, _ := isLocal(DefaultAddress); !local {
		err = Serve(context.Background(), Options{VM: cred.ResourceID, Credential: cred}, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "--listen") {
			t.Fatalf("no --listen, metadata address not local: %v", err)
		}
	}
}

// TestCommand: berth imds on a given address, its App Service form's
// secret taken from IDENTITY_HEADER.
func TestCommand(t *testing.T) {
	s := berthtest.Start(t)
	w := newWorld(t, s)
	vm, system := w.vm("cmd", `{"type":"SystemAssigned"}`)
	path := filepath.Join(t.TempDir(), "credential.json")
	if err := w.credential(vm).Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadCredentialFile(path)
	if err != nil || loaded.ResourceID != vm || loaded.Server != s.URL {
		t.Fatalf("load: %v %+v", err, loaded)
	}
	addr, _ := startAgent(t, []string{"IDENTITY_HEADER=from-env"}, "imds", "--vm", vm, "--credential", path, "--listen", "127.0.0.1:0")
	r := get(t, addr+AppServicePath+"?api-version=2019-08-01&resource="+url.QueryEscape(managementRes), map[string]string{"X-IDENTITY-HEADER": "from-env"})
	if r.status != 200 || w.claims(r.body["access_token"].(string))["oid"] != system {
		t.Fatalf("App Service form: %d %s", r.status, r.raw)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"resourceId":"`+vm+`","tenantId":"t","keyId":"k","server":"https://x","privateKey":"not PEM"}`), 0o600)
	if _, err := LoadCredentialFile(bad); err == nil || !strings.Contains(err.Error(), "privateKey") {
		t.Fatalf("a credential file without a key: %v", err)
	}
}
