package wiwebhook

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berthhq/berth/internal/testutil/kubetest"
)

var discard = slog.New(slog.DiscardHandler)

// reviewOf is the review the API server sends for a pod's creation.
func reviewOf(t testing.TB, op admissionv1.Operation, kind metav1.GroupVersionKind, pod *corev1.Pod) []byte {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("uid-" + pod.Name), Kind: kind, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "default", Name: pod.Name, Operation: op, Object: runtime.RawExtension{Raw: raw},
		},
	})
	return b
}

func post(t *testing.T, url string, body []byte) (int, *admissionv1.AdmissionReview, string) {
	t.Helper()
	resp, err := http.Post(url+"/mutate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r admissionv1.AdmissionReview
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &r); err != nil || r.Response == nil {
			t.Fatalf("answer %s: %v", b, err)
		}
	}
	return resp.StatusCode, &r, string(b)
}

func labelled(name, sa string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{UseLabel: "true"}},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "app", Image: "img"}}},
	}
}

// The HTTP surface: what is not a v1 review of a pod is answered with
// HTTP errors, and never reaches the service accounts (there are none).
func TestMalformedReviews(t *testing.T) {
	srv := httptest.NewServer((&Webhook{Config: testConfig, Log: discard}).Handler())
	defer srv.Close()
	pod := labelled("p", "web")
	v1beta1 := strings.Replace(string(reviewOf(t, admissionv1.Create, podKind, pod)), "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1)
	for _, tc := range []struct {
		name, body string
		status     int
		says       string
	}{
		{"not JSON", "{", 400, "malformed admission review"},
		{"no request", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, 400, "no request"},
		{"no uid", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`, 400, "no request uid"},
		{"v1beta1", v1beta1, 400, "admissionReviewVersions: [v1]"},
		{"over the bound", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + strings.Repeat("x", MaxReview) + `"}}`, 413, "over"},
	} {
		status, _, body := post(t, srv.URL, []byte(tc.body))
		if status != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, status, body, tc.status, tc.says)
		}
	}
	if resp, err := http.Get(srv.URL + "/mutate"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /mutate: %v %v", resp.Status, err)
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %v %v", resp.Status, err)
	}

	// Reviews answered without a service account: not a creation, not a
	// pod, not labelled.
	unlabelled := labelled("u", "web")
	unlabelled.Labels = nil
	for _, tc := range []struct {
		name    string
		body    []byte
		allowed bool
		says    string
	}{
		{"an update", reviewOf(t, admissionv1.Update, podKind, pod), true, ""},
		{"not a pod", reviewOf(t, admissionv1.Create, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, pod), false, "the webhook admits pods, not apps/v1, Kind=Deployment"},
		{"unlabelled", reviewOf(t, admissionv1.Create, podKind, unlabelled), true, ""},
	} {
		status, r, body := post(t, srv.URL, tc.body)
		if status != 200 || r.Response.Allowed != tc.allowed || r.Response.Patch != nil || r.APIVersion != "admission.k8s.io/v1" || r.Kind != "AdmissionReview" ||
			!strings.HasPrefix(string(r.Response.UID), "uid-") || (!tc.allowed && !strings.Contains(r.Response.Result.Message, tc.says)) {
			t.Errorf("%s: %d %s", tc.name, status, body)
		}
	}
}

// Reviews answered with the service accounts of a real API server.
func TestReviewWithAPIServer(t *testing.T) {
	cluster := kubetest.Start(t, kubetest.Options{})
	ctx := t.Context()
	for name, ann := range map[string]map[string]string{
		"web":    {ClientIDAnnotation: testClient, TenantIDAnnotation: testTenant},
		"nobody": nil,
	} {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann}}
		if _, err := cluster.Client.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer((&Webhook{Config: testConfig, Accounts: Kube{cluster.Client}, Log: discard}).Handler())
	defer srv.Close()

	pod := labelled("p", "web")
	status, r, body := post(t, srv.URL, reviewOf(t, admissionv1.Create, podKind, pod))
	if status != 200 || !r.Response.Allowed || r.Response.UID != "uid-p" || r.Response.PatchType == nil || *r.Response.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("labelled pod: %d %s", status, body)
	}
	raw, _ := json.Marshal(pod)
	patch, err := jsonpatch.DecodePatch(r.Response.Patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := patch.Apply(raw)
	var got corev1.Pod
	if err != nil || json.Unmarshal(out, &got) != nil {
		t.Fatalf("applying %s: %v", r.Response.Patch, err)
	}
	if env := envOf(got.Spec.Containers[0]); env[ClientIDEnv] != testClient || env[TenantIDEnv] != testTenant {
		t.Errorf("admitted with %v", env)
	}
	status, r, body = post(t, srv.URL, reviewOf(t, admissionv1.Create, podKind, &got))
	if status != 200 || !r.Response.Allowed || r.Response.Patch != nil || r.Response.PatchType != nil {
		t.Errorf("the admitted pod again: %d %s", status, body)
	}

	for _, tc := range []struct{ sa, says string }{
		{"nobody", "service account default/nobody has no annotation azure.workload.identity/client-id"},
		{"", "service account default/default has no annotation azure.workload.identity/client-id"},
		{"ghost", "service account default/ghost does not exist"},
	} {
		status, r, body := post(t, srv.URL, reviewOf(t, admissionv1.Create, podKind, labelled("q", tc.sa)))
		if status != 200 || r.Response.Allowed || r.Response.Patch != nil || r.Response.Result.Code != 400 ||
			!strings.Contains(r.Response.Result.Message, tc.says) {
			t.Errorf("service account %q: %d %s", tc.sa, status, body)
		}
	}

	// Running as an account that may not read service accounts: the
	// pod is refused with the API server's reason, as an internal error.
	tr, err := cluster.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	weak, err := kubernetes.NewForConfig(&rest.Config{Host: cluster.URL, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: cluster.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	weakSrv := httptest.NewServer((&Webhook{Config: testConfig, Accounts: Kube{weak}, Log: discard}).Handler())
	defer weakSrv.Close()
	status, r, body = post(t, weakSrv.URL, reviewOf(t, admissionv1.Create, podKind, pod))
	if status != 200 || r.Response.Allowed || r.Response.Result.Code != 500 || !strings.Contains(r.Response.Result.Message, "forbidden") {
		t.Errorf("without the right to read service accounts: %d %s", status, body)
	}
}
