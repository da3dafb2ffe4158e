package wiwebhook

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	testClient    = "11111111-1111-1111-1111-111111111111"
	testTenant    = "22222222-2222-2222-2222-222222222222"
	defaultTenant = "33333333-3333-3333-3333-333333333333"
	authority     = "https://berth.example:8443/"
)

var testConfig = Config{AuthorityHost: authority, TenantID: defaultTenant}

func account(annotations map[string]string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web", Annotations: annotations}}
}

func withClient(more ...string) *corev1.ServiceAccount {
	a := map[string]string{ClientIDAnnotation: testClient}
	for i := 0; i+1 < len(more); i += 2 {
		a[more[i]] = more[i+1]
	}
	return account(a)
}

// newPod is a pod that takes part, with the containers named, each with
// a variable of its own, as the API server hands it over: with the
// service account token volume its admission plugin adds.
func newPod(annotations map[string]string, init []string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "apps", Labels: map[string]string{UseLabel: "true", "app": "web"}, Annotations: annotations},
		Spec: corev1.PodSpec{ServiceAccountName: "web", Volumes: []corev1.Volume{{Name: "kube-api-access-x", VolumeSource: corev1.VolumeSource{
			Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}},
		}}}},
	}
	mk := func(name string) corev1.Container {
		return corev1.Container{Name: name, Image: "img", Env: []corev1.EnvVar{{Name: "OWN", Value: name}},
			VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access-x", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}}}
	}
	for _, n := range init {
		p.Spec.InitContainers = append(p.Spec.InitContainers, mk(n))
	}
	for _, n := range containers {
		p.Spec.Containers = append(p.Spec.Containers, mk(n))
	}
	return p
}

// admit applies the webhook's patch to the pod as the API server does
// (with the same JSONPatch library) and returns the pod it admits; a
// second admission of that pod must change nothing.
func admit(t *testing.T, c Config, pod *corev1.Pod, sa *corev1.ServiceAccount) *corev1.Pod {
	t.Helper()
	got, err := apply(c, pod, sa)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.patch(got, sa)
	if err != nil || len(again) != 0 {
		t.Fatalf("second admission: %v %+v", err, again)
	}
	return got
}

func apply(c Config, pod *corev1.Pod, sa *corev1.ServiceAccount) (*corev1.Pod, error) {
	ops, err := c.patch(pod, sa)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(pod)
	patch, _ := json.Marshal(ops)
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, err
	}
	out, err := p.Apply(raw)
	if err != nil {
		return nil, err
	}
	var got corev1.Pod
	return &got, json.Unmarshal(out, &got)
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		if _, dup := m[e.Name]; dup {
			panic("duplicate variable " + e.Name)
		}
		m[e.Name] = e.Value
	}
	return m
}

func identityEnv(client, tenant string) map[string]string {
	return map[string]string{ClientIDEnv: client, TenantIDEnv: tenant, TokenFileEnv: "/var/run/secrets/azure/tokens/azure-identity-token", AuthorityHostEnv: authority}
}

// checkIdentity: the container has its own variable and the identity's,
// and the token's mount.
func checkIdentity(t *testing.T, c corev1.Container, want map[string]string) {
	t.Helper()
	env := envOf(c)
	if env["OWN"] != c.Name {
		t.Errorf("container %s lost its own variable: %v", c.Name, c.Env)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("container %s: %s=%q, want %q", c.Name, k, env[k], v)
		}
	}
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "azure-identity-token" })
	if i < 0 || c.VolumeMounts[i].MountPath != "/var/run/secrets/azure/tokens" || !c.VolumeMounts[i].ReadOnly || len(c.VolumeMounts) != 2 {
		t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
	}
}

func checkUntouched(t *testing.T, c corev1.Container) {
	t.Helper()
	if len(c.Env) != 1 || len(c.VolumeMounts) != 1 {
		t.Errorf("container %s changed: %+v %+v", c.Name, c.Env, c.VolumeMounts)
	}
}

