package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthhq/berth/internal/testutil/kubetest"
)

// kubeKey holds a script's API server in testscript's Values.
type kubeKey struct{}

// kubeCommand is the scenario scripts' Kubernetes cluster, a real API
// server (see kubetest):
//
//	kube start [-issuer URL] [-audience AUD]...
//	    start one for the rest of the script, its service-account tokens
//	    issued by URL (default: the API server's own URL) for the
//	    audiences AUD (default: the issuer), and point kubectl at it as
//	    the administrator: KUBECONFIG, and KUBE_URL, KUBE_CA, KUBE_ISSUER,
//	    KUBE_SA_PUBLIC_KEY (the service account signing key's public half,
//	    PEM, for an issuer berth hosts)
//	kube create-token NAMESPACE SERVICE_ACCOUNT [-audience AUD]... [-duration D]
//	    print a token for the service account from the TokenRequest API
//
// Scripts guard it with the condition [kube].
func kubeCommand(ts *testscript.TestScript, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: kube start [-issuer URL] [-audience AUD]..., or kube create-token NAMESPACE SERVICE_ACCOUNT [-audience AUD]... [-duration D]")
	}
	slot := ts.Value(kubeKey{}).(**kubetest.Cluster)
	var audiences []string
	addAudience := func(v string) error { audiences = append(audiences, v); return nil }
	switch args[0] {
	case "start":
		fs := flag.NewFlagSet("kube start", flag.ContinueOnError)
		issuer := fs.String("issuer", "", "service-account issuer URL")
		fs.Func("audience", "an audience the API server accepts", addAudience)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *slot != nil {
			return fmt.Errorf("kube start: the script's API server is running already")
		}
		dir := filepath.Join(ts.Getenv("WORK"), ".kube")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		began := time.Now()
		c, err := kubetest.New(dir, kubetest.Options{Issuer: *issuer, Audiences: audiences})
		if err != nil {
			return err
		}
		ts.Defer(func() {
			if err := c.Stop(); err != nil {
				ts.Logf("kube: %v", err)
			}
		})
		*slot = c
		ts.Logf("kube: API server ready at %s in %v", c.URL, time.Since(began).Round(time.Millisecond))
		for k, v := range map[string]string{
			"KUBECONFIG":         c.Kubeconfig,
			"KUBE_URL":           c.URL,
			"KUBE_CA":            c.CAFile,
			"KUBE_ISSUER":        c.Issuer,
			"KUBE_SA_PUBLIC_KEY": c.ServiceAccountPublicKeyFile,
			// kubectl caches discovery under $HOME, which scripts lack.
			"KUBECACHEDIR": filepath.Join(dir, "cache"),
		} {
			ts.Setenv(k, v)
		}
		return nil
	case "create-token":
		if len(args) < 3 {
			return fmt.Errorf("usage: kube create-token NAMESPACE SERVICE_ACCOUNT [-audience AUD]... [-duration D]")
		}
		fs := flag.NewFlagSet("kube create-token", flag.ContinueOnError)
		fs.Func("audience", "an audience of the token", addAudience)
		duration := fs.Duration("duration", 0, "the token's lifetime (default: the API server's)")
		if err := fs.Parse(args[3:]); err != nil {
			return err
		}
		if *slot == nil {
			return fmt.Errorf("kube create-token: no API server; run kube start first")
		}
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences}}
		if *duration > 0 {
			seconds := int64(duration.Seconds())
			req.Spec.ExpirationSeconds = &seconds
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tr, err := (*slot).Client.CoreV1().ServiceAccounts(args[1]).CreateToken(ctx, args[2], req, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		fmt.Fprintln(ts.Stdout(), tr.Status.Token)
		return nil
	}
	return fmt.Errorf("unknown kube command %q", args[0])
}
