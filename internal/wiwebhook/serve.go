package wiwebhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options configure Serve.
type Options struct {
	Config
	// Listen is HOST:PORT.
	Listen string
	// CertFile and KeyFile are the serving certificate, read again
	// whenever either file changes, as a mounted Secret does when
	// renewed.
	CertFile, KeyFile string
	// Kubeconfig is the API server's kubeconfig file; empty means the
	// pod's in-cluster configuration.
	Kubeconfig string
}

// Serve runs the webhook until ctx is done. It prints "berth
// workload-identity-webhook is serving at https://ADDR" on stdout once it
// listens.
func Serve(ctx context.Context, o Options, stdout io.Writer, log *slog.Logger) error {
	if u, err := url.Parse(o.AuthorityHost); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--authority-host %q: want berth's address, https://HOST[:PORT]/", o.AuthorityHost)
	}
	cfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		return err
	}
	// Every admission reads one service account, so the webhook's reads
	// follow the pods' creations, which the API server already paces;
	// client-go's default of 5 a second would queue a burst of pods past
	// the admission timeout.
	cfg.QPS = -1
	cfg.UserAgent = "berth-workload-identity-webhook"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	certs := &keyPair{certFile: o.CertFile, keyFile: o.KeyFile, log: log}
	if _, err := certs.get(nil); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	wh := &Webhook{Config: o.Config, Accounts: Kube{client}, Log: log}
	// ServeTLS offers HTTP/2 too. The API server speaks it to a webhook
	// at a loopback URL; through a Service it keeps to HTTP/1.1, so that
	// its requests spread over the replicas.
	srv := &http.Server{Handler: wh.Handler(), TLSConfig: &tls.Config{GetCertificate: certs.get, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(stdout, "berth workload-identity-webhook is serving at https://%s\n", ln.Addr())
	log.Info("workload identity webhook started", "listen", ln.Addr().String(), "api_server", cfg.Host,
		"authority_host", o.AuthorityHost, "default_tenant", o.TenantID)
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("%w (outside a cluster, give --kubeconfig)", err)
	}
	return cfg, nil
}

// keyPair is the serving certificate, loaded again when its files'
// modification times change; a renewal that cannot be read keeps the
// certificate in use.
type keyPair struct {
	certFile, keyFile string
	log               *slog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	certTime time.Time
	keyTime  time.Time
}

func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	certInfo, err1 := os.Stat(k.certFile)
	keyInfo, err2 := os.Stat(k.keyFile)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := errors.Join(err1, err2); err != nil {
		if k.cert == nil {
			return nil, err
		}
		k.log.Warn("serving certificate unreadable; keeping the one in use", "err", err)
		return k.cert, nil
	}
	if k.cert != nil && certInfo.ModTime().Equal(k.certTime) && keyInfo.ModTime().Equal(k.keyTime) {
		return k.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert == nil {
			return nil, fmt.Errorf("serving certificate: %w", err)
		}
		k.log.Warn("serving certificate unreadable; keeping the one in use", "err", err)
		return k.cert, nil
	}
	if k.cert != nil {
		k.log.Info("serving certificate reloaded", "file", k.certFile)
	}
	k.cert, k.certTime, k.keyTime = &cert, certInfo.ModTime(), keyInfo.ModTime()
	return k.cert, nil
}
