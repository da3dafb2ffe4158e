package controlplane

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/berthhq/berth/internal/resourcetype"
)

// The cloud's limits on a cluster's pod identity profile.
const (
	MaxPodIdentities         = 200
	MaxPodIdentityExceptions = 200
)

// AddonException is the exception the cloud adds when pod identity is
// enabled, in kube-system: the addon's own pods, labelled
// kubernetes.azure.com/managedby=aks, reach the metadata endpoint
// untouched.
var AddonException = resourcetype.PodIdentityException{
	Name: "aks-addon-exception", Namespace: "kube-system", PodLabels: map[string]string{"kubernetes.azure.com/managedby": "aks"},
}

// Network plugins a cluster may have.
var networkPlugins = []string{"azure", "kubenet", "none"}

// podIdentityState is what a pod identity shows once recorded: berth
// assigns nothing here (the controller does, in the cluster), so there is
// no state in between.
const podIdentityState = "Assigned"

// applyPodIdentity checks next, the profile a write asks for, against the
// cluster and fills in what the cloud fills: each new identity's client
// and object ids, from the identity the caller may assign, and the addon's
// exception when the profile is enabled. old is the profile before.
func (s *Service) applyPodIdentity(ctx context.Context, c Caller, tenantID string, managed bool, network *resourcetype.NetworkProfile,
	old, next *resourcetype.PodIdentityProfile) error {
	if next == nil {
		return nil
	}
	if next.UserAssignedIdentities == nil {
		next.UserAssignedIdentities = []resourcetype.PodIdentity{}
	}
	if next.UserAssignedIdentityExceptions == nil {
		next.UserAssignedIdentityExceptions = []resourcetype.PodIdentityException{}
	}
	if !next.Enabled {
		if len(next.UserAssignedIdentities) > 0 || len(next.UserAssignedIdentityExceptions) > 0 {
			return fail(ErrBadRequest, "BadRequest", "Pod identities and exceptions need the pod identity addon: set podIdentityProfile.enabled.")
		}
		return nil
	}
	if !managed {
		return fail(ErrBadRequest, "BadRequest", "Pod identity needs a cluster that runs as managed identities: its identity is given the Managed Identity Operator role on the pod identities.")
	}
	if network != nil && strings.EqualFold(network.NetworkPlugin, "kubenet") && !next.AllowNetworkPluginKubenet {
		return fail(ErrBadRequest, "BadRequest", "Pod identity on a cluster with the kubenet network plugin needs podIdentityProfile.allowNetworkPluginKubenet "+
			"(the CLI's --enable-pod-identity-with-kubenet): on kubenet a pod can take another pod's address, and with it its identity.")
	}
	if old == nil || !old.Enabled {
		has := false
		for _, e := range next.UserAssignedIdentityExceptions {
			has = has || e.Name == AddonException.Name && e.Namespace == AddonException.Namespace
		}
		if !has {
			next.UserAssignedIdentityExceptions = append(next.UserAssignedIdentityExceptions, AddonException)
		}
	}
	if n := len(next.UserAssignedIdentities); n > MaxPodIdentities {
		return fail(ErrBadRequest, "BadRequest", "A cluster has at most %d pod identities; the request has %d.", MaxPodIdentities, n)
	}
	if n := len(next.UserAssignedIdentityExceptions); n > MaxPodIdentityExceptions {
		return fail(ErrBadRequest, "BadRequest", "A cluster has at most %d pod identity exceptions; the request has %d.", MaxPodIdentityExceptions, n)
	}
	known := map[string]resourcetype.ClusterIdentity{}
	if old != nil {
		for _, pi := range old.UserAssignedIdentities {
			known[pi.Namespace+"/"+pi.Name] = pi.Identity
		}
	}
	seen := map[string]bool{}
	for i := range next.UserAssignedIdentities {
		pi := &next.UserAssignedIdentities[i]
		key := pi.Namespace + "/" + pi.Name
		if err := checkPodName("pod identity", pi.Name, pi.Namespace); err != nil {
			return err
		}
		if seen[key] {
			return fail(ErrBadRequest, "BadRequest", "The pod identity %s is in namespace %s twice: names are unique in a namespace.", pi.Name, pi.Namespace)
		}
		seen[key] = true
		if pi.BindingSelector != "" {
			if errs := validation.IsValidLabelValue(pi.BindingSelector); len(errs) > 0 {
				return fail(ErrBadRequest, "InvalidParameter", "The binding selector '%s' of pod identity %s/%s is not a label value: %s.", pi.BindingSelector, pi.Namespace, pi.Name, strings.Join(errs, "; "))
			}
		}
		if pi.Identity.ResourceID == "" {
			return fail(ErrBadRequest, "InvalidParameter", "The pod identity %s/%s names no identity: identity.resourceId is required.", pi.Namespace, pi.Name)
		}
		// An identity already recorded is not checked again: one deleted
		// since must not block changes to the others.
		if k, ok := known[key]; ok && strings.EqualFold(k.ResourceID, pi.Identity.ResourceID) {
			pi.Identity = k
		} else {
			info, id, err := s.userAssigned(ctx, c, tenantID, pi.Identity.ResourceID)
			if err != nil {
				return err
			}
			pi.Identity = resourcetype.ClusterIdentity{ResourceID: id, ClientID: info.ClientID, ObjectID: info.PrincipalID}
		}
		pi.ProvisioningState = podIdentityState
	}
	seen = map[string]bool{}
	for _, e := range next.UserAssignedIdentityExceptions {
		if err := checkPodName("pod identity exception", e.Name, e.Namespace); err != nil {
			return err
		}
		key := e.Namespace + "/" + e.Name
		if seen[key] {
			return fail(ErrBadRequest, "BadRequest", "The pod identity exception %s is in namespace %s twice: names are unique in a namespace.", e.Name, e.Namespace)
		}
		seen[key] = true
		if len(e.PodLabels) == 0 {
			return fail(ErrBadRequest, "InvalidParameter", "The pod identity exception %s/%s has no pod labels: it would match no pod.", e.Namespace, e.Name)
		}
		for k, v := range e.PodLabels {
			errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...)
			if len(errs) > 0 {
				return fail(ErrBadRequest, "InvalidParameter", "The pod label %s=%s of exception %s/%s is not a Kubernetes label: %s.", k, v, e.Namespace, e.Name, strings.Join(errs, "; "))
			}
		}
	}
	return nil
}

// checkPodName: the names become Kubernetes object names in the
// namespace.
func checkPodName(what, name, namespace string) error {
	for _, f := range []struct{ field, v string }{{"name", name}, {"namespace", namespace}} {
		if errs := validation.IsDNS1123Label(f.v); len(errs) > 0 {
			return fail(ErrBadRequest, "InvalidParameter", "The %s %s '%s' is not valid: %s.", what, f.field, f.v, strings.Join(errs, "; "))
		}
	}
	return nil
}

// checkNetworkPlugin refuses a plugin the cloud does not have.
func checkNetworkPlugin(n *resourcetype.NetworkProfile) error {
	if n == nil || n.NetworkPlugin == "" {
		return nil
	}
	for _, p := range networkPlugins {
		if strings.EqualFold(p, n.NetworkPlugin) {
			n.NetworkPlugin = p
			return nil
		}
	}
	return fail(ErrBadRequest, "InvalidParameter", "The network plugin '%s' is not one of %s.", n.NetworkPlugin, strings.Join(networkPlugins, ", "))
}