func tokenVolume(t *testing.T, pod *corev1.Pod) *corev1.ServiceAccountTokenProjection {
	t.Helper()
	var found *corev1.ServiceAccountTokenProjection
	for _, v := range pod.Spec.Volumes {
		if v.Name == "azure-identity-token" {
			if found != nil || v.Projected == nil || len(v.Projected.Sources) != 1 || v.Projected.Sources[0].ServiceAccountToken == nil {
				t.Fatalf("token volume %+v", pod.Spec.Volumes)
			}
			found = v.Projected.Sources[0].ServiceAccountToken
		}
	}
	if found == nil || len(pod.Spec.Volumes) != 2 {
		t.Fatalf("no token volume beside the pod's own: %+v", pod.Spec.Volumes)
	}
	return found
}

func TestEveryContainerGetsTheIdentity(t *testing.T) {
	got := admit(t, testConfig, newPod(nil, []string{"setup"}, "app", "sidecar"), withClient())
	for _, c := range slices.Concat(got.Spec.InitContainers, got.Spec.Containers) {
		checkIdentity(t, c, identityEnv(testClient, defaultTenant))
	}
	v := tokenVolume(t, got)
	if v.Audience != "api://AzureADTokenExchange" || v.Path != "azure-identity-token" || v.ExpirationSeconds == nil || *v.ExpirationSeconds != 3600 {
		t.Errorf("token projection %+v", v)
	}
}

func TestTenant(t *testing.T) {
	got := admit(t, testConfig, newPod(nil, nil, "app"), withClient(TenantIDAnnotation, testTenant))
	checkIdentity(t, got.Spec.Containers[0], identityEnv(testClient, testTenant))

	noDefault := Config{AuthorityHost: authority}
	got = admit(t, noDefault, newPod(nil, nil, "app"), withClient(TenantIDAnnotation, testTenant))
	checkIdentity(t, got.Spec.Containers[0], identityEnv(testClient, testTenant))

	_, err := apply(noDefault, newPod(nil, nil, "app"), withClient())
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), TenantIDAnnotation) || !strings.Contains(err.Error(), "--tenant-id") {
		t.Errorf("no tenant anywhere: %v", err)
	}
}

func TestSkipContainers(t *testing.T) {
	pod := newPod(map[string]string{SkipContainersAnnotation: "setup; sidecar"}, []string{"setup", "migrate"}, "app", "sidecar")
	got := admit(t, testConfig, pod, withClient())
	checkUntouched(t, got.Spec.InitContainers[0])
	checkIdentity(t, got.Spec.InitContainers[1], identityEnv(testClient, defaultTenant))
	checkIdentity(t, got.Spec.Containers[0], identityEnv(testClient, defaultTenant))
	checkUntouched(t, got.Spec.Containers[1])
	tokenVolume(t, got)
}

// What a container sets itself stays, as upstream keeps it: a value, or
// a reference to a Secret whose value the webhook cannot see.
func TestContainersOwnVariablesStay(t *testing.T) {
	pod := newPod(nil, nil, "app")
	pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env,
		corev1.EnvVar{Name: ClientIDEnv, Value: "mine"},
		corev1.EnvVar{Name: AuthorityHostEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "host"}}})
	got := admit(t, testConfig, pod, withClient())
	c := got.Spec.Containers[0]
	want := identityEnv("mine", defaultTenant)
	want[AuthorityHostEnv] = ""
	checkIdentity(t, c, want)
	if len(c.Env) != 5 || c.Env[2].ValueFrom == nil || c.Env[2].ValueFrom.SecretKeyRef.Key != "host" {
		t.Errorf("env %+v", c.Env)
	}

	// Without a client id annotation, a container that names its own
	// client is let through; one that does not refuses the pod.
	got = admit(t, testConfig, pod, account(nil))
	checkIdentity(t, got.Spec.Containers[0], want)
	two := newPod(nil, nil, "app", "other")
	two.Spec.Containers[0].Env = append(two.Spec.Containers[0].Env, corev1.EnvVar{Name: ClientIDEnv, Value: "mine"})
	_, err := apply(testConfig, two, account(nil))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `container "other"`) {
		t.Errorf("a container without a client id: %v", err)
	}
}

