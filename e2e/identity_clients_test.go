package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	orasremote "oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// identityEnv is a server with a registry made through the CLI, reached at
// its own login server name, and the administrator's CLI to hand out
// roles on it.
type identityEnv struct {
	t   *testing.T
	s   *berthtest.Server
	run func(args ...string) string
	// loginServer is the registry's name with the server's port, as
	// clients address it; registryID is its resource id.
	loginServer, registryID string
}

func newIdentityEnv(t *testing.T, registry string, serveArgs ...string) *identityEnv {
	t.Helper()
	s := startBerth(t, serveArgs...)
	run := adminCLI(t, s).run
	run("group", "create", "-n", "images", "-l", "westeurope", "-o", "none")
	run("acr", "create", "-n", registry, "-g", "images", "-o", "none")
	e := &identityEnv{t: t, s: s, run: run, registryID: run("acr", "show", "-n", registry, "--query", "id", "-o", "tsv")}
	ls := run("acr", "show", "-n", registry, "--query", "loginServer", "-o", "tsv")
	if !strings.HasPrefix(ls, registry+".") {
		t.Fatalf("login server %q of registry %s", ls, registry)
	}
	_, port, _ := net.SplitHostPort(s.Host)
	if h, _, err := net.SplitHostPort(ls); err == nil {
		ls = h
	}
	e.loginServer = net.JoinHostPort(ls, port)
	return e
}

// principal is a service principal's credentials.
type principal struct{ appID, secret string }

// principal makes a service principal with role on scope (the registry
// when scope is empty), as `ad sp create-for-rbac` does.
func (e *identityEnv) principal(name, role, scope string) principal {
	e.t.Helper()
	if scope == "" {
		scope = e.registryID
	}
	var out struct{ AppID, Password string }
	if err := json.Unmarshal([]byte(e.run("ad", "sp", "create-for-rbac", "--name", name, "--role", role, "--scopes", scope)), &out); err != nil || out.AppID == "" || out.Password == "" {
		e.t.Fatalf("create-for-rbac %s: %v %+v", name, err, out)
	}
	return principal{out.AppID, out.Password}
}

// transport reaches the server whatever host a client asks for, so that
// clients address registries by their login server names (which do not
// resolve here) and send those names as Host and server name.
func (e *identityEnv) transport() *http.Transport {
	tr := berthTransport(e.s)
	dialer := &net.Dialer{}
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, e.s.Host)
	}
	return tr
}

func (e *identityEnv) client() *http.Client { return &http.Client{Transport: e.transport()} }

// ggcr is go-containerregistry's options with credentials, through the
// login-server transport.
func (e *identityEnv) ggcr(ctx context.Context, cfg authn.AuthConfig) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(e.transport()), remote.WithAuth(authn.FromConfig(cfg))}
}

