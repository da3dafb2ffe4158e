package wiwebhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// MaxReview bounds a review's body: the API server sends the pod, which
// etcd keeps under 1.5 MiB, with some metadata.
const MaxReview = 4 << 20

// ErrMalformed is a body that is not an admission.k8s.io/v1
// AdmissionReview with a request: the API server never sends one, so it
// is answered with HTTP 400 rather than a review.
var ErrMalformed = errors.New("malformed admission review")

// Accounts reads service accounts; Kube is the API server's.
type Accounts interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
}

// Kube reads service accounts through the API server at each admission,
// so that an annotation changed just before a pod's creation counts.
type Kube struct{ Client kubernetes.Interface }

func (k Kube) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa, err := k.Client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, refuse("service account %s/%s does not exist", namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading service account %s/%s: %w", namespace, name, err)
	}
	return sa, nil
}

// Webhook answers admission reviews.
type Webhook struct {
	Config   Config
	Accounts Accounts
	Log      *slog.Logger
}

var podKind = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}

// Review answers the review in body. Its error is ErrMalformed; a pod
// refused is an answer, not an error.
func (w *Webhook) Review(ctx context.Context, body []byte) (*admissionv1.AdmissionReview, error) {
	var in admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	want := admissionv1.SchemeGroupVersion.String()
	if in.APIVersion != want || in.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("%w: it is %s %s, want %s AdmissionReview (admissionReviewVersions: [v1])", ErrMalformed, in.APIVersion, in.Kind, want)
	}
	req := in.Request
	if req == nil || req.UID == "" {
		return nil, fmt.Errorf("%w: no request or no request uid", ErrMalformed)
	}
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	patch, pod, err := w.admit(ctx, req)
	switch {
	case errors.Is(err, ErrRefused):
		resp.Allowed = false
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest, Reason: metav1.StatusReasonBadRequest, Message: err.Error()}
		w.Log.Info("pod refused", "namespace", req.Namespace, "pod", pod, "reason", err.Error())
	case err != nil:
		resp.Allowed = false
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Reason: metav1.StatusReasonInternalError, Message: err.Error()}
		w.Log.Warn("admission failed", "namespace", req.Namespace, "pod", pod, "err", err)
	case len(patch) > 0:
		resp.Patch = patch
		resp.PatchType = new(admissionv1.PatchTypeJSONPatch)
		w.Log.Debug("pod given a workload identity", "namespace", req.Namespace, "pod", pod)
	}
	return &admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: resp}, nil
}

// admit is the JSONPatch for the request's pod, empty when it needs none,
// and the pod's name for the log.
func (w *Webhook) admit(ctx context.Context, req *admissionv1.AdmissionRequest) (patch []byte, name string, err error) {
	name = req.Name
	if req.Operation != admissionv1.Create || req.SubResource != "" {
		return nil, name, nil
	}
	if req.Kind != podKind {
		return nil, name, refuse("the webhook admits pods, not %s (check the rules of its MutatingWebhookConfiguration)", req.Kind.String())
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return nil, name, refuse("reading the pod: %v", err)
	}
	if name == "" {
		// Pods of a controller are named by the API server after
		// admission.
		name = pod.GenerateName + "*"
	}
	if !takesPart(&pod) {
		return nil, name, nil
	}
	namespace := req.Namespace
	if namespace == "" {
		namespace = pod.Namespace
	}
	sa, err := w.Accounts.ServiceAccount(ctx, namespace, accountName(&pod))
	if err != nil {
		return nil, name, err
	}
	ops, err := w.Config.patch(&pod, sa)
	if err != nil || len(ops) == 0 {
		return nil, name, err
	}
	patch, err = json.Marshal(ops)
	return patch, name, err
}

// Handler serves POST /mutate and GET /healthz.
func (w *Webhook) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mutate", w.serveMutate)
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { io.WriteString(rw, "ok\n") })
	return mux
}

func (w *Webhook) serveMutate(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxReview))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		http.Error(rw, fmt.Sprintf("admission review over %d bytes", MaxReview), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(rw, "reading the admission review: "+err.Error(), http.StatusBadRequest)
		return
	}
	out, err := w.Review(r.Context(), body)
	if err != nil {
		w.Log.Warn("malformed admission review", "err", err)
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Write(b)
}
