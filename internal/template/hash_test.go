package template

import "testing"

// The expected values are the cloud's, as public reimplementations record
// them.
func TestUniqueString(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"test"}, "rbgf3xv4ufgzg"},
		{[]string{"hello", "world"}, "a7wkljktk6wne"},
		{[]string{"abc"}, "cgtzqvhu4i23s"},
		{[]string{"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"}, "bmg7c6xu4tw46"},
		{[]string{"foo", "bar", "baz"}, "xzi4ioaxtmth4"},
	} {
		if got := uniqueString(c.in); got != c.want {
			t.Errorf("uniqueString(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestGUID: a version 5 UUID in the cloud's namespace, as Python's uuid5
// computes it for the same namespace and name.
func TestGUID(t *testing.T) {
	if got, want := guid([]string{"a", "b", "c"}), "a98fa280-e03f-5afa-8d8e-92d0a9c201e8"; got != want {
		t.Fatalf("guid(a, b, c) = %s, want %s", got, want)
	}
}
