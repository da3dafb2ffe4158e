package federation

import (
	"errors"
	"testing"
)

// FuzzUnverified: whatever a client sends as an assertion is refused
// with ErrMalformed or read into claims with an issuer and a subject.
func FuzzUnverified(f *testing.F) {
	for _, s := range []string{
		"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2kiLCJzdWIiOiJzIiwiYXVkIjoiYSJ9.c2ln",
		"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2kiLCJzdWIiOiJzIiwiYXVkIjpbImEiLCJiIl19.",
		"a.b.c", "..", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Unverified(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Unverified(%q): %v is not ErrMalformed", s, err)
			}
			return
		}
		if c.Issuer == "" || c.Subject == "" {
			t.Fatalf("Unverified(%q) = %+v without an error", s, c)
		}
	})
}
