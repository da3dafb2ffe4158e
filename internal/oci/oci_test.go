package oci

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	good := []string{"a", "library/alpine", "a.b_c__d---e/f0", "x/y/z", strings.Repeat("a", 255)}
	bad := []string{"", "A", "a/", "/a", "a//b", "..", "a/../b", ".a", "a.", "a_", "a___b", "a..b", "a/-b", "a b", "a%2fb", strings.Repeat("a", 256), "a\x00"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); !errors.Is(err, ErrNameInvalid) {
			t.Errorf("ValidateName(%q) = %v, want ErrNameInvalid", n, err)
		}
	}
}

func TestParseReference(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	cases := []struct {
		in      string
		tag     string
		digest  Digest
		wantErr error
	}{
		{in: "latest", tag: "latest"},
		{in: "_x.Y-1", tag: "_x.Y-1"},
		{in: d, digest: Digest(d)},
		{in: "sha512:" + strings.Repeat("0", 128), digest: Digest("sha512:" + strings.Repeat("0", 128))},
		{in: "-x", wantErr: ErrTagInvalid},
		{in: strings.Repeat("t", 129), wantErr: ErrTagInvalid},
		{in: "sha256:" + strings.Repeat("A", 64), wantErr: ErrDigestInvalid},
		{in: "sha256:abc", wantErr: ErrDigestInvalid},
		{in: "md5:" + strings.Repeat("a", 32), wantErr: ErrDigestAlgorithm},
		{in: "sha256:", wantErr: ErrDigestInvalid},
		{in: ":", wantErr: ErrDigestInvalid},
	}
	for _, c := range cases {
		r, err := ParseReference(c.in)
		if c.wantErr != nil {
			if !errors.Is(err, c.wantErr) {
				t.Errorf("ParseReference(%q) err = %v, want %v", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || r.Tag != c.tag || r.Digest != c.digest {
			t.Errorf("ParseReference(%q) = %+v, %v", c.in, r, err)
		}
	}
}

func TestParseManifest(t *testing.T) {
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":2}`
	layer := `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:` + strings.Repeat("2", 64) + `","size":3}`
	subj := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("3", 64) + `","size":4}`
	img := `{"schemaVersion":2,"mediaType":"` + MediaTypeImageManifest + `","config":` + cfg + `,"layers":[` + layer + `],"subject":` + subj + `}`
	m, err := ParseManifest(MediaTypeImageManifest, []byte(img))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Blobs) != 2 || m.Subject == nil || m.ArtifactType != "application/vnd.oci.image.config.v1+json" {
		t.Fatalf("unexpected manifest %+v", m)
	}
	idx := `{"schemaVersion":2,"mediaType":"` + MediaTypeImageIndex + `","manifests":[` + subj + `]}`
	m, err = ParseManifest("", []byte(idx))
	if err != nil || len(m.Manifests) != 1 || m.MediaType != MediaTypeImageIndex {
		t.Fatalf("index: %+v %v", m, err)
	}
	bad := map[string]string{
		"not json":          `{`,
		"schema 1":          `{"schemaVersion":1}`,
		"type mismatch":     img[:len(img)-1] + `}`,
		"bad digest":        `{"schemaVersion":2,"mediaType":"` + MediaTypeImageManifest + `","config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}`,
		"negative size":     `{"schemaVersion":2,"mediaType":"` + MediaTypeImageManifest + `","config":{"mediaType":"x","digest":"sha256:` + strings.Repeat("1", 64) + `","size":-1},"layers":[]}`,
		"no config":         `{"schemaVersion":2,"mediaType":"` + MediaTypeImageManifest + `","layers":[]}`,
		"no media type":     `{"schemaVersion":2,"config":` + cfg + `}`,
		"index with config": `{"schemaVersion":2,"mediaType":"` + MediaTypeImageIndex + `","config":` + cfg + `,"manifests":[]}`,
	}
	for name, body := range bad {
		ct := ""
		if name == "type mismatch" {
			ct = MediaTypeImageIndex
		}
		if _, err := ParseManifest(ct, []byte(body)); !errors.Is(err, ErrManifestInvalid) {
			t.Errorf("%s: err = %v, want ErrManifestInvalid", name, err)
		}
	}
	if _, err := ParseManifest(MediaTypeImageManifest, make([]byte, MaxManifestSize+1)); !errors.Is(err, ErrManifestInvalid) {
		t.Errorf("oversized manifest: err = %v", err)
	}
}

func TestForeignLayersAreNotRequired(t *testing.T) {
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":2}`
	foreign := `{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"sha256:` + strings.Repeat("2", 64) + `","size":3,"urls":["https://example.com/l"]}`
	local := `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:` + strings.Repeat("3", 64) + `","size":3}`
	m, err := ParseManifest(MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":`+cfg+`,"layers":[`+foreign+`,`+local+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Blobs) != 2 || m.Blobs[1].Digest != Digest("sha256:"+strings.Repeat("3", 64)) {
		t.Fatalf("required blobs = %+v", m.Blobs)
	}
}