func (e *identityEnv) ref(repoTag string) name.Reference {
	e.t.Helper()
	ref, err := name.ParseReference(e.loginServer + "/" + repoTag)
	if err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// directoryToken logs a service principal in with the CLI and gets its
// directory token for resource, as `berth account get-access-token` does.
func directoryToken(t *testing.T, s *berthtest.Server, p principal, resource string) string {
	t.Helper()
	c := newCLI(t, t.TempDir())
	c.run("login", "--service-principal", "-u", p.appID, "-p", p.secret, "--tenant", s.Boot.TenantID, "--server", s.URL, "--ca-file", s.CAFile, "-o", "none")
	return c.run("account", "get-access-token", "--resource", resource, "--query", "accessToken", "-o", "tsv")
}

// exchange trades a directory token for a registry refresh token at a
// login server.
func (e *identityEnv) exchange(loginServer, directoryToken string) (int, string) {
	e.t.Helper()
	host, _, _ := net.SplitHostPort(loginServer)
	resp, err := e.client().PostForm("https://"+loginServer+"/oauth2/exchange", url.Values{
		"grant_type": {"access_token"}, "service": {host}, "tenant": {e.s.Boot.TenantID}, "access_token": {directoryToken},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &body)
	return resp.StatusCode, body.RefreshToken
}

// denied reports whether err is the registry refusing a request or a
// token for lack of rights.
func denied(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden)
}

// TestGGCRWithIdentity: go-containerregistry at a registry made with the
// CLI, with a service principal's app id and secret, and with the null
// user and a registry refresh token exchanged for a directory token; each
// may do what its role grants and no more.
func TestGGCRWithIdentity(t *testing.T) {
	t.Parallel()
	e := newIdentityEnv(t, "ggcrid")
	ctx := t.Context()
	pusher := e.principal("ggcr-pusher", "acrpush", "")
	puller := e.principal("ggcr-puller", "acrpull", "")

	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 2*mib, 1024)
	ref := e.ref("team/app:v1")
	if err := remote.Write(ref, img, e.ggcr(ctx, authn.AuthConfig{Username: pusher.appID, Password: pusher.secret})...); err != nil {
		t.Fatalf("push with AcrPush credentials: %v", err)
	}
	got, err := remote.Image(ref, e.ggcr(ctx, authn.AuthConfig{Username: puller.appID, Password: puller.secret})...)
	if err != nil {
		t.Fatalf("pull with AcrPull credentials: %v", err)
	}
	sameImage(t, "pulled with AcrPull credentials", img, got)

	other := ociImage(t, v1.Platform{OS: "linux", Architecture: "arm64"}, 1024)
	if err := remote.Write(e.ref("team/app:v2"), other, e.ggcr(ctx, authn.AuthConfig{Username: puller.appID, Password: puller.secret})...); !denied(err) {
		t.Fatalf("push with AcrPull credentials: %v, want it refused", err)
	}
	if _, err := remote.Head(e.ref("team/app:v2"), e.ggcr(ctx, authn.AuthConfig{Username: pusher.appID, Password: pusher.secret})...); err == nil {
		t.Fatal("the refused push left a tag")
	}

	// The null user with refresh tokens: the puller's pulls and cannot
	// push, the pusher's pushes. The same refresh token also works as
	// docker's identity token (a POST grant_type=refresh_token).
	for _, resource := range []string{"https://containerregistry.azure.net", "https://management.core.windows.net/"} {
		status, pullRT := e.exchange(e.loginServer, directoryToken(t, e.s, puller, resource))
		if status != http.StatusOK || pullRT == "" {
			t.Fatalf("exchange of the puller's %s token: %d", resource, status)
		}
		for what, cfg := range map[string]authn.AuthConfig{
			"null user":      {Username: nullUser, Password: pullRT},
			"identity token": {IdentityToken: pullRT},
		} {
			got, err := remote.Image(ref, e.ggcr(ctx, cfg)...)
			if err != nil {
				t.Fatalf("pull with the puller's refresh token (%s, %s): %v", resource, what, err)
			}
			sameImage(t, "pulled with a refresh token as "+what, img, got)
			if err := remote.Write(e.ref("team/app:v2"), other, e.ggcr(ctx, cfg)...); !denied(err) {
				t.Fatalf("push with the puller's refresh token (%s): %v, want it refused", what, err)
			}
		}
	}
	_, pushRT := e.exchange(e.loginServer, directoryToken(t, e.s, pusher, "https://containerregistry.azure.net"))
	if err := remote.Write(e.ref("team/app:v2"), other, e.ggcr(ctx, authn.AuthConfig{Username: nullUser, Password: pushRT})...); err != nil {
		t.Fatalf("push with the pusher's refresh token: %v", err)
	}
	got, err = remote.Image(e.ref("team/app:v2"), e.ggcr(ctx, authn.AuthConfig{Username: puller.appID, Password: puller.secret})...)
	if err != nil {
		t.Fatal(err)
	}
	sameImage(t, "pushed with a refresh token", other, got)
}

// pushAs pushes an image to the registry as a principal with
// go-containerregistry, for tests of other clients to read.
func (e *identityEnv) pushAs(p principal, repoTag string, img v1.Image) {
	e.t.Helper()
	if err := remote.Write(e.ref(repoTag), img, e.ggcr(e.t.Context(), authn.AuthConfig{Username: p.appID, Password: p.secret})...); err != nil {
		e.t.Fatalf("push %s: %v", repoTag, err)
	}
}

