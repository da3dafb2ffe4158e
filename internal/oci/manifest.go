package oci

import (
	"encoding/json"
	"fmt"
)

// Media types the registry understands structurally. Other media types are
// accepted as long as the document has the shape of a manifest or an index,
// because artifacts may carry their own types.
const (
	MediaTypeImageManifest  = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeImageIndex     = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeEmptyJSON      = "application/vnd.oci.empty.v1+json"
)

// MaxManifestSize is the largest manifest the registry stores (4 MiB).
const MaxManifestSize = 4 << 20

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       Digest            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     json.RawMessage   `json:"platform,omitempty"`
	// URLs mark a non-distributable (foreign) layer: its content lives
	// elsewhere, so the registry does not require it.
	URLs []string `json:"urls,omitempty"`
}

// Manifest is what the registry needs to know about a pushed manifest: what
// it is, what it points to, and what it is a referrer of.
type Manifest struct {
	MediaType    string
	ArtifactType string
	Annotations  map[string]string
	// Blobs are the config and layers that must exist in the repository;
	// foreign layers (with URLs) are not among them.
	Blobs []Descriptor
	// Manifests are the children of an index, which must exist too.
	Manifests []Descriptor
	Subject   *Descriptor
}

type manifestDoc struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *Descriptor       `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// ParseManifest validates a manifest body sent with the given Content-Type.
// The body's own mediaType wins when the header is missing; when both are
// present they must agree, so a manifest is never served under a type it does
// not declare.
func ParseManifest(contentType string, body []byte) (*Manifest, error) {
	if len(body) > MaxManifestSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrManifestInvalid, MaxManifestSize)
	}
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifestInvalid, err)
	}
	if doc.SchemaVersion == nil || *doc.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion must be 2", ErrManifestInvalid)
	}
	mt := doc.MediaType
	switch {
	case mt == "":
		mt = contentType
	case contentType != "" && contentType != mt:
		return nil, fmt.Errorf("%w: Content-Type %q does not match mediaType %q", ErrManifestInvalid, contentType, mt)
	}
	if mt == "" {
		return nil, fmt.Errorf("%w: no media type", ErrManifestInvalid)
	}
	m := &Manifest{MediaType: mt, ArtifactType: doc.ArtifactType, Annotations: doc.Annotations}
	isIndex := mt == MediaTypeImageIndex || mt == MediaTypeDockerList || (doc.Manifests != nil && doc.Config == nil)
	if isIndex {
		if doc.Config != nil || doc.Layers != nil {
			return nil, fmt.Errorf("%w: an index has no config or layers", ErrManifestInvalid)
		}
		for i := range doc.Manifests {
			if err := checkDescriptor(&doc.Manifests[i]); err != nil {
				return nil, err
			}
		}
		m.Manifests = doc.Manifests
	} else {
		if doc.Config == nil {
			return nil, fmt.Errorf("%w: missing config", ErrManifestInvalid)
		}
		if doc.Manifests != nil {
			return nil, fmt.Errorf("%w: an image manifest has no manifests list", ErrManifestInvalid)
		}
		for i, d := range append([]Descriptor{*doc.Config}, doc.Layers...) {
			if err := checkDescriptor(&d); err != nil {
				return nil, err
			}
			if i > 0 && len(d.URLs) > 0 {
				continue
			}
			m.Blobs = append(m.Blobs, d)
		}
		if m.ArtifactType == "" && doc.Config.MediaType != MediaTypeEmptyJSON {
			// Per the image spec, the config's media type is the artifact
			// type when the manifest does not name one.
			m.ArtifactType = doc.Config.MediaType
		}
	}
	if doc.Subject != nil {
		if err := checkDescriptor(doc.Subject); err != nil {
			return nil, err
		}
		m.Subject = doc.Subject
	}
	return m, nil
}

func checkDescriptor(d *Descriptor) error {
	if _, err := ParseDigest(string(d.Digest)); err != nil {
		return fmt.Errorf("%w: descriptor digest: %v", ErrManifestInvalid, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: descriptor %s has a negative size", ErrManifestInvalid, d.Digest)
	}
	if d.MediaType == "" {
		return fmt.Errorf("%w: descriptor %s has no mediaType", ErrManifestInvalid, d.Digest)
	}
	return nil
}
