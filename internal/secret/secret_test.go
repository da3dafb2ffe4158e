package secret

import "testing"

func TestHashVerify(t *testing.T) {
	s := Generate()
	if len(s) != 43 {
		t.Fatalf("secret %q has length %d", s, len(s))
	}
	if Generate() == s {
		t.Fatal("two secrets are equal")
	}
	salt, sum := Hash(s)
	if !Verify(s, salt, sum) {
		t.Fatal("secret does not verify")
	}
	if Verify(s+"x", salt, sum) || Verify(s[:42], salt, sum) {
		t.Fatal("wrong secret verifies")
	}
	salt2, sum2 := Hash(s)
	if string(salt2) == string(salt) || string(sum2) == string(sum) {
		t.Fatal("hashes are not salted")
	}
	if Hint(s) != s[:3] {
		t.Fatalf("Hint = %q", Hint(s))
	}
}
