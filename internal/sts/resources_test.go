package sts

import (
	"errors"
	"testing"
)

func TestResourceFromScope(t *testing.T) {
	cases := []struct {
		scope, want string
		err         error
	}{
		{"https://management.core.windows.net//.default", "https://management.core.windows.net/", nil},
		{"https://management.azure.com/.default openid offline_access profile", "https://management.azure.com", nil},
		{"api://berth/registry/.default", "api://berth/registry", nil},
		{"https://a/.default https://b/.default", "", ErrMultipleResources},
		{"https://a/.default https://a/.default", "https://a", nil},
		{"https://a/user_impersonation", "", ErrInvalidScope},
		{"openid profile", "", ErrInvalidScope},
	}
	for _, c := range cases {
		got, err := resourceFromScope(c.scope)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("resourceFromScope(%q) = %q, %v; want %q, %v", c.scope, got, err, c.want, c.err)
		}
	}
	for _, uri := range []string{"https://management.core.windows.net/", "https://MANAGEMENT.azure.com", "https://graph.microsoft.com/", "https://containerregistry.azure.net"} {
		if _, ok := LookupResource(uri); !ok {
			t.Errorf("LookupResource(%q) failed", uri)
		}
	}
	if _, ok := LookupResource("https://unknown.example/"); ok {
		t.Error("unknown resource found")
	}
}
