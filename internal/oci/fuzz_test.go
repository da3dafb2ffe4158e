package oci

import (
	"strings"
	"testing"
)

// The fuzz targets check invariants rather than examples: whatever a parser
// accepts must round-trip and must never contain a path trick.

func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:" + strings.Repeat("a", 64))
	f.Add("sha512:" + strings.Repeat("b", 128))
	f.Add("sha256:../../etc/passwd")
	f.Add("md5+x.y:abc")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			return
		}
		if string(d) != s || strings.ContainsAny(s, "/.\\") {
			t.Fatalf("accepted %q as %q", s, d)
		}
		if len(d.Encoded()) != d.Algorithm().hexLen() {
			t.Fatalf("accepted %q with wrong length", s)
		}
	})
}

func FuzzValidateName(f *testing.F) {
	f.Add("library/alpine")
	f.Add("a/../b")
	f.Add("a__b-c.d")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) != nil {
			return
		}
		for _, comp := range strings.Split(s, "/") {
			if comp == "" || comp == "." || comp == ".." || strings.Contains(comp, "..") {
				t.Fatalf("accepted %q", s)
			}
		}
		if strings.ToLower(s) != s || strings.ContainsAny(s, "\\:\x00 %") {
			t.Fatalf("accepted %q", s)
		}
	})
}

func FuzzParseReference(f *testing.F) {
	f.Add("latest")
	f.Add("sha256:" + strings.Repeat("c", 64))
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			return
		}
		if r.String() != s || (r.Tag == "") == (r.Digest == "") {
			t.Fatalf("ParseReference(%q) = %+v", s, r)
		}
		if strings.ContainsAny(s, "/\\") {
			t.Fatalf("accepted path separator in %q", s)
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	f.Add(MediaTypeImageManifest, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"sha256:`+strings.Repeat("1", 64)+`","size":1},"layers":[]}`))
	f.Add("", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	f.Add("x", []byte(`{"schemaVersion":2}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		m, err := ParseManifest(ct, body)
		if err != nil {
			return
		}
		if m.MediaType == "" {
			t.Fatal("accepted manifest without media type")
		}
		for _, d := range append(append([]Descriptor{}, m.Blobs...), m.Manifests...) {
			if _, err := ParseDigest(string(d.Digest)); err != nil || d.Size < 0 {
				t.Fatalf("accepted bad descriptor %+v", d)
			}
		}
	})
}
