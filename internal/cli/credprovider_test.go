package cli

import (
	"encoding/base64"
	"fmt"
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