func TestNoClientID(t *testing.T) {
	_, err := apply(testConfig, newPod(nil, nil, "app"), account(map[string]string{TenantIDAnnotation: testTenant}))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "service account apps/web has no annotation azure.workload.identity/client-id") {
		t.Errorf("no client id: %v", err)
	}
	_, err = apply(testConfig, newPod(nil, nil, "app"), withClient(ClientIDAnnotation, ""))
	if !errors.Is(err, ErrRefused) {
		t.Errorf("an empty client id: %v", err)
	}
}

func TestExpiration(t *testing.T) {
	for _, tc := range []struct {
		name          string
		pod, sa       string
		want          int64
		refusedNaming string
	}{
		{name: "default", want: 3600},
		{name: "service account's", sa: "7200", want: 7200},
		{name: "pod's over service account's", pod: "86400", sa: "7200", want: 86400},
		{name: "lower bound", pod: "3600", want: 3600},
		{name: "under", pod: "3599", refusedNaming: "the pod"},
		{name: "over", sa: "86401", refusedNaming: "service account apps/web"},
		{name: "a duration is not seconds", pod: "1h", refusedNaming: "the pod"},
		{name: "bad pod's, good service account's", pod: "x", sa: "7200", refusedNaming: "the pod"},
		{name: "negative", pod: "-3600", refusedNaming: "the pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var podAnn map[string]string
			if tc.pod != "" {
				podAnn = map[string]string{ExpirationAnnotation: tc.pod}
			}
			sa := withClient()
			if tc.sa != "" {
				sa = withClient(ExpirationAnnotation, tc.sa)
			}
			if tc.refusedNaming != "" {
				_, err := apply(testConfig, newPod(podAnn, nil, "app"), sa)
				want := "annotation azure.workload.identity/service-account-token-expiration on " + tc.refusedNaming
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "3600 to 86400") {
					t.Errorf("got %v, want a refusal naming %q", err, want)
				}
				return
			}
			got := admit(t, testConfig, newPod(podAnn, nil, "app"), sa)
			if e := tokenVolume(t, got).ExpirationSeconds; *e != tc.want {
				t.Errorf("expiration %d, want %d", *e, tc.want)
			}
		})
	}
}

// A pod that has the token already, as upstream's webhook or its author
// wrote it, keeps it; a volume of that name that is something else
// refuses the pod rather than leave it without a token.
func TestExistingVolumeAndMount(t *testing.T) {
	pod := newPod(nil, nil, "app")
	own := int64(7200)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "azure-identity-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "api://AzureADTokenExchange", ExpirationSeconds: &own, Path: "azure-identity-token"}}},
	}}})
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "azure-identity-token", MountPath: "/var/run/secrets/azure/tokens", ReadOnly: true})
	got := admit(t, testConfig, pod, withClient())
	checkIdentity(t, got.Spec.Containers[0], identityEnv(testClient, defaultTenant))
	if e := tokenVolume(t, got).ExpirationSeconds; *e != 7200 {
		t.Errorf("the pod's own volume was replaced: %d", *e)
	}

	other := newPod(nil, nil, "app")
	other.Spec.Volumes = append(other.Spec.Volumes, corev1.Volume{Name: "azure-identity-token", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	if _, err := apply(testConfig, other, withClient()); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not a projected service account token") {
		t.Errorf("a volume of the token's name that is not a token: %v", err)
	}
}

// A container with no variables or mounts, and a pod with no volumes,
// get the arrays whole: JSONPatch cannot append to what is not there.
func TestEmptyArrays(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{UseLabel: "true"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "img"}}},
	}
	got := admit(t, testConfig, pod, withClient())
	if env := envOf(got.Spec.Containers[0]); len(env) != 4 || env[ClientIDEnv] != testClient {
		t.Errorf("env %v", env)
	}
	if len(got.Spec.Containers[0].VolumeMounts) != 1 || len(got.Spec.Volumes) != 1 {
		t.Errorf("mounts %+v volumes %+v", got.Spec.Containers[0].VolumeMounts, got.Spec.Volumes)
	}
}
