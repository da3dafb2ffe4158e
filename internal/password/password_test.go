package password

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestRoundTrip(t *testing.T) {
	enc, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=65536,t=3,p=2$") || strings.Contains(enc, "horse") {
		t.Fatalf("encoding %q", enc)
	}
	if ok, err := Verify("correct horse battery staple", enc); err != nil || !ok {
		t.Fatalf("Verify of the right password = %v, %v", ok, err)
	}
	if ok, err := Verify("correct horse battery stapler", enc); err != nil || ok {
		t.Fatalf("Verify of a wrong password = %v, %v", ok, err)
	}
	again, err := Hash("correct horse battery staple")
	if err != nil || again == enc {
		t.Fatalf("two hashes of one password share their salt: %q", again)
	}
}

func TestTooShort(t *testing.T) {
	if _, err := Hash("1234567"); !errors.Is(err, ErrTooShort) {
		t.Fatalf("Hash of 7 characters: %v", err)
	}
	// Characters, not bytes: eight accented letters are long enough,
	// four are not even though they take eight bytes.
	if _, err := Hash("éééééééé"); err != nil {
		t.Fatal(err)
	}
	if _, err := Hash("éééé"); !errors.Is(err, ErrTooShort) {
		t.Fatalf("Hash of 4 two-byte characters: %v", err)
	}
}

// A hash made with other parameters (as by an older berth, or another
// argon2 implementation) verifies with the parameters its string carries.
func TestParametersFromEncoding(t *testing.T) {
	salt := []byte("somesalt")
	key := argon2.IDKey([]byte("password"), salt, 2, 1024, 4, 24)
	enc := "$argon2id$v=19$m=1024,t=2,p=4$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
	p, err := Parse(enc)
	if err != nil || p != (Params{Memory: 1024, Time: 2, Threads: 4}) {
		t.Fatalf("Parse = %+v, %v", p, err)
	}
	if ok, err := Verify("password", enc); err != nil || !ok {
		t.Fatalf("Verify with the encoding's parameters = %v, %v", ok, err)
	}
	if ok, err := Verify("Password", enc); err != nil || ok {
		t.Fatalf("Verify of a wrong password = %v, %v", ok, err)
	}
	if p, err := Parse(mustHash(t, "correct horse battery staple")); err != nil || p != (Params{Memory: Memory, Time: Time, Threads: Threads}) {
		t.Fatalf("Parse of a new hash = %+v, %v", p, err)
	}
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	enc, err := Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestTampered(t *testing.T) {
	enc, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(enc, "$")
	salt, key := parts[4], parts[5]
	flip := func(s string) string {
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	// Changed parameters, salt or tag: still well formed, but the password
	// no longer matches.
	for _, bad := range []string{
		"$argon2id$v=19$m=65536,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=2$" + flip(salt) + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$" + flip(key),
	} {
		if ok, err := Verify("correct horse battery staple", bad); err != nil || ok {
			t.Errorf("Verify(%q) = %v, %v", bad, ok, err)
		}
	}
	// Unreadable or dangerous encodings are errors.
	for _, bad := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=65536,t=3,p=2$" + salt + "$" + key,
		"$argon2id$v=16$m=65536,t=3,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=2,x=1$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=0,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=4294967295,t=3,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=2$" + salt + "!$" + key,
		"$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$",
	} {
		if ok, err := Verify("correct horse battery staple", bad); !errors.Is(err, ErrMalformed) || ok {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformed", bad, ok, err)
		}
	}
}