// TestAzContainerRegistrySDK: the cloud's registry SDK, with the cloud's
// client secret credential pointed at berth, lists repositories and gets
// a manifest: it does the challenge, exchange and token requests itself.
func TestAzContainerRegistrySDK(t *testing.T) {
	t.Parallel()
	e := newIdentityEnv(t, "sdkid")
	ctx := t.Context()
	pusher := e.principal("sdk-pusher", "acrpush", "")
	puller := e.principal("sdk-puller", "acrpull", "")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 1024)
	e.pushAs(pusher, "sdk/one:v1", img)

	// The pusher pushes sdk/two with the SDK's own blob and manifest
	// calls (an AcrPull principal cannot start an upload).
	pushClient, pushBlobs, _ := e.sdkClients(pusher)
	_, pullBlobs, _ := e.sdkClients(puller)
	if _, err := pullBlobs.StartUpload(ctx, "sdk/two", nil); !sdkStatus(err, http.StatusUnauthorized) {
		t.Fatalf("upload with AcrPull: %v, want 401", err)
	}
	upload := func(data []byte) string {
		start, err := pushBlobs.StartUpload(ctx, "sdk/two", nil)
		if err != nil {
			t.Fatalf("start upload: %v", err)
		}
		calc := azcontainerregistry.NewBlobDigestCalculator()
		chunk, err := pushBlobs.UploadChunk(ctx, *start.Location, bytes.NewReader(data), calc, nil)
		if err != nil {
			t.Fatalf("upload chunk: %v", err)
		}
		done, err := pushBlobs.CompleteUpload(ctx, *chunk.Location, calc, nil)
		if err != nil {
			t.Fatalf("complete upload: %v", err)
		}
		return *done.DockerContentDigest
	}
	layerData, configData := []byte("sdk layer"), []byte(`{"architecture":"arm64","os":"linux"}`)
	sdkManifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + upload(configData) + `","size":` + strconv.Itoa(len(configData)) + `},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + upload(layerData) + `","size":` + strconv.Itoa(len(layerData)) + `}]}`)
	if _, err := pushClient.UploadManifest(ctx, "sdk/two", "v1", azcontainerregistry.ContentTypeApplicationVndOciImageManifestV1JSON,
		streaming.NopCloser(bytes.NewReader(sdkManifest)), nil); err != nil {
		t.Fatalf("upload manifest: %v", err)
	}

	client, _, rec := e.sdkClients(puller)

	var repos []string
	pager := client.NewListRepositoriesPager(&azcontainerregistry.ClientListRepositoriesOptions{MaxNum: ptr(int32(1))})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list repositories: %v", err)
		}
		for _, r := range page.Repositories.Names {
			repos = append(repos, *r)
		}
	}
	if !slices.Equal(repos, []string{"sdk/one", "sdk/two"}) {
		t.Errorf("repositories %v, want [sdk/one sdk/two]", repos)
	}

	want, _ := img.RawManifest()
	digest, _ := img.Digest()
	m, err := client.GetManifest(ctx, "sdk/one", "v1", &azcontainerregistry.ClientGetManifestOptions{Accept: ptr(string(ocispec.MediaTypeImageManifest))})
	if err != nil {
		t.Fatalf("get manifest: %v", err)
	}
	got, err := io.ReadAll(m.ManifestData)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || m.DockerContentDigest == nil || *m.DockerContentDigest != digest.String() {
		t.Errorf("manifest %s (digest %v), want %s (%s)", got, m.DockerContentDigest, want, digest)
	}
	m, err = client.GetManifest(ctx, "sdk/two", "v1", &azcontainerregistry.ClientGetManifestOptions{Accept: ptr(string(ocispec.MediaTypeImageManifest))})
	if err != nil {
		t.Fatalf("get the manifest pushed with the SDK: %v", err)
	}
	if got, _ := io.ReadAll(m.ManifestData); !bytes.Equal(got, sdkManifest) {
		t.Errorf("manifest pushed with the SDK came back as %s", got)
	}

	// The SDK exchanged its directory token once and got its access
	// tokens with the refresh token; berth's tokens decode the way the
	// SDK decodes them (standard base64 after re-padding).
	if n := len(rec.find(func(x exchange) bool { return strings.Contains(x.url, "/oauth2/exchange") && x.status == 200 })); n != 1 {
		t.Errorf("%d successful exchanges, want 1", n)
	}
	if n := len(rec.find(func(x exchange) bool { return strings.Contains(x.url, "/oauth2/token") && x.status == 200 })); n < 2 {
		t.Errorf("%d access tokens issued, want one for the catalog and one for the repository", n)
	}
}

