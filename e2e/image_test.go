package e2e

import (
	"archive/tar"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestImage: berth's own image, built by deploy/image with no container
// engine, pushed to berth and pulled back: an index of linux/amd64 and
// linux/arm64 sharing one base layer, whose amd64 binary runs, whose
// configuration serves as an unprivileged user, and which the same
// source builds again to the same digest.
func TestImage(t *testing.T) {
	s := startBerth(t)
	dockerConfig := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(s.Boot.ClientID + ":" + s.Boot.ClientSecret))
	cfg, err := json.Marshal(map[string]any{"auths": map[string]any{s.Host: map[string]string{"auth": auth}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	build := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "go", append([]string{"run", "./deploy/image"}, args...)...)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go run ./deploy/image %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	tag := s.Host + "/berth:test"
	pushed := build("--push", tag, "--ca-file", filepath.Join(s.DataDir, "ca.crt"))

	ref, err := name.ParseReference(tag)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref, remote.WithContext(t.Context()), remote.WithTransport(berthTransport(s)),
		remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: s.Boot.ClientID, Password: s.Boot.ClientSecret})))
	if err != nil {
		t.Fatal(err)
	}
	digest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if want := s.Host + "/berth@" + digest.String(); pushed != want {
		t.Errorf("the builder printed %q, the registry has %q", pushed, want)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	bases := map[v1.Hash]bool{}
	var arches []string
	for _, d := range manifest.Manifests {
		arches = append(arches, d.Platform.OS+"/"+d.Platform.Architecture)
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 2 {
			t.Fatalf("%s: %d layers (%v), want the base and the binary", d.Platform, len(layers), err)
		}
		base, _ := layers[0].Digest()
		bases[base] = true
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != d.Platform.Architecture || cf.OS != "linux" {
			t.Errorf("%s: the configuration says %s/%s", d.Platform, cf.OS, cf.Architecture)
		}
		if c := cf.Config; strings.Join(c.Entrypoint, " ") != "/berth" || c.User != "65532:65532" || !strings.HasPrefix(strings.Join(c.Cmd, " "), "serve ") {
			t.Errorf("%s: entrypoint %v, cmd %v, user %q; want /berth serve as 65532", d.Platform, c.Entrypoint, c.Cmd, c.User)
		}
		if d.Platform.Architecture != "amd64" {
			continue
		}
		bin := filepath.Join(t.TempDir(), "berth")
		extract(t, layers[1], "berth", bin)
		out, err := exec.CommandContext(t.Context(), bin, "version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "berth ") {
			t.Errorf("the image's berth version: %v\n%s", err, out)
		}
	}
	if strings.Join(arches, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("platforms %v, want linux/amd64 and linux/arm64", arches)
	}
	if len(bases) != 1 {
		t.Errorf("%d base layers, want one shared by every platform", len(bases))
	}

	dir := filepath.Join(t.TempDir(), "layout")
	build("--oci-layout", dir)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := again.IndexManifest()
	if err != nil || len(m.Manifests) != 1 || m.Manifests[0].Digest != digest {
		t.Errorf("built again: %+v (%v), want the index %s", m, err, digest)
	}
}

// extract writes the file named file of layer l to path.
func extract(t *testing.T, l v1.Layer, file, path string) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("no %s in the layer", file)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != file {
			continue
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
}
