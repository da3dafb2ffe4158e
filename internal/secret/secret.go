package secret

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// HintLength is how many leading characters of a secret are kept in clear
// so that people can tell their secrets apart.
const HintLength = 3

// Generate returns a new secret: 32 random bytes, URL-safe base64 without
// padding (43 characters), safe in shells, URLs and Basic credentials.
func Generate() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Hash returns a fresh salt and the hash of secret under it.
func Hash(secret string) (salt, sum []byte) {
	salt = make([]byte, 16)
	rand.Read(salt)
	return salt, digest(salt, secret)
}

// Verify reports, in constant time, whether secret hashes to sum under salt.
func Verify(secret string, salt, sum []byte) bool {
	return hmac.Equal(digest(salt, secret), sum)
}

// Hint returns the clear prefix kept beside the hash.
func Hint(secret string) string {
	if len(secret) < HintLength {
		return secret
	}
	return secret[:HintLength]
}

func digest(salt []byte, secret string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(secret))
	return m.Sum(nil)
}
