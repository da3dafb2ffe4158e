package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// imageCommand is the scenario scripts' container client, go-containerregistry
// with the registry's own auth flow (challenge, token endpoint):
//
//	image push REF USER PASSWORD         push a small random image
//	image pull REF USER PASSWORD         pull REF's manifest and layers
//	image pull-with-secret FILE REF      pull with the credentials a
//	                                     kubernetes.io/dockerconfigjson Secret
//	                                     (JSON, as kubectl prints it) holds for
//	                                     REF's registry, as the kubelet does
//	image pull-with-helper REF           pull with the credentials
//	                                     docker-credential-berth gets for
//	                                     REF's registry, as docker does with
//	                                     "credHelpers" (in the script's
//	                                     BERTH_CONFIG_DIR and metadata endpoint)
//	image pull-with-provider FILE REF    pull with the credentials
//	                                     berth credential-provider FILE answers
//	                                     a kubelet's CredentialProviderRequest
//	                                     for REF with (in the script's metadata
//	                                     endpoint), as the kubelet does
//
// Login servers (*.cr.localhost) are dialed at the server's address: no
// DNS is needed.
func imageCommand(ts *testscript.TestScript, s *berthtest.Server, bin string, args []string) error {
	if len(args) < 2 {
		return errors.New("usage: image push|pull REF USER PASSWORD, image pull-with-secret FILE REF, image pull-with-helper REF, or image pull-with-provider NODE_FILE REF")
	}
	var ref, user, pass string
	switch args[0] {
	case "push", "pull":
		if len(args) != 4 {
			return errors.New("usage: image push|pull REF USER PASSWORD")
		}
		ref, user, pass = args[1], args[2], args[3]
	case "pull-with-secret":
		if len(args) != 3 {
			return errors.New("usage: image pull-with-secret FILE REF")
		}
		ref = args[2]
		var err error
		if user, pass, err = secretCredentials(ts.ReadFile(args[1]), ref); err != nil {
			return err
		}
	case "pull-with-helper":
		ref = args[1]
		var err error
		if user, pass, err = helperCredentials(ts, bin, ref); err != nil {
			return err
		}
	case "pull-with-provider":
		if len(args) != 3 {
			return errors.New("usage: image pull-with-provider NODE_FILE REF")
		}
		ref = args[2]
		var err error
		if user, pass, err = providerCredentials(ts, bin, ts.MkAbs(args[1]), ref); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown image command %q", args[0])
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	dial := &net.Dialer{}
	tr := &http.Transport{TLSClientConfig: s.TLSConfig(), ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, _ := net.SplitHostPort(addr); strings.HasSuffix(host, ".cr.localhost") {
				addr = s.Host
			}
			return dial.DialContext(ctx, network, addr)
		}}
	opts := []remote.Option{remote.WithTransport(tr), remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: user, Password: pass}))}
	if args[0] == "push" {
		img, err := random.Image(1024, 2)
		if err != nil {
			return err
		}
		return remote.Write(r, img, opts...)
	}
	img, err := remote.Image(r, opts...)
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		rc.Close()
	}
	ts.Logf("pulled %s: %d layers", ref, len(layers))
	return nil
}

// secretCredentials finds, in a dockerconfigjson Secret, the user name and
// password for ref's registry.
func secretCredentials(secretJSON, ref string) (user, pass string, err error) {
	var secret struct {
		Type string            `json:"type"`
		Data map[string][]byte `json:"data"`
	}
	if err := json.Unmarshal([]byte(secretJSON), &secret); err != nil {
		return "", "", err
	}
	if secret.Type != "kubernetes.io/dockerconfigjson" {
		return "", "", fmt.Errorf("secret of type %q", secret.Type)
	}
	var cfg struct {
		Auths map[string]struct {
			Username, Password, Auth string
		} `json:"auths"`
	}
	if err := json.Unmarshal(secret.Data[".dockerconfigjson"], &cfg); err != nil {
		return "", "", err
	}
	host := strings.SplitN(ref, "/", 2)[0]
	a, ok := cfg.Auths[host]
	if !ok {
		return "", "", fmt.Errorf("the secret has no credentials for %s", host)
	}
	// The kubelet uses "auth" when present; it must agree with the rest.
	if dec, err := base64.StdEncoding.DecodeString(a.Auth); err != nil || string(dec) != a.Username+":"+a.Password {
		return "", "", fmt.Errorf("the secret's auth does not match its username and password")
	}
	return a.Username, a.Password, nil
}

// helperCredentials runs the berth binary as docker-credential-berth get
// for ref's registry, in the script's configuration and metadata
// endpoint, and returns what docker would send.
func helperCredentials(ts *testscript.TestScript, bin, ref string) (user, pass string, err error) {
	host := strings.SplitN(ref, "/", 2)[0]
	helper := cli{bin: bin, as: "docker-credential-berth", stdin: host + "\n"}
	for _, k := range []string{"BERTH_CONFIG_DIR", "BERTH_IMDS_ENDPOINT", "DOCKER_CONFIG"} {
		helper.env = append(helper.env, k+"="+ts.Getenv(k))
	}
	out, stderr, err := helper.exec("get")
	if err != nil {
		return "", "", fmt.Errorf("docker-credential-berth get %s: %v: %s%s", host, err, out, stderr)
	}
	var c struct{ ServerURL, Username, Secret string }
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.Secret == "" {
		return "", "", fmt.Errorf("docker-credential-berth get %s: %q (%v)", host, out, err)
	}
	return c.Username, c.Secret, nil
}

// providerCredentials runs berth credential-provider with a kubelet's
// request for ref on stdin, in the script's metadata endpoint, and returns
// what the kubelet would pull with: the credentials answered for ref's
// registry. A provider that fails is an error, as a kubelet pull without
// credentials would be.
func providerCredentials(ts *testscript.TestScript, bin, nodeFile, ref string) (user, pass string, err error) {
	provider := cli{bin: bin, env: []string{"BERTH_IMDS_ENDPOINT=" + ts.Getenv("BERTH_IMDS_ENDPOINT")},
		stdin: `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"` + ref + `"}`}
	out, stderr, err := provider.exec("credential-provider", nodeFile)
	if err != nil {
		return "", "", fmt.Errorf("berth credential-provider: %v: %s", err, stderr)
	}
	var resp struct {
		APIVersion, Kind, CacheKeyType, CacheDuration string
		Auth                                          map[string]struct{ Username, Password string }
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return "", "", fmt.Errorf("berth credential-provider answered %q: %v", out, err)
	}
	if resp.APIVersion != "credentialprovider.kubelet.k8s.io/v1" || resp.Kind != "CredentialProviderResponse" || resp.CacheKeyType != "Registry" {
		return "", "", fmt.Errorf("berth credential-provider answered %s %s keyed by %q", resp.APIVersion, resp.Kind, resp.CacheKeyType)
	}
	host := strings.SplitN(ref, "/", 2)[0]
	a, ok := resp.Auth[host]
	if !ok {
		return "", "", fmt.Errorf("berth credential-provider has no credentials for %s (cache %s)", host, resp.CacheDuration)
	}
	if d, err := time.ParseDuration(resp.CacheDuration); err != nil || d <= 0 {
		return "", "", fmt.Errorf("berth credential-provider's cacheDuration %q", resp.CacheDuration)
	}
	ts.Logf("credential provider: %s for %s, cached %s", a.Username, host, resp.CacheDuration)
	return a.Username, a.Password, nil
}
