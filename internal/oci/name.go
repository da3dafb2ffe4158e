package oci

import (
	"fmt"
	"strings"
)

// MaxNameLength bounds repository names; the distribution spec recommends
// that registries accept at least 255 characters in a name.
const MaxNameLength = 255

// ValidateName checks a repository name against the distribution spec's
// pattern [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*.
// It is written out by hand rather than as a regexp because it runs on every
// request and because "..", "." and empty components must never reach a store.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLength {
		return fmt.Errorf("%w: %q", ErrNameInvalid, name)
	}
	for _, comp := range strings.Split(name, "/") {
		if !validComponent(comp) {
			return fmt.Errorf("%w: %q", ErrNameInvalid, name)
		}
	}
	return nil
}

func validComponent(s string) bool {
	if s == "" || !isAlnumLower(s[0]) || !isAlnumLower(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if isAlnumLower(c) {
			i++
			continue
		}
		// A separator run: ".", "_", "__" or one or more "-".
		j := i
		for j < len(s) && !isAlnumLower(s[j]) {
			j++
		}
		sep := s[i:j]
		switch {
		case sep == "." || sep == "_" || sep == "__":
		case strings.Trim(sep, "-") == "":
		default:
			return false
		}
		i = j
	}
	return true
}

func isAlnumLower(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// ValidateTag checks a tag against [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func ValidateTag(tag string) error {
	if tag == "" || len(tag) > 128 {
		return fmt.Errorf("%w: %q", ErrTagInvalid, tag)
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
		if i > 0 {
			ok = ok || c == '.' || c == '-'
		}
		if !ok {
			return fmt.Errorf("%w: %q", ErrTagInvalid, tag)
		}
	}
	return nil
}

// Reference is the <reference> path element of a manifest URL: a tag or a
// digest, never both.
type Reference struct {
	Tag    string
	Digest Digest
}

// ParseReference parses a manifest reference. Anything with a colon is taken
// as a digest, because tags cannot contain one.
func ParseReference(s string) (Reference, error) {
	if strings.Contains(s, ":") {
		d, err := ParseDigest(s)
		if err != nil {
			return Reference{}, err
		}
		return Reference{Digest: d}, nil
	}
	if err := ValidateTag(s); err != nil {
		return Reference{}, err
	}
	return Reference{Tag: s}, nil
}

func (r Reference) String() string {
	if r.Digest != "" {
		return string(r.Digest)
	}
	return r.Tag
}
