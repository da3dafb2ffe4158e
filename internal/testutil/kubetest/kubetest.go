package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berthhq/berth/internal/pki"
	"github.com/berthhq/berth/internal/testutil/proc"
)

const (
	apiserverEnv = "BERTH_KUBE_APISERVER"
	requireEnv   = "BERTH_REQUIRE_TOOLS"

	// Picking free ports and binding them are not atomic, so another
	// process can take one in between; a few tries make that practically
	// impossible to hit every time.
	startAttempts = 5
	readyTimeout  = 90 * time.Second
	stopTimeout   = 20 * time.Second
	pollEvery     = 100 * time.Millisecond
	// bindFailure is how etcd and kube-apiserver say a port is in use.
	bindFailure = "address already in use"
)

// Options shape the cluster's service-account tokens.
type Options struct {
	// Issuer is the service-account issuer: the tokens' iss claim and
	// the issuer of the discovery document, whose jwks_uri stays the API
	// server's own /openid/v1/jwks. Empty: the API server's own URL.
	Issuer string
	// Audiences are the audiences the API server accepts, and a token
	// request gets when it names none. Empty: the issuer alone.
	Audiences []string
}

// Cluster is a running API server and its etcd.
type Cluster struct {
	// URL is the API server's address, https://127.0.0.1:PORT.
	URL    string
	Issuer string
	// Kubeconfig is a kubeconfig file with administrator credentials,
	// for kubectl (KUBECONFIG=...).
	Kubeconfig string
	// CAFile holds the PEM certificate of the CA that signed the API
	// server's serving certificate; CA is the same as a pool.
	CAFile string
	CA     *x509.CertPool
	// Config and Client act as the administrator.
	Config *rest.Config
	Client *kubernetes.Clientset
	// ServiceAccountPublicKeyFile holds the PEM public key of the
	// service account signing key: what an issuer the cluster does not
	// serve itself publishes.
	ServiceAccountPublicKeyFile string

	dir       string
	token     string
	etcd, api *proc.Process
}

// Available reports whether the binaries are installed, as a test
// condition: not installed is an error only when BERTH_REQUIRE_TOOLS=1.
func Available() (bool, error) {
	if _, _, err := binaries(); err != nil {
		if os.Getenv(requireEnv) == "1" {
			return false, fmt.Errorf("%v (required because %s=1)", err, requireEnv)
		}
		return false, nil
	}
	return true, nil
}

// Start runs a cluster in a temporary directory for the duration of tb
// and stops it at tb's end. It skips tb when the binaries are missing or
// do not start, unless BERTH_REQUIRE_TOOLS=1, in which case it fails tb.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	began := time.Now()
	c, err := New(tb.TempDir(), opts)
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			tb.Fatalf("kubetest: %v (fatal because %s=1)", err, requireEnv)
		}
		tb.Skipf("kubetest: skipping: %v (set %s=1 to fail instead)", err, requireEnv)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Errorf("kubetest: %v", err)
		}
	})
	tb.Logf("kubetest: API server ready at %s in %v", c.URL, time.Since(began).Round(time.Millisecond))
	return c
}

