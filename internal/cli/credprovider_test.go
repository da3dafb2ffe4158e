package cli

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRegistryOf(t *testing.T) {
	for _, c := range []struct {
		image, host, name string
	}{
		{"myregistry.cr.localhost/aci-helloworld:v1", "myregistry.cr.localhost", "myregistry"},
		{"MyRegistry.cr.localhost:8443/team/app@sha256:abc", "MyRegistry.cr.localhost:8443", "myregistry"},
		{"myregistry.cr.localhost", "myregistry.cr.localhost", "myregistry"},
		// Not berth's: another suffix, a deeper name, a look-alike, a
		// bad port, a name registries cannot have.
		{"myregistry.azurecr.io/app:v1", "", ""},
		{"a.myregistry.cr.localhost/app", "", ""},
		{"myregistry.cr.localhost.evil.example/app", "", ""},
		{"evilcr.localhost/app", "", ""},
		{"myregistry.cr.localhost:x/app", "", ""},
		{"my-registry.cr.localhost/app", "", ""},
		{"cr.localhost/app", "", ""},
		{"docker.io/library/nginx", "", ""},
	} {
		host, name, ok := registryOf(c.image, "cr.localhost")
		if host != c.host || name != c.name || ok != (c.host != "") {
			t.Errorf("registryOf(%q) = %q %q %v, want %q %q", c.image, host, name, ok, c.host, c.name)
		}
	}
}

func TestCacheDuration(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	token := func(exp int64) string {
		return "e30." + base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp":%d}`, exp)) + ".sig"
	}
	for _, c := range []struct {
		token string
		want  time.Duration
	}{
		{token(now.Add(3 * time.Hour).Unix()), time.Hour},
		{token(now.Add(40 * time.Minute).Unix()), 20 * time.Minute},
		{token(now.Add(-time.Minute).Unix()), 0},
		{"not a token", 0},
	} {
		if got := cacheDuration(c.token, now); got != c.want {
			t.Errorf("cacheDuration(%q) = %v, want %v", c.token, got, c.want)
		}
	}
}

// TestLoadNodeConfigModes: each mode's keys, and files that mix them, each
// refused with what is wrong.
func TestLoadNodeConfigModes(t *testing.T) {
	const base = `"berthServer":"https://berth.example","tenantId":"a","registrySuffix":"cr.localhost",`
	for _, c := range []struct {
		name, keys, err string
		asApp           bool
	}{
		{"service principal", `"aadClientId":"app","aadClientSecret":"s"`, "", false},
		{"kubelet identity", `"aadClientId":"msi","aadClientSecret":"msi","useManagedIdentityExtension":true,"userAssignedIdentityID":"mi"`, "", false},
		{"application through the kubelet identity", `"aadClientId":"app","useManagedIdentityExtension":true,"userAssignedIdentityID":"mi","registryTenantId":"b"`, "", true},
		{"the same, in the cluster's tenant", `"aadClientId":"app","useManagedIdentityExtension":true,"userAssignedIdentityID":"mi"`, "", true},
		{"a secret with the kubelet identity's application", `"aadClientId":"app","aadClientSecret":"s","useManagedIdentityExtension":true`, "needs no secret", false},
		{"a registry tenant for a service principal", `"aadClientId":"app","aadClientSecret":"s","registryTenantId":"b"`, "registryTenantId without an application", false},
		{"a registry tenant for the kubelet identity itself", `"aadClientId":"msi","useManagedIdentityExtension":true,"registryTenantId":"b"`, "registryTenantId without an application", false},
		{"no credential", `"aadClientId":"app"`, "neither aadClientId with aadClientSecret nor useManagedIdentityExtension", false},
	} {
		f := filepath.Join(t.TempDir(), "azure.json")
		if err := os.WriteFile(f, []byte("{"+base+c.keys+"}"), 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := LoadNodeConfig(f)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.err)
		case err == nil && n.actsAsApplication() != c.asApp:
			t.Errorf("%s: acts as an application: %v, want %v", c.name, n.actsAsApplication(), c.asApp)
		}
	}
}
