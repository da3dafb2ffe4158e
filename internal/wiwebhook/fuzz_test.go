package wiwebhook

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

// oneAccount answers every look-up with the same service account. The
// fuzzer makes thousands of reviews a second, so the account is an
// input here rather than an API server's answer; TestReviewWithAPIServer
// reads real ones.
type oneAccount struct{ sa *corev1.ServiceAccount }

func (o oneAccount) ServiceAccount(context.Context, string, string) (*corev1.ServiceAccount, error) {
	return o.sa, nil
}

// FuzzReview: whatever body arrives is refused as ErrMalformed or
// answered for its uid. And a pod as the API server sends it (encoded
// from its type) that is admitted gets a patch the API server's
// JSONPatch library applies, after which a second review changes nothing.
func FuzzReview(f *testing.F) {
	seed := labelled("p", "web")
	seed.Annotations = map[string]string{SkipContainersAnnotation: "side", ExpirationAnnotation: "7200"}
	seed.Spec.InitContainers = []corev1.Container{{Name: "init", Env: []corev1.EnvVar{{Name: ClientIDEnv, Value: "own"}}}}
	seed.Spec.Containers = append(seed.Spec.Containers, corev1.Container{Name: "side"})
	f.Add(reviewOf(f, admissionv1.Create, podKind, seed))
	f.Add(reviewOf(f, admissionv1.Create, podKind, labelled("q", "")))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{"metadata":{"labels":{"azure.workload.identity/use":"true"}},"spec":{"containers":[{"name":"a","env":[]}],"volumes":null}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":[]}}`))
	f.Add([]byte(`{}`))
	w := &Webhook{Config: testConfig, Accounts: oneAccount{withClient()}, Log: discard}
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx := context.Background()
		out, err := w.Review(ctx, body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Review: %v is not ErrMalformed", err)
			}
			return
		}
		var in admissionv1.AdmissionReview
		json.Unmarshal(body, &in)
		r := out.Response
		if r == nil || r.UID != in.Request.UID || out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
			t.Fatalf("answer %+v to %s", out, body)
		}
		if !r.Allowed && (r.Result == nil || r.Result.Message == "" || r.Patch != nil) {
			t.Fatalf("refusal %+v", r)
		}

		var pod corev1.Pod
		if in.Request.Kind != podKind || json.Unmarshal(in.Request.Object.Raw, &pod) != nil {
			return
		}
		raw, _ := json.Marshal(&pod)
		in.Request.Object.Raw = raw
		canonical, _ := json.Marshal(in)
		first, err := w.Review(ctx, canonical)
		if err != nil || !first.Response.Allowed || first.Response.Patch == nil {
			return
		}
		patch, err := jsonpatch.DecodePatch(first.Response.Patch)
		if err != nil {
			t.Fatalf("patch %s: %v", first.Response.Patch, err)
		}
		if in.Request.Object.Raw, err = patch.Apply(raw); err != nil {
			t.Fatalf("patch %s does not apply to %s: %v", first.Response.Patch, raw, err)
		}
		again, _ := json.Marshal(in)
		second, err := w.Review(ctx, again)
		if err != nil {
			t.Fatal(err)
		}
		if r := second.Response; !r.Allowed || r.Patch != nil {
			t.Fatalf("second review of %s: allowed %v, patch %s, %+v", in.Request.Object.Raw, r.Allowed, r.Patch, r.Result)
		}
	})
}
