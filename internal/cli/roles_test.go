package cli

import (
	"slices"
	"testing"
)

func TestNearMatches(t *testing.T) {
	names := []string{"AcrPull", "AcrPush", "AcrDelete", "Owner", "Reader", "Contributor", "User Access Administrator"}
	cases := []struct {
		in   string
		want []string
	}{
		{"acrpul", []string{"AcrPull", "AcrPush"}},
		{"ACRPUSH", []string{"AcrPush", "AcrPull"}},
		{"owners", []string{"Owner"}},
		{"access administrator", []string{"User Access Administrator"}},
		{"xyzzy", nil},
	}
	for _, c := range cases {
		if got := NearMatches(c.in, names); !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("NearMatches(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestResourceGroupOf(t *testing.T) {
	for id, want := range map[string]string{
		"/subscriptions/s/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/r": "rg1",
		"/subscriptions/s/resourcegroups/RG2":                                                    "RG2",
		"/subscriptions/s":                                                                       "",
	} {
		if got := ResourceGroupOf(id); got != want {
			t.Errorf("ResourceGroupOf(%q) = %q, want %q", id, got, want)
		}
	}
}
