package federation

import (
	"encoding/json"
	"errors"
	"reflect"
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

// FuzzParseKeys: whatever an operator uploads is refused with ErrBadKeys
// or read into a bounded set of keys berth verifies with, each with an
// id, that reads back the same.
func FuzzParseKeys(f *testing.F) {
	for _, s := range []string{
		`{"keys":[]}`, `{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"}]}`, `{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`, `{} {}`,
		"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n",
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "garbage", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseKeys(data)
		if err != nil {
			if !errors.Is(err, ErrBadKeys) {
				t.Fatalf("ParseKeys: %v is not ErrBadKeys", err)
			}
			return
		}
		if n := len(set.Keys); n == 0 || n > MaxUploadKeys || len(set.verifiers()) != n {
			t.Fatalf("ParseKeys = %d keys, %d usable", n, len(set.verifiers()))
		}
		b, _ := json.Marshal(set)
		again, err := ParseKeys(b)
		if err != nil || !reflect.DeepEqual(again, set) {
			t.Fatalf("the set does not read back: %v\n%s", err, b)
		}
	})
}
