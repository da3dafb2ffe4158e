package wiwebhook

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The upstream webhook's names, which pods, service accounts and SDKs use.
const (
	UseLabel                 = "azure.workload.identity/use"
	ClientIDAnnotation       = "azure.workload.identity/client-id"
	TenantIDAnnotation       = "azure.workload.identity/tenant-id"
	ExpirationAnnotation     = "azure.workload.identity/service-account-token-expiration"
	SkipContainersAnnotation = "azure.workload.identity/skip-containers"

	ClientIDEnv      = "AZURE_CLIENT_ID"
	TenantIDEnv      = "AZURE_TENANT_ID"
	TokenFileEnv     = "AZURE_FEDERATED_TOKEN_FILE"
	AuthorityHostEnv = "AZURE_AUTHORITY_HOST"

	// VolumeName is the projected volume's name and the token's path in it.
	VolumeName = "azure-identity-token"
	MountPath  = "/var/run/secrets/azure/tokens"
	Audience   = "api://AzureADTokenExchange"

	// The token's lifetime in seconds: the kubelet refreshes it at 80% of
	// it, and below an hour the API server would raise it anyway.
	DefaultExpiration = 3600
	MinExpiration     = 3600
	MaxExpiration     = 86400
)

// TokenFile is where a container reads its token.
var TokenFile = path.Join(MountPath, VolumeName)

// ErrRefused wraps why a pod that takes part cannot be given an identity.
var ErrRefused = errors.New("cannot give the pod a workload identity")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRefused}, args...)...)
}

// Config is what the webhook says beyond what a service account says.
type Config struct {
	// AuthorityHost is berth's address, the pods' AZURE_AUTHORITY_HOST.
	AuthorityHost string
	// TenantID is the tenant of service accounts that name none.
	TenantID string
}

// op is one JSONPatch operation; the webhook only adds.
type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

func add(path string, value any) op { return op{Op: "add", Path: path, Value: value} }

// takesPart reports whether the pod asks for workload identity.
func takesPart(pod *corev1.Pod) bool { return pod.Labels[UseLabel] == "true" }

// accountName is the service account the pod runs as.
func accountName(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName == "" {
		return "default"
	}
	return pod.Spec.ServiceAccountName
}

// patch is what a pod that takes part, running as sa, needs added.
func (c Config) patch(pod *corev1.Pod, sa *corev1.ServiceAccount) ([]op, error) {
	expiration, err := expiration(pod, sa)
	if err != nil {
		return nil, err
	}
	tenant := sa.Annotations[TenantIDAnnotation]
	if tenant == "" {
		tenant = c.TenantID
	}
	want := []corev1.EnvVar{
		{Name: ClientIDEnv, Value: sa.Annotations[ClientIDAnnotation]},
		{Name: TenantIDEnv, Value: tenant},
		{Name: TokenFileEnv, Value: TokenFile},
		{Name: AuthorityHostEnv, Value: c.AuthorityHost},
	}
	skip := skipped(pod)
	var ops []op
	for _, list := range []struct {
		path       string
		containers []corev1.Container
	}{{"/spec/initContainers", pod.Spec.InitContainers}, {"/spec/containers", pod.Spec.Containers}} {
		for i, ct := range list.containers {
			if skip[ct.Name] {
				continue
			}
			more, err := containerPatch(fmt.Sprintf("%s/%d", list.path, i), ct, want, sa)
			if err != nil {
				return nil, err
			}
			ops = append(ops, more...)
		}
	}
	vol, err := volumePatch(pod, expiration)
	if err != nil {
		return nil, err
	}
	return append(ops, vol...), nil
}

// containerPatch adds the environment variables the container does not
// set, and the token's mount unless it has one of that name.
func containerPatch(at string, ct corev1.Container, want []corev1.EnvVar, sa *corev1.ServiceAccount) ([]op, error) {
	var env []corev1.EnvVar
	for _, w := range want {
		if hasEnv(ct, w.Name) {
			continue
		}
		if w.Value == "" {
			return nil, refuse("container %q would run without %s: %s", ct.Name, w.Name, missing(w.Name, sa))
		}
		env = append(env, w)
	}
	var ops []op
	ops = appendAll(ops, at+"/env", len(ct.Env), env)
	for _, m := range ct.VolumeMounts {
		if m.Name == VolumeName {
			return ops, nil
		}
	}
	return appendAll(ops, at+"/volumeMounts", len(ct.VolumeMounts),
		[]corev1.VolumeMount{{Name: VolumeName, MountPath: MountPath, ReadOnly: true}}), nil
}

// missing says where the value of an environment variable should have
// come from.
func missing(env string, sa *corev1.ServiceAccount) string {
	who := fmt.Sprintf("service account %s/%s", sa.Namespace, sa.Name)
	if env == ClientIDEnv {
		return fmt.Sprintf("%s has no annotation %s naming the application's client id", who, ClientIDAnnotation)
	}
	return fmt.Sprintf("%s has no annotation %s and the webhook has no default tenant (--tenant-id)", who, TenantIDAnnotation)
}

// appendAll adds items to the array at path, which holds n items: the
// array itself when it is empty (absent, null or []), else item by item,
// so that what is there stays.
func appendAll[T any](ops []op, path string, n int, items []T) []op {
	if len(items) == 0 {
		return ops
	}
	if n == 0 {
		return append(ops, add(path, items))
	}
	for _, it := range items {
		ops = append(ops, add(path+"/-", it))
	}
	return ops
}

func hasEnv(ct corev1.Container, name string) bool {
	for _, e := range ct.Env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// volumePatch adds the token's volume unless the pod has it.
func volumePatch(pod *corev1.Pod, expiration int64) ([]op, error) {
	for _, v := range pod.Spec.Volumes {
		if v.Name != VolumeName {
			continue
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					return nil, nil
				}
			}
		}
		return nil, refuse("the pod has a volume named %s that is not a projected service account token", VolumeName)
	}
	vol := corev1.Volume{Name: VolumeName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience: Audience, ExpirationSeconds: &expiration, Path: VolumeName,
		}}},
	}}}
	return appendAll(nil, "/spec/volumes", len(pod.Spec.Volumes), []corev1.Volume{vol}), nil
}

// expiration is the token's lifetime: the pod's annotation, else the
// service account's, else the default.
func expiration(pod *corev1.Pod, sa *corev1.ServiceAccount) (int64, error) {
	where, s := "the pod", pod.Annotations[ExpirationAnnotation]
	if s == "" {
		where, s = fmt.Sprintf("service account %s/%s", sa.Namespace, sa.Name), sa.Annotations[ExpirationAnnotation]
	}
	if s == "" {
		return DefaultExpiration, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < MinExpiration || n > MaxExpiration {
		return 0, refuse("annotation %s on %s is %q: want a number of seconds from %d to %d",
			ExpirationAnnotation, where, s, MinExpiration, MaxExpiration)
	}
	return n, nil
}

// skipped is the set of container names the pod's annotation lists.
func skipped(pod *corev1.Pod) map[string]bool {
	s := pod.Annotations[SkipContainersAnnotation]
	if s == "" {
		return nil
	}
	names := map[string]bool{}
	for n := range strings.SplitSeq(s, ";") {
		names[strings.TrimSpace(n)] = true
	}
	return names
}