func ptr[T any](v T) *T { return &v }

// sdkClients are the registry SDK's clients for a principal, with the
// cloud's client secret credential pointed at berth and the registry's
// audience, and the recorder of every request they and the credential
// make.
func (e *identityEnv) sdkClients(p principal) (*azcontainerregistry.Client, *azcontainerregistry.BlobClient, *recorder) {
	e.t.Helper()
	rec := &recorder{rt: e.transport()}
	cfg := cloudAt(e.s)
	cfg.Services[azcontainerregistry.ServiceName] = cloud.ServiceConfiguration{Audience: "https://containerregistry.azure.net"}
	opts := azcore.ClientOptions{Cloud: cfg, Transport: &http.Client{Transport: rec}}
	cred, err := azidentity.NewClientSecretCredential(e.s.Boot.TenantID, p.appID, p.secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	if err != nil {
		e.t.Fatal(err)
	}
	client, err := azcontainerregistry.NewClient("https://"+e.loginServer, cred, &azcontainerregistry.ClientOptions{ClientOptions: opts})
	if err != nil {
		e.t.Fatal(err)
	}
	blobs, err := azcontainerregistry.NewBlobClient("https://"+e.loginServer, cred, &azcontainerregistry.BlobClientOptions{ClientOptions: opts})
	if err != nil {
		e.t.Fatal(err)
	}
	return client, blobs, rec
}

func sdkStatus(err error, status int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}

// TestContainerdResolverWithIdentity: containerd's docker resolver with a
// service principal's credentials resolves a tag and fetches the
// manifest; it asks for its token with a POST first.
func TestContainerdResolverWithIdentity(t *testing.T) {
	t.Parallel()
	e := newIdentityEnv(t, "ctrdid")
	ctx := t.Context()
	pusher := e.principal("ctrd-pusher", "acrpush", "")
	puller := e.principal("ctrd-puller", "acrpull", "")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 1024)
	e.pushAs(pusher, "containerd/app:v1", img)
	want, _ := img.RawManifest()
	digest, _ := img.Digest()

	_, refreshToken := e.exchange(e.loginServer, directoryToken(t, e.s, puller, "https://containerregistry.azure.net"))
	for what, creds := range map[string][2]string{
		"app id and secret": {puller.appID, puller.secret},
		// No user name: containerd sends the secret as a refresh token.
		"refresh token": {"", refreshToken},
	} {
		rec := &recorder{rt: e.transport()}
		hc := &http.Client{Transport: rec}
		authorizer := docker.NewDockerAuthorizer(docker.WithAuthClient(hc), docker.WithAuthCreds(func(host string) (string, string, error) {
			if host != e.loginServer {
				return "", "", errors.New("credentials asked for " + host)
			}
			return creds[0], creds[1], nil
		}))
		resolver := docker.NewResolver(docker.ResolverOptions{
			Hosts: docker.ConfigureDefaultRegistries(docker.WithClient(hc), docker.WithAuthorizer(authorizer)),
		})
		refName, desc, err := resolver.Resolve(ctx, e.loginServer+"/containerd/app:v1")
		if err != nil {
			t.Fatalf("%s: resolve: %v", what, err)
		}
		if desc.Digest.String() != digest.String() || desc.MediaType != ocispec.MediaTypeImageManifest {
			t.Errorf("%s: resolved %s %s, want %s", what, desc.MediaType, desc.Digest, digest)
		}
		fetcher, err := resolver.Fetcher(ctx, refName)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := fetcher.Fetch(ctx, desc)
		if err != nil {
			t.Fatalf("%s: fetch: %v", what, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: fetched %s (%v), want %s", what, got, err, want)
		}
		posts := rec.find(func(x exchange) bool { return x.method == http.MethodPost && strings.Contains(x.url, "/oauth2/token") })
		if len(posts) == 0 || posts[0].status != http.StatusOK {
			t.Errorf("%s: containerd's token POST: %+v, want it answered", what, posts)
		}
	}
}

// TestORASWithIdentity: oras-go with a service principal's credentials,
// by the distribution token GET and by the OAuth2 password POST.
func TestORASWithIdentity(t *testing.T) {
	t.Parallel()
	e := newIdentityEnv(t, "orasid")
	ctx := t.Context()
	pusher := e.principal("oras-pusher", "acrpush", "")
	puller := e.principal("oras-puller", "acrpull", "")

	repoAs := func(p principal, oauth2 bool) *orasremote.Repository {
		repo, err := orasremote.NewRepository(e.loginServer + "/oras/artifact")
		if err != nil {
			t.Fatal(err)
		}
		repo.Client = &auth.Client{
			Client:             &http.Client{Transport: e.transport()},
			Cache:              auth.NewCache(),
			Credential:         auth.StaticCredential(e.loginServer, auth.Credential{Username: p.appID, Password: p.secret}),
			ForceAttemptOAuth2: oauth2,
		}
		return repo
	}

	local := memory.New()
	data := []byte("berth oras identity\n")
	layer := content.NewDescriptorFromBytes("application/vnd.berth.test.file", data)
	if err := local.Push(ctx, layer, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	artifact, err := oras.PackManifest(ctx, local, oras.PackManifestVersion1_1, "application/vnd.berth.test.artifact", oras.PackManifestOptions{
		Layers: []ocispec.Descriptor{layer}, ManifestAnnotations: map[string]string{"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := local.Tag(ctx, artifact, "v1"); err != nil {
		t.Fatal(err)
	}
	for _, oauth2 := range []bool{false, true} {
		if _, err := oras.Copy(ctx, local, "v1", repoAs(puller, oauth2), "v1", oras.DefaultCopyOptions); err == nil {
			t.Fatalf("push with AcrPull credentials (OAuth2 %v) succeeded", oauth2)
		}
		if _, err := oras.Copy(ctx, local, "v1", repoAs(pusher, oauth2), "v1", oras.DefaultCopyOptions); err != nil {
			t.Fatalf("push with AcrPush credentials (OAuth2 %v): %v", oauth2, err)
		}
		back := memory.New()
		desc, err := oras.Copy(ctx, repoAs(puller, oauth2), "v1", back, "v1", oras.DefaultCopyOptions)
		if err != nil || desc.Digest != artifact.Digest {
			t.Fatalf("pull with AcrPull credentials (OAuth2 %v): %v %s", oauth2, err, desc.Digest)
		}
		got, err := content.FetchAll(ctx, back, layer)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("pulled layer %q (%v)", got, err)
		}
	}
}

// TestSkopeoWithIdentity: skopeo copies to and from the default registry
// at the server's address with service principals' credentials.
func TestSkopeoWithIdentity(t *testing.T) {
	t.Parallel()
	sk := newSkopeo(t)
	s := startBerth(t)
	run := adminCLI(t, s).run
	e := &identityEnv{t: t, s: s, run: run, registryID: run("acr", "show", "-n", s.Boot.Registry, "--query", "id", "-o", "tsv")}
	pusher := e.principal("skopeo-pusher", "acrpush", "")
	puller := e.principal("skopeo-puller", "acrpull", "")

	certs := t.TempDir()
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 2*mib, 512)
	p, err := layout.Write(src, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{ocispec.AnnotationRefName: "v1"})); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	dest := "docker://" + s.Host + "/skopeo/identity:v1"
	if out, err := sk.try("copy", "--dest-creds", puller.appID+":"+puller.secret, "--dest-cert-dir", certs, "oci:"+src+":v1", dest); err == nil {
		t.Fatalf("skopeo push with AcrPull credentials succeeded:\n%s", out)
	}
	sk.run("copy", "--preserve-digests", "--dest-creds", pusher.appID+":"+pusher.secret, "--dest-cert-dir", certs, "oci:"+src+":v1", dest)
	back := t.TempDir()
	sk.run("copy", "--preserve-digests", "--src-creds", puller.appID+":"+puller.secret, "--src-cert-dir", certs, dest, "oci:"+back+":v1")
	if got := layoutDigest(t, back, "v1"); got != want {
		t.Errorf("copied back: manifest %s, pushed %s", got, want)
	}
}

// try runs skopeo and returns its error instead of failing the test.
func (k *skopeo) try(args ...string) ([]byte, error) {
	cmd := exec.CommandContext(k.t.Context(), k.bin, append([]string{"--policy", k.policy}, args...)...)
	cmd.Env = k.env
	return cmd.CombinedOutput()
}
