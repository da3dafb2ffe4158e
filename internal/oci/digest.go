package oci

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Algorithm is a digest algorithm the registry can verify content with.
type Algorithm string

const (
	SHA256 Algorithm = "sha256"
	SHA512 Algorithm = "sha512"
)

// hexLen is the length of an encoded digest per algorithm; a digest of any
// other length can never match content, so it is rejected up front.
func (a Algorithm) hexLen() int {
	switch a {
	case SHA256:
		return 64
	case SHA512:
		return 128
	}
	return 0
}

// New returns a fresh hash for the algorithm.
func (a Algorithm) New() hash.Hash {
	if a == SHA512 {
		return sha512.New()
	}
	return sha256.New()
}

// Digest is a validated content digest such as "sha256:<64 hex>". Only
// lower-case hex is accepted, so two spellings never name the same content.
type Digest string

// ParseDigest validates s as a digest of a supported algorithm.
func ParseDigest(s string) (Digest, error) {
	alg, enc, ok := strings.Cut(s, ":")
	if !ok || alg == "" || enc == "" {
		return "", fmt.Errorf("%w: %q", ErrDigestInvalid, s)
	}
	a := Algorithm(alg)
	n := a.hexLen()
	if n == 0 {
		if !validAlgorithmSyntax(alg) || !validEncodedSyntax(enc) {
			return "", fmt.Errorf("%w: %q", ErrDigestInvalid, s)
		}
		return "", fmt.Errorf("%w: %q", ErrDigestAlgorithm, alg)
	}
	if len(enc) != n || !isLowerHex(enc) {
		return "", fmt.Errorf("%w: %q", ErrDigestInvalid, s)
	}
	return Digest(s), nil
}

// FromBytes digests b with the algorithm.
func FromBytes(a Algorithm, b []byte) Digest {
	h := a.New()
	h.Write(b)
	return NewDigest(a, h)
}

// NewDigest formats the sum of h as a digest of algorithm a.
func NewDigest(a Algorithm, h hash.Hash) Digest {
	return Digest(string(a) + ":" + hex.EncodeToString(h.Sum(nil)))
}

// Algorithm returns the digest's algorithm.
func (d Digest) Algorithm() Algorithm {
	a, _, _ := strings.Cut(string(d), ":")
	return Algorithm(a)
}

// Encoded returns the hex part of the digest.
func (d Digest) Encoded() string {
	_, e, _ := strings.Cut(string(d), ":")
	return e
}

func (d Digest) String() string { return string(d) }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validAlgorithmSyntax follows the image-spec grammar
// algorithm-component ([+._-] algorithm-component)*, so that a well-formed
// digest of an algorithm we do not implement is told apart from garbage.
func validAlgorithmSyntax(s string) bool {
	prevSep := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
			prevSep = false
		case c == '+' || c == '.' || c == '_' || c == '-':
			if prevSep {
				return false
			}
			prevSep = true
		default:
			return false
		}
	}
	return !prevSep
}

func validEncodedSyntax(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '=' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
