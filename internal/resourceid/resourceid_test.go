package resourceid

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"/subscriptions/s":                      "/subscriptions/s",
		"/SUBSCRIPTIONS/s/":                     "/subscriptions/s",
		"/subscriptions/s/resourcegroups/My-RG": "/subscriptions/s/resourceGroups/My-RG",
		"/subscriptions/s/resourceGroups/g/PROVIDERS/Microsoft.ContainerRegistry/registries/Reg": "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/Reg",
		"/subscriptions/s/resourceGroups/g/providers/N/a/x/b/y":                                  "/subscriptions/s/resourceGroups/g/providers/N/a/x/b/y",
	} {
		id, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if id.String() != want {
			t.Errorf("Parse(%q) = %q, want %q", in, id, want)
		}
	}
	id, _ := Parse("/subscriptions/s/resourceGroups/g/providers/N/a/x/b/y")
	if id.Type() != "N/a/b" || id.Name() != "y" || id.Parent().String() != "/subscriptions/s/resourceGroups/g/providers/N/a/x" ||
		id.Parent().Parent().String() != "/subscriptions/s/resourceGroups/g" || !id.Parent().Parent().IsResourceGroup() ||
		id.Parent().Parent().Parent().String() != "/subscriptions/s" {
		t.Fatalf("parts of a child resource id: %+v", id)
	}
	for _, in := range []string{
		"", "/", "subscriptions/s", "/subscriptions", "/subscriptions//x", "/tenants/t",
		"/subscriptions/s/resourceGroups", "/subscriptions/s/groups/g",
		"/subscriptions/s/resourceGroups/g/providers/N", "/subscriptions/s/resourceGroups/g/providers/N/t",
		"/subscriptions/s/resourceGroups/g/providers/N/t/n/extra", "/subscriptions/s/resourceGroups/g/x/N/t/n",
		"/subscriptions/s/resourceGroups/..", "/subscriptions/s%2F/resourceGroups/g", "/subscriptions/s/resourceGroups/a\nb",
	} {
		if _, err := Parse(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q): %v, want ErrMalformed", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("/subscriptions/s/resourceGroups/g/providers/N/t/n")
	f.Add("/subscriptions/s")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		// What parses prints as an id that parses to the same thing.
		again, err := Parse(id.String())
		if err != nil || again.String() != id.String() {
			t.Fatalf("%q printed as %q, which parses to %q (%v)", s, id, again, err)
		}
	})
}
