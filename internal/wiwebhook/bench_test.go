package wiwebhook

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berthhq/berth/internal/pki"
	"github.com/berthhq/berth/internal/testutil/kubetest"
)

// burst is how many pods are created at once.
const burst = 200

// BenchmarkPodCreation: bursts of 200 concurrent pod creations through a
// real API server, each timed from the request to the created pod:
// without the webhook (unlabelled pods, which the webhook's
// objectSelector keeps from it) for the API server's own share, and
// with it, each admission one review and one service account read. The
// API server speaks HTTP/2 to a webhook at a loopback URL, as here, and
// HTTP/1.1 to one behind a Service, as in a cluster; "http1" is the
// same webhook on a server that offers HTTP/1.1 alone. "http2" is Serve,
// in this process, as berth workload-identity-webhook runs it. An op is
// one burst.
func BenchmarkPodCreation(b *testing.B) {
	cluster := kubetest.Start(b, kubetest.Options{})
	ctx := b.Context()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{ClientIDAnnotation: testClient}}}
	if _, err := cluster.Client.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	// The clients of the bursts and of the HTTP/1.1 webhook, unthrottled
	// as Serve's is.
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS = -1
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	addr, cert, caPEM := serveForBench(b, cluster)
	register(b, cluster, "http2", addr, caPEM)
	// httptest offers HTTP/1.1 alone unless told otherwise.
	http1 := httptest.NewUnstartedServer((&Webhook{Config: testConfig, Accounts: Kube{client}, Log: discard}).Handler())
	http1.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	http1.StartTLS()
	b.Cleanup(http1.Close)
	register(b, cluster, "http1", http1.URL, caPEM)

	pods := client.CoreV1().Pods("default")
	pod := func(name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "app", Image: "app"}, {Name: "side", Image: "side"}}}}
	}
	runs := []struct {
		name   string
		labels map[string]string
	}{
		{"without-webhook", map[string]string{"bench": "plain"}},
		{"webhook-http2", map[string]string{"bench": "http2", UseLabel: "true"}},
		{"webhook-http1", map[string]string{"bench": "http1", UseLabel: "true"}},
	}
	// The API server starts calling a new webhook within moments.
	for _, run := range runs[1:] {
		for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
			p, err := pods.Create(ctx, pod("probe", run.labels), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err == nil && len(p.Spec.Containers[0].Env) == 4 {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("%s: the webhook was not called within 30s: %v", run.name, err)
			}
		}
	}

	for _, run := range runs {
		b.Run(run.name, func(b *testing.B) {
			var ds []time.Duration
			var mu sync.Mutex
			for i := range b.N {
				var wg sync.WaitGroup
				for j := range burst {
					wg.Go(func() {
						start := time.Now()
						p, err := pods.Create(ctx, pod(fmt.Sprintf("%s-%d-%d", run.name, i, j), run.labels), metav1.CreateOptions{})
						d := time.Since(start)
						if err != nil {
							b.Error(err)
							return
						}
						if _, wi := run.labels[UseLabel]; wi != (len(p.Spec.Containers[0].Env) == 4) {
							b.Errorf("pod %s admitted with %v", p.Name, p.Spec.Containers[0].Env)
						}
						mu.Lock()
						ds = append(ds, d)
						mu.Unlock()
					})
				}
				wg.Wait()
				b.StopTimer()
				zero := int64(0)
				if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{LabelSelector: "bench"}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			slices.Sort(ds)
			at := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
			b.ReportMetric(at(0.50), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
			b.ReportMetric(float64(len(ds))/b.Elapsed().Seconds(), "pods/s")
		})
	}
}

// register has the API server send the creation of pods labelled
// bench=via and azure.workload.identity/use=true to the webhook at addr.
func register(b *testing.B, cluster *kubetest.Cluster, via, addr string, caPEM []byte) {
	url := addr + "/mutate"
	fail, none, ifNeeded := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.IfNeededReinvocationPolicy
	_, err := cluster.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(b.Context(), &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-" + via},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: via + ".workload-identity.berth", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{UseLabel: "true", "bench": via}},
			FailurePolicy:  &fail, SideEffects: &none, ReinvocationPolicy: &ifNeeded, AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
}

// serveForBench runs Serve for the cluster, as its administrator, with a
// certificate for 127.0.0.1, and returns its URL, the certificate and
// its CA's PEM.
func serveForBench(b *testing.B, cluster *kubetest.Cluster) (string, tls.Certificate, []byte) {
	dir := b.TempDir()
	cert, err := pki.Ensure(dir, []string{"127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	o := Options{Config: testConfig, Listen: "127.0.0.1:0", Kubeconfig: cluster.Kubeconfig,
		CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	os.WriteFile(o.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
	os.WriteFile(o.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	caPEM, err := os.ReadFile(filepath.Join(dir, pki.CACertFile))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, o, w, discard); w.Close() }()
	b.Cleanup(func() { cancel(); <-done })
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		b.Fatalf("Serve: %v", <-done)
	}
	go io.Copy(io.Discard, r)
	_, addr, _ := strings.Cut(strings.TrimSpace(line), " is serving at ")
	return addr, cert, caPEM
}

// BenchmarkReview: the webhook's own work for one labelled pod, from
// the review's bytes to the answer's, with the service account at hand.
func BenchmarkReview(b *testing.B) {
	w := &Webhook{Config: testConfig, Accounts: oneAccount{withClient()}, Log: discard}
	pod := newPod(nil, []string{"setup"}, "app", "side")
	body := reviewOf(b, "CREATE", podKind, pod)
	for b.Loop() {
		out, err := w.Review(context.Background(), body)
		if err != nil || !out.Response.Allowed || out.Response.Patch == nil {
			b.Fatal(err, out)
		}
	}
}
