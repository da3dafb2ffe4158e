// Command image builds berth's own OCI image without a container engine:
// berth, cross-compiled for each platform, laid with the system's CA roots
// and an unprivileged user on an empty base, as one image index. It pushes
// the index to a registry (berth itself will do) or writes it as an OCI
// image layout directory.
//
//	go run ./deploy/image --push HOST/REPO:TAG [--ca-file CA] [--platform linux/amd64,linux/arm64]
//	go run ./deploy/image --oci-layout DIR
//
// The build is reproducible: the same source gives the same digests (file
// times are the Unix epoch, binaries are built with -trimpath). Registry
// credentials come from the Docker configuration (DOCKER_CONFIG), as
// berth acr login writes them.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berthhq/berth/internal/pki"
)

// The image's user: not root, and the owner of the data directory.
const (
	uid     = 65532
	dataDir = "/var/lib/berth"
	// caBundle is where Go's crypto/x509 looks first on Linux.
	caBundle = "/etc/ssl/certs/ca-certificates.crt"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	push := fs.String("push", "", "push the image index to this reference (HOST/REPO:TAG)")
	layoutDir := fs.String("oci-layout", "", "write the image index to this OCI image layout directory")
	platforms := fs.String("platform", "linux/amd64,linux/arm64", "platforms to build, comma-separated")
	caFile := fs.String("ca-file", "", "CA certificates the registry's certificate chains to, beside the system's")
	roots := fs.String("ca-roots", caBundle, "the CA roots laid in the image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*push == "") == (*layoutDir == "") {
		return errors.New("give exactly one of --push and --oci-layout")
	}
	var ref name.Reference
	if *push != "" {
		var err error
		if ref, err = name.ParseReference(*push); err != nil {
			return fmt.Errorf("--push: %w", err)
		}
	}
	base, err := baseLayer(*roots)
	if err != nil {
		return err
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(gomod)), "go.mod") {
		return errors.New("run it inside berth's source tree: go env GOMOD names no go.mod")
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	work, err := os.MkdirTemp("", "berth-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range strings.Split(*platforms, ",") {
		plat, err := v1.ParsePlatform(strings.TrimSpace(p))
		if err != nil || plat.OS != "linux" {
			return fmt.Errorf("--platform %q: want linux/ARCH[/VARIANT]", p)
		}
		img, err := platformImage(root, work, base, *plat)
		if err != nil {
			return fmt.Errorf("%s: %w", plat, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	if *layoutDir != "" {
		p, err := layout.Write(*layoutDir, empty.Index)
		if err != nil {
			return err
		}
		if err := p.AppendIndex(idx); err != nil {
			return err
		}
		fmt.Printf("%s@%s\n", *layoutDir, digest)
		return nil
	}
	transport, err := transportWith(*caFile)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithTransport(transport)); err != nil {
		return err
	}
	fmt.Printf("%s@%s\n", ref.Context(), digest)
	return nil
}

// platformImage is berth for one platform: the shared base layer, then
// the binary.
func platformImage(root, work string, base v1.Layer, p v1.Platform) (v1.Image, error) {
	bin := filepath.Join(work, "berth-"+p.Architecture+p.Variant)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/berth")
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" {
		env = append(env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = root, env, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build: %w", err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	binLayer, err := layer([]entry{{name: "berth", mode: 0o755, data: data}})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base, binLayer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cfg.Config = v1.Config{
		Entrypoint:   []string{"/berth"},
		Cmd:          []string{"serve", "--listen", "0.0.0.0:8443", "--data-dir", dataDir},
		User:         fmt.Sprintf("%d:%d", uid, uid),
		WorkingDir:   dataDir,
		Env:          []string{"HOME=" + dataDir, "SSL_CERT_FILE=" + caBundle},
		ExposedPorts: map[string]struct{}{"8443/tcp": {}},
		Volumes:      map[string]struct{}{dataDir: {}},
	}
	return mutate.ConfigFile(img, cfg)
}

// baseLayer is what every platform shares: CA roots, the users, the data
// directory (the image user's) and /tmp.
func baseLayer(roots string) (v1.Layer, error) {
	ca, err := os.ReadFile(roots)
	if err != nil {
		return nil, fmt.Errorf("the CA roots to lay in the image: %w", err)
	}
	return layer([]entry{
		{name: "etc/", dir: true, mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nberth:x:%d:%d:berth:%s:/sbin/nologin\n", uid, uid, dataDir)},
		{name: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nberth:x:%d:\n", uid)},
		{name: "etc/ssl/", dir: true, mode: 0o755},
		{name: "etc/ssl/certs/", dir: true, mode: 0o755},
		{name: strings.TrimPrefix(caBundle, "/"), mode: 0o644, data: ca},
		{name: "tmp/", dir: true, mode: 0o1777},
		{name: "var/", dir: true, mode: 0o755},
		{name: "var/lib/", dir: true, mode: 0o755},
		{name: strings.TrimPrefix(dataDir, "/") + "/", dir: true, mode: 0o700, owner: uid},
	})
}

type entry struct {
	name  string
	dir   bool
	mode  int64
	owner int
	data  []byte
}

// layer is a gzip-compressed tar layer of entries, every time the epoch.
func layer(entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.owner, Gid: e.owner, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// transportWith trusts caFile's certificates beside the system's.
func transportWith(caFile string) (http.RoundTripper, error) {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	if caFile == "" {
		return t, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := pki.SystemRootsAnd(pem)
	if err != nil {
		return nil, fmt.Errorf("--ca-file %s: %w", caFile, err)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}
