package nmi

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/berthhq/berth/internal/podidentity"
)

var (
	assignedGVR  = podidentity.AssignedIdentitiesGVR
	exceptionGVR = podidentity.ExceptionsGVR
)

// Index names.
const (
	byPodIP = "podIP"
	byPod   = "pod"
)

// state is what NMI knows of its node, kept current by informers: the
// node's pods by address, the node's assignments by pod, and the
// exceptions.
type state struct {
	pods, assigned, exceptions cache.SharedIndexInformer
	kube                       kubernetes.Interface
}

func newState(kube kubernetes.Interface, dyn dynamic.Interface, node string) (*state, error) {
	pods := informers.NewSharedInformerFactoryWithOptions(kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", node).String()
		})).Core().V1().Pods().Informer()
	if err := pods.AddIndexers(cache.Indexers{byPodIP: podIPs}); err != nil {
		return nil, err
	}
	onNode := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{"nodename": node}.String()
	})
	assigned := onNode.ForResource(assignedGVR).Informer()
	// Converted once when stored, not on every request that reads it.
	if err := assigned.SetTransform(toAssigned); err != nil {
		return nil, err
	}
	if err := assigned.AddIndexers(cache.Indexers{byPod: assignedPod}); err != nil {
		return nil, err
	}
	// The dynamic informer indexes by namespace (cache.NamespaceIndex).
	exceptions := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0).ForResource(exceptionGVR).Informer()
	return &state{pods: pods, assigned: assigned, exceptions: exceptions, kube: kube}, nil
}

// run starts the informers and waits until each has listed once, or ctx
// ends; it says every waitLog how long it has waited.
func (s *state) run(ctx context.Context, log *slog.Logger) error {
	for _, inf := range []cache.SharedIndexInformer{s.pods, s.assigned, s.exceptions} {
		go inf.RunWithContext(ctx)
	}
	start := time.Now()
	for {
		wait, cancel := context.WithTimeout(ctx, waitLog)
		synced := cache.WaitForCacheSync(wait.Done(), s.pods.HasSynced, s.assigned.HasSynced, s.exceptions.HasSynced)
		cancel()
		if synced {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("the node's pods, AzureAssignedIdentities and AzurePodIdentityExceptions are not listed yet; can NMI list and watch them?",
			"waited", time.Since(start).Round(time.Second))
	}
}

// waitLog is how often a slow first listing is reported.
const waitLog = 30 * time.Second

// podIPs indexes a pod by its addresses. Pods on the node's network share
// the node's address and are not told apart by it; finished pods may
// have handed theirs to a new pod.
func podIPs(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return nil, nil
	}
	var ips []string
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = append(ips, p.Status.PodIP)
	}
	return ips, nil
}

// toAssigned converts a stored AzureAssignedIdentity to its type. One
// that does not convert keeps only its metadata, and so gives no
// identity.
func toAssigned(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	var a podidentity.AzureAssignedIdentity
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &a); err != nil {
		a = podidentity.AzureAssignedIdentity{ObjectMeta: metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(),
			UID: u.GetUID(), ResourceVersion: u.GetResourceVersion(), DeletionTimestamp: u.GetDeletionTimestamp()}}
	}
	return &a, nil
}

func assignedPod(obj any) ([]string, error) {
	a, ok := obj.(*podidentity.AzureAssignedIdentity)
	if !ok {
		return nil, nil
	}
	return []string{a.Spec.PodNamespace + "/" + a.Spec.Pod}, nil
}

// errAmbiguous is several running pods of the node claiming one address.
var errAmbiguous = errors.New("several pods have this address")

// podByIP is the node's pod with the address, nil if none.
func (s *state) podByIP(ip string) (*corev1.Pod, error) {
	objs, err := s.pods.GetIndexer().ByIndex(byPodIP, ip)
	if err != nil {
		return nil, err
	}
	var found *corev1.Pod
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if p.DeletionTimestamp != nil && len(objs) > 1 {
			continue
		}
		if found != nil {
			return nil, errAmbiguous
		}
		found = p
	}
	return found, nil
}

// excepted says whether an AzurePodIdentityException of the pod's
// namespace matches it: any one of the exception's labels is on the pod,
// its value equal but for case, as the original node agent matched them
// (manifests written for it mean the same here).
func (s *state) excepted(p *corev1.Pod) bool {
	objs, _ := s.exceptions.GetIndexer().ByIndex(cache.NamespaceIndex, p.Namespace)
	for _, o := range objs {
		want, _, _ := unstructured.NestedStringMap(o.(*unstructured.Unstructured).Object, "spec", "podLabels")
		for k, v := range want {
			if have, ok := p.Labels[k]; ok && strings.EqualFold(have, v) {
				return true
			}
		}
	}
	return false
}

// assignments are the pod's AzureAssignedIdentities that stand: not
// being deleted, not Unassigned.
func (s *state) assignments(p *corev1.Pod) ([]podidentity.AzureAssignedIdentity, error) {
	objs, err := s.assigned.GetIndexer().ByIndex(byPod, p.Namespace+"/"+p.Name)
	if err != nil {
		return nil, err
	}
	var out []podidentity.AzureAssignedIdentity
	for _, o := range objs {
		a := o.(*podidentity.AzureAssignedIdentity)
		if a.DeletionTimestamp != nil || a.Status.Status == podidentity.AssignedIDUnassigned || a.Spec.AzureIdentityRef == nil {
			continue
		}
		out = append(out, *a)
	}
	return out, nil
}
