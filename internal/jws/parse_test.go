package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func signed(t *testing.T, alg string, sign func(sum []byte) []byte) string {
	t.Helper()
	in := b64(`{"alg":"`+alg+`","kid":"k1"}`) + "." + b64(`{"sub":"me"}`)
	sum := sha256.Sum256([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(sign(sum[:]))
}

func TestParseAndVerify(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	rs := signed(t, "RS256", func(sum []byte) []byte { s, _ := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, sum); return s })
	ps := signed(t, "PS256", func(sum []byte) []byte { s, _ := rsa.SignPSS(rand.Reader, rk, crypto.SHA256, sum, nil); return s })
	es := signed(t, "ES256", func(sum []byte) []byte {
		r, s, _ := ecdsa.Sign(rand.Reader, ek, sum)
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	})
	for name, tc := range map[string]struct {
		token  string
		verify func(Token) error
	}{
		"RS256": {rs, func(tok Token) error { return tok.VerifyRSA(&rk.PublicKey) }},
		"PS256": {ps, func(tok Token) error { return tok.VerifyRSA(&rk.PublicKey) }},
		"ES256": {es, func(tok Token) error { return tok.VerifyES256(&ek.PublicKey) }},
	} {
		tok, err := Parse(tc.token)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tok.Header.Kid != "k1" {
			t.Errorf("%s: kid %q", name, tok.Header.Kid)
		}
		if err := tc.verify(tok); err != nil {
			t.Errorf("%s: a good signature: %v", name, err)
		}
		var c struct{ Sub string }
		if err := tok.Claims(&c); err != nil || c.Sub != "me" {
			t.Errorf("%s: claims %+v, %v", name, c, err)
		}
	}
	tok, _ := Parse(rs)
	if err := tok.VerifyRSA(&other.PublicKey); !errors.Is(err, ErrInvalid) {
		t.Errorf("RS256 checked with another key: %v", err)
	}
	if err := tok.VerifyES256(&ek.PublicKey); !errors.Is(err, ErrInvalid) {
		t.Errorf("an RS256 token passed as ES256: %v", err)
	}
	tampered, _ := Parse(strings.Replace(rs, b64(`{"sub":"me"}`), b64(`{"sub":"XX"}`), 1))
	if err := tampered.VerifyRSA(&rk.PublicKey); !errors.Is(err, ErrInvalid) {
		t.Errorf("changed claims verified: %v", err)
	}
	none, _ := Parse(b64(`{"alg":"none"}`) + "." + b64(`{}`) + ".")
	if err := none.VerifyRSA(&rk.PublicKey); !errors.Is(err, ErrInvalid) {
		t.Errorf("alg none verified: %v", err)
	}
	hs, _ := Parse(b64(`{"alg":"HS256"}`) + "." + b64(`{}`) + "." + b64("mac"))
	if err := hs.VerifyRSA(&rk.PublicKey); !errors.Is(err, ErrInvalid) {
		t.Errorf("HS256 verified: %v", err)
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	for _, in := range []string{
		"", "a.b", "a.b.c.d", b64(`{"alg":"RS256"}`) + ".%%%." + b64("s"),
		"%%%." + b64(`{}`) + "." + b64("s"), b64(`{"alg":"RS256"}`) + "." + b64(`not json`) + "." + b64("s"),
		b64(`{"alg":"RS256"}`) + "." + b64(`{}`) + ".+/=",
		b64(`{"alg":"RS256"}`) + "." + b64(strings.Repeat(" ", maxTokenLength)) + ".",
	} {
		if _, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%.40q) = %v, want ErrInvalid", in, err)
		}
	}
}
