package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/berthhq/berth/internal/podidentity"
	"github.com/berthhq/berth/internal/resourcetype"
)

// managedByLabel marks the pod identity objects berth writes into a
// cluster, so that disabling pod identity removes those and no others.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "berth"
	fieldManager   = "berth-aks"
)

var (
	identitiesGVR = podidentity.GroupVersion.WithResource(podidentity.IdentitiesResource)
	bindingsGVR   = podidentity.GroupVersion.WithResource(podidentity.BindingsResource)
	exceptionsGVR = podidentity.GroupVersion.WithResource(podidentity.ExceptionsResource)
	crdGVR        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	namespaceGVR  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// Kube is a cluster's API server, as a kubeconfig's current context
// reaches it. Its writes are server-side applies: writing what is there
// already changes nothing, so a command that failed half-way is finished
// by running it again.
type Kube struct {
	dyn  dynamic.Interface
	core kubernetes.Interface
}

// OpenKube loads the kubeconfig at path (or, if empty, those KUBECONFIG
// names, else ~/.kube/config), without contacting the API server: a
// kubeconfig that cannot work is refused before anything changes.
func OpenKube(path string) (*Kube, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, errors.New("no kubeconfig for the cluster's API server: give --kubeconfig, or set KUBECONFIG")
	}
	if err != nil {
		return nil, fmt.Errorf("the cluster's kubeconfig: %w", err)
	}
	k := &Kube{}
	if k.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if k.core, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Kube) apply(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured) error {
	var r dynamic.ResourceInterface = k.dyn.Resource(gvr)
	if ns := u.GetNamespace(); ns != "" {
		r = k.dyn.Resource(gvr).Namespace(ns)
	}
	_, err := r.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("writing %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// remove deletes an object; it reports whether there was one.
func (k *Kube) remove(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (bool, error) {
	err := k.dyn.Resource(gvr).Namespace(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("deleting %s %s/%s: %w", gvr.Resource, namespace, name, err)
	}
	return true, nil
}

// installDefinitions applies the pod identity custom resource
// definitions, as the cloud's addon installs them, and waits until the
// API server serves them.
func (k *Kube) installDefinitions(ctx context.Context) error {
	all, err := podidentity.CRDs()
	if err != nil {
		return err
	}
	var names []string
	for doc := range bytes.SplitSeq(all, []byte("\n---\n")) {
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: m}
		if err := k.apply(ctx, crdGVR, u); err != nil {
			return err
		}
		names = append(names, u.GetName())
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, name := range names {
		for {
			u, err := k.dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("waiting for %s: %w", name, err)
			}
			if established(u) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s to be served: %w", name, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func established(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// namespace makes sure a namespace exists, as the cloud's addon does for
// a pod identity's.
func (k *Kube) namespace(ctx context.Context, name string) error {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Namespace")
	u.SetName(name)
	return k.apply(ctx, namespaceGVR, u)
}

// bindingName is the AzureIdentityBinding berth writes for a pod
// identity.
func bindingName(podIdentity string) string { return podIdentity + "-binding" }

func meta(kind, namespace, name string) (metav1.TypeMeta, metav1.ObjectMeta) {
	return metav1.TypeMeta{APIVersion: podidentity.GroupVersion.String(), Kind: kind},
		metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{managedByLabel: managedBy}}
}

// writeIdentity writes a pod identity's AzureIdentity (named as the pod
// identity) and AzureIdentityBinding (bindingName; its selector is the
// binding selector, else the name).
func (k *Kube) writeIdentity(ctx context.Context, pi resourcetype.PodIdentity) error {
	if err := k.namespace(ctx, pi.Namespace); err != nil {
		return err
	}
	id := podidentity.AzureIdentity{Spec: podidentity.AzureIdentitySpec{
		Type: podidentity.UserAssignedIdentity, ResourceID: pi.Identity.ResourceID, ClientID: pi.Identity.ClientID}}
	id.TypeMeta, id.ObjectMeta = meta("AzureIdentity", pi.Namespace, pi.Name)
	u, err := podidentity.Unstructured(&id)
	if err != nil {
		return err
	}
	// Type 0 is the zero value the type leaves out; the object says it,
	// as kubectl shows it.
	if err := unstructured.SetNestedField(u.Object, int64(podidentity.UserAssignedIdentity), "spec", "type"); err != nil {
		return err
	}
	if err := k.apply(ctx, identitiesGVR, u); err != nil {
		return err
	}
	selector := pi.BindingSelector
	if selector == "" {
		selector = pi.Name
	}
	b := podidentity.AzureIdentityBinding{Spec: podidentity.AzureIdentityBindingSpec{AzureIdentity: pi.Name, Selector: selector}}
	b.TypeMeta, b.ObjectMeta = meta("AzureIdentityBinding", pi.Namespace, bindingName(pi.Name))
	if u, err = podidentity.Unstructured(&b); err != nil {
		return err
	}
	return k.apply(ctx, bindingsGVR, u)
}

// removeIdentity deletes a pod identity's binding, then its identity.
func (k *Kube) removeIdentity(ctx context.Context, namespace, name string) (bool, error) {
	b, err := k.remove(ctx, bindingsGVR, namespace, bindingName(name))
	if err != nil {
		return b, err
	}
	i, err := k.remove(ctx, identitiesGVR, namespace, name)
	return b || i, err
}

func (k *Kube) writeException(ctx context.Context, e resourcetype.PodIdentityException) error {
	if err := k.namespace(ctx, e.Namespace); err != nil {
		return err
	}
	x := podidentity.AzurePodIdentityException{Spec: podidentity.AzurePodIdentityExceptionSpec{PodLabels: e.PodLabels}}
	x.TypeMeta, x.ObjectMeta = meta("AzurePodIdentityException", e.Namespace, e.Name)
	u, err := podidentity.Unstructured(&x)
	if err != nil {
		return err
	}
	// An apply states all the labels: those it no longer states go.
	return k.apply(ctx, exceptionsGVR, u)
}

// writeProfile writes everything an enabled profile has.
func (k *Kube) writeProfile(ctx context.Context, p *resourcetype.PodIdentityProfile) error {
	if err := k.installDefinitions(ctx); err != nil {
		return err
	}
	for _, e := range p.UserAssignedIdentityExceptions {
		if err := k.writeException(ctx, e); err != nil {
			return err
		}
	}
	for _, pi := range p.UserAssignedIdentities {
		if err := k.writeIdentity(ctx, pi); err != nil {
			return err
		}
	}
	return nil
}

// removeAll deletes every pod identity object berth wrote, in every
// namespace; the definitions stay, since deleting them would delete
// objects others wrote.
func (k *Kube) removeAll(ctx context.Context) error {
	for _, gvr := range []schema.GroupVersionResource{bindingsGVR, identitiesGVR, exceptionsGVR} {
		list, err := k.dyn.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: managedByLabel + "=" + managedBy})
		if apierrors.IsNotFound(err) {
			// No definitions: nothing was written.
			continue
		}
		if err != nil {
			return fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		for _, u := range list.Items {
			if _, err := k.remove(ctx, gvr, u.GetNamespace(), u.GetName()); err != nil {
				return err
			}
		}
	}
	return nil
}