// New runs a cluster with its files in dir, an existing directory; the
// caller stops it.
func New(dir string, opts Options) (*Cluster, error) {
	apiserverBin, etcdBin, err := binaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, CAFile: filepath.Join(dir, pki.CACertFile)}
	if err := c.writeCredentials(); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		err = c.start(apiserverBin, etcdBin, opts)
		if err == nil {
			break
		}
		c.Stop()
		if !errors.Is(err, proc.ErrPortTaken) || attempt == startAttempts {
			return nil, err
		}
	}
	if err := c.bootstrap(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// binaries finds kube-apiserver and etcd.
func binaries() (apiserver, etcd string, err error) {
	if apiserver = os.Getenv(apiserverEnv); apiserver == "" {
		if apiserver, err = exec.LookPath("kube-apiserver"); err != nil {
			return "", "", fmt.Errorf("kube-apiserver is not installed: set %s to the binary scripts/kube-apiserver.sh prints", apiserverEnv)
		}
	} else if _, err := exec.LookPath(apiserver); err != nil {
		return "", "", fmt.Errorf("%s: %v", apiserverEnv, err)
	}
	if etcd, err = exec.LookPath("etcd"); err != nil {
		return "", "", errors.New("etcd is not installed (Debian package etcd-server)")
	}
	return apiserver, etcd, nil
}

// writeCredentials makes what stays the same across start attempts: the
// serving certificate and its CA, the service-account signing key, and
// the administrator's token.
func (c *Cluster) writeCredentials() error {
	cert, err := pki.Ensure(c.dir, []string{"127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"})
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	if err := writeKey(c.path("apiserver.key"), cert.PrivateKey); err != nil {
		return err
	}
	if err := os.WriteFile(c.path("apiserver.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return err
	}
	c.CA = x509.NewCertPool()
	c.CA.AppendCertsFromPEM(caPEM)

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if err := writeKey(c.path("service-account.key"), saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	c.ServiceAccountPublicKeyFile = c.path("service-account.pub")
	if err := os.WriteFile(c.ServiceAccountPublicKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return err
	}

	b := make([]byte, 32)
	rand.Read(b)
	c.token = hex.EncodeToString(b)
	return os.WriteFile(c.path("tokens.csv"), []byte(c.token+",kubetest-admin,kubetest-admin,system:masters\n"), 0o600)
}

func writeKey(path string, key any) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func (c *Cluster) path(name string) string { return filepath.Join(c.dir, name) }

// start runs etcd and the API server on new free ports and waits until
// both answer.
func (c *Cluster) start(apiserverBin, etcdBin string, opts Options) error {
	ports, err := proc.FreePorts(3)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	c.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	dataDir := c.path("etcd")
	// A failed attempt may have left a member bound to the old peer URL.
	if err := os.RemoveAll(dataDir); err != nil {
		return err
	}
	c.etcd, err = proc.Start("etcd", c.path("etcd.log"), exec.Command(etcdBin,
		"--name", "kubetest",
		"--data-dir", dataDir,
		"--listen-client-urls", etcdURL,
		"--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "kubetest="+peerURL,
		// A member alone elects itself after one election timeout; the
		// default second is most of etcd's start-up.
		"--heartbeat-interval", "10",
		"--election-timeout", "100",
		"--logger", "zap",
	))
	if err != nil {
		return err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := c.etcd.WaitReady(readyTimeout, pollEvery, bindFailure, func() error { return get(plain, etcdURL+"/health", "") }); err != nil {
		return err
	}

	c.Issuer = opts.Issuer
	if c.Issuer == "" {
		c.Issuer = c.URL
	}
	audiences := opts.Audiences
	if len(audiences) == 0 {
		audiences = []string{c.Issuer}
	}
	c.api, err = proc.Start("kube-apiserver", c.path("apiserver.log"), exec.Command(apiserverBin,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		// The reconciler publishes the advertised address as the
		// kubernetes Service's endpoint, which must not be loopback;
		// nothing in the cluster reaches the API server through it.
		"--endpoint-reconciler-type", "none",
		"--secure-port", strconv.Itoa(ports[2]),
		"--cert-dir", c.dir,
		"--tls-cert-file", c.path("apiserver.crt"),
		"--tls-private-key-file", c.path("apiserver.key"),
		"--token-auth-file", c.path("tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--service-account-issuer", c.Issuer,
		"--service-account-key-file", c.path("service-account.key"),
		"--service-account-signing-key-file", c.path("service-account.key"),
		"--api-audiences", strings.Join(audiences, ","),
		"--profiling=false",
		// As kubeadm and managed clusters run it: node agents such as
		// NMI's DaemonSet are privileged, and the flag's default refuses
		// them.
		"--allow-privileged=true",
	))
	if err != nil {
		return err
	}
	admin := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.CA}}}
	return c.api.WaitReady(readyTimeout, pollEvery, bindFailure, func() error { return get(admin, c.URL+"/readyz", c.token) })
}

// bootstrap writes the kubeconfig, connects the clients, and makes what
// a real cluster's installer and controllers would: anonymous access to
// the issuer's discovery, and the default ServiceAccount.
func (c *Cluster) bootstrap() error {
	c.Config = &rest.Config{
		Host:            c.URL,
		BearerToken:     c.token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.CAFile},
	}
	var err error
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return err
	}
	c.Kubeconfig = c.path("kubeconfig")
	if err := c.writeKubeconfig(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Kubernetes binds this role only to service accounts; relying
	// parties outside the cluster read the issuer's keys without
	// credentials, which a cluster allows with this binding.
	_, err = c.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubetest:service-account-issuer-discovery"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:service-account-issuer-discovery"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:unauthenticated"}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("binding issuer discovery for anonymous users: %w", err)
	}
	_, err = c.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the default ServiceAccount: %w", err)
	}
	return nil
}

// writeKubeconfig writes the administrator's kubeconfig; JSON is YAML, and
// kubectl reads either.
func (c *Cluster) writeKubeconfig() error {
	type named struct {
		Name    string         `json:"name"`
		Cluster map[string]any `json:"cluster,omitempty"`
		User    map[string]any `json:"user,omitempty"`
		Context map[string]any `json:"context,omitempty"`
	}
	b, err := json.MarshalIndent(map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []named{{Name: "kubetest", Cluster: map[string]any{"server": c.URL, "certificate-authority": c.CAFile}}},
		"users":           []named{{Name: "kubetest-admin", User: map[string]any{"token": c.token}}},
		"contexts":        []named{{Name: "kubetest", Context: map[string]any{"cluster": "kubetest", "user": "kubetest-admin", "namespace": metav1.NamespaceDefault}}},
		"current-context": "kubetest",
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(c.Kubeconfig, b, 0o600)
}

// Stop stops the API server, then etcd.
func (c *Cluster) Stop() error {
	return errors.Join(c.api.Stop(stopTimeout), c.etcd.Stop(stopTimeout))
}

// get succeeds when url answers 200.
func get(client *http.Client, url, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// Kubectl runs kubectl as the administrator (its cache in the cluster's
// directory) and returns its output; a failure fails tb.
func (c *Cluster) Kubectl(tb testing.TB, args ...string) string {
	tb.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// WaitServed waits, up to three minutes, until the API server serves
// each resource as an informer asks for it: a list from its watch cache
// (resource version 0) and a watch. An established custom resource is
// not served at once, and on a loaded machine a controller's first
// requests for it can fail or hang for minutes.
func (c *Cluster) WaitServed(tb testing.TB, resources ...schema.GroupVersionResource) {
	tb.Helper()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		tb.Fatal(err)
	}
	served := func(gvr schema.GroupVersionResource) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return err
		}
		w, err := dyn.Resource(gvr).Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			return err
		}
		w.Stop()
		return nil
	}
	for _, gvr := range resources {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			err := served(gvr)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("the API server does not serve %s: %v", gvr.Resource, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
