package cloudhosts

import "testing"

func TestServed(t *testing.T) {
	for host, want := range map[string]bool{
		"login.microsoftonline.com":     true,
		"Management.Azure.com":          true,
		"graph.microsoft.com.":          true,
		"myregistry.azurecr.io":         true,
		"my-registry.AZURECR.io":        true,
		"azurecr.io":                    false,
		".azurecr.io":                   false,
		"a.b.azurecr.io":                false,
		"-a.azurecr.io":                 false,
		"a_b.azurecr.io":                false,
		"azurecr.io.example.com":        false,
		"graph.microsoft.com.evil.test": false,
		"microsoftonline.com":           false,
		"example.com":                   false,
		"":                              false,
	} {
		if got := Served(host); got != want {
			t.Errorf("Served(%q) = %v, want %v", host, got, want)
		}
	}
}
