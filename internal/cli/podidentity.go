package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/resourcetype"
)

// managedIdentityOperator is the role a cluster's identity gets on each
// pod identity's identity, so that the controller may assign it to nodes.
const managedIdentityOperator = "Managed Identity Operator"

// PodIdentityCluster names a cluster, and the kubeconfig of its API
// server, where the pod identity commands write the addon's objects.
type PodIdentityCluster struct {
	Group, Name, Kubeconfig string
}

// clusterDoc is what the pod identity commands read of a cluster.
type clusterDoc struct {
	ID       string `json:"id"`
	Identity *struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
	} `json:"identity"`
	Properties struct {
		PodIdentityProfile *resourcetype.PodIdentityProfile `json:"podIdentityProfile"`
		OIDCIssuerProfile  *resourcetype.OIDCIssuerProfile  `json:"oidcIssuerProfile"`
		SecurityProfile    *resourcetype.SecurityProfile    `json:"securityProfile"`
	} `json:"properties"`
}

func (d *clusterDoc) podIdentityEnabled() bool {
	return d.Properties.PodIdentityProfile != nil && d.Properties.PodIdentityProfile.Enabled
}

func (m *Management) clusterDoc(ctx context.Context, group, name string) (string, *clusterDoc, error) {
	if group == "" || name == "" {
		return "", nil, errors.New("--resource-group and --cluster-name are required")
	}
	path, err := m.resourcePath(group, resourcetype.ManagedCluster, name)
	if err != nil {
		return "", nil, err
	}
	var d clusterDoc
	if err := m.do(ctx, http.MethodGet, path, clusterAPI, nil, nil, &d); err != nil {
		return "", nil, err
	}
	return path, &d, nil
}

// clusterWriteError says where a command that changed the cluster
// resource but not yet its API server left the user.
func clusterWriteError(cluster string, err error) error {
	return fmt.Errorf("the cluster resource %s has the change, but the cluster's API server does not have all of it: %w. "+
		"Run the same command again to finish: it writes only what is missing", cluster, err)
}

// podIdentityChange is one pod identity command's part in
// changePodIdentity.
type podIdentityChange struct {
	// change applies the command to the profile; false: nothing to send.
	change func(d *clusterDoc, p *resourcetype.PodIdentityProfile) (bool, error)
	// refused, if set, undoes what change did besides the profile, when
	// the management API refuses the profile.
	refused func()
	// sync writes the cluster's API server.
	sync func(k *Kube, p *resourcetype.PodIdentityProfile) error
}

// changePodIdentity is the pod identity commands' one path: the
// kubeconfig is loaded first (a bad one changes nothing), the cluster
// read, the change applied to its profile, the profile sent as the
// cloud CLI sends it, whole, then the cluster's API server written. It
// returns the cluster, as the cloud CLI does.
func (m *Management) changePodIdentity(ctx context.Context, c PodIdentityCluster, pc podIdentityChange) (Object, error) {
	k, err := OpenKube(c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	path, d, err := m.clusterDoc(ctx, c.Group, c.Name)
	if err != nil {
		return nil, err
	}
	if !d.podIdentityEnabled() {
		return nil, fmt.Errorf("the pod identity addon is not enabled for the cluster %s: run 'berth aks update -g %s -n %s --enable-pod-identity'", c.Name, c.Group, c.Name)
	}
	p := d.Properties.PodIdentityProfile
	changed, err := pc.change(d, p)
	if err != nil {
		return nil, err
	}
	if changed {
		var out clusterDoc
		if err := m.do(ctx, http.MethodPatch, path, clusterAPI, nil, map[string]any{"properties": map[string]any{"podIdentityProfile": p}}, &out); err != nil {
			if pc.refused != nil {
				pc.refused()
			}
			return nil, err
		}
		p = out.Properties.PodIdentityProfile
	}
	if err := pc.sync(k, p); err != nil {
		return nil, clusterWriteError(c.Name, err)
	}
	return m.ShowCluster(ctx, c.Name, c.Group)
}

// PodIdentityAdd is berth aks pod-identity add's options.
type PodIdentityAdd struct {
	PodIdentityCluster
	Namespace, Name, IdentityResourceID, BindingSelector string
}

// AddPodIdentity binds a user-assigned identity to the pods of a
// namespace, as the cloud CLI does: the cluster's identity gets Managed
// Identity Operator on the identity (unless it has it at or above it),
// the pod identity is added to the cluster's profile, and the
// AzureIdentity and AzureIdentityBinding are written into the cluster.
// Adding a pod identity that is there already, the same, only writes
// what the cluster lacks.
func (m *Management) AddPodIdentity(ctx context.Context, o PodIdentityAdd) (Object, error) {
	if o.Namespace == "" || o.Name == "" || o.IdentityResourceID == "" {
		return nil, errors.New("--namespace, --name and --identity-resource-id are required")
	}
	var added resourcetype.PodIdentity
	var granted string
	return m.changePodIdentity(ctx, o.PodIdentityCluster, podIdentityChange{change: func(d *clusterDoc, p *resourcetype.PodIdentityProfile) (bool, error) {
		var ident Object
		if err := m.do(ctx, http.MethodGet, o.IdentityResourceID, identityAPI, nil, nil, &ident); err != nil {
			return false, err
		}
		ident = flatten(ident)
		added = resourcetype.PodIdentity{Name: o.Name, Namespace: o.Namespace, BindingSelector: o.BindingSelector,
			Identity: resourcetype.ClusterIdentity{ResourceID: ident.str("id"), ClientID: ident.str("clientId"), ObjectID: ident.str("principalId")}}
		i := slices.IndexFunc(p.UserAssignedIdentities, func(pi resourcetype.PodIdentity) bool {
			return pi.Name == o.Name && pi.Namespace == o.Namespace
		})
		if i >= 0 {
			cur := p.UserAssignedIdentities[i]
			if !strings.EqualFold(cur.Identity.ResourceID, added.Identity.ResourceID) || cur.BindingSelector != o.BindingSelector {
				return false, fmt.Errorf("the pod identity %s/%s exists with identity %s and binding selector %q: delete it first", o.Namespace, o.Name, cur.Identity.ResourceID, cur.BindingSelector)
			}
		}
		var err error
		if granted, err = m.grantIdentityOperator(ctx, d, added.Identity.ResourceID); err != nil || i >= 0 {
			return false, err
		}
		p.UserAssignedIdentities = append(p.UserAssignedIdentities, added)
		return true, nil
	}, refused: func() {
		// The profile was refused (a limit, a name): the role goes too,
		// so that the command changed nothing. Failing that is only
		// an extra grant, which the next add finds.
		if granted != "" {
			m.do(ctx, http.MethodDelete, granted, authorizationAPI, nil, nil, nil)
		}
	}, sync: func(k *Kube, p *resourcetype.PodIdentityProfile) error {
		for _, pi := range p.UserAssignedIdentities {
			if pi.Name == o.Name && pi.Namespace == o.Namespace {
				added = pi
			}
		}
		if err := k.installDefinitions(ctx); err != nil {
			return err
		}
		return k.writeIdentity(ctx, added)
	}})
}

// grantIdentityOperator gives the cluster's identity Managed Identity
// Operator on an identity, unless an assignment at or above it does; it
// returns the id of the assignment it made, if it made one.
func (m *Management) grantIdentityOperator(ctx context.Context, d *clusterDoc, identityID string) (string, error) {
	if d.Identity == nil || d.Identity.PrincipalID == "" {
		return "", fmt.Errorf("the cluster %s has no managed identity to give the %s role to", d.ID, managedIdentityOperator)
	}
	principal := d.Identity.PrincipalID
	have, err := m.searchAssignments(ctx, AssignmentQuery{Scope: identityID, Inherited: true, Role: managedIdentityOperator})
	if err != nil {
		return "", err
	}
	for _, a := range have {
		if strings.EqualFold(a.str("principalId"), principal) {
			return "", nil
		}
	}
	defID, err := m.resolveRole(ctx, managedIdentityOperator, identityID)
	if err != nil {
		return "", err
	}
	a, err := m.assign(ctx, identityID, defID, principal, "ServicePrincipal")
	if err != nil {
		return "", fmt.Errorf("giving the cluster's identity %s on %s: %w", managedIdentityOperator, identityID, err)
	}
	return a.str("id"), nil
}

// DeletePodIdentity removes a pod identity from the cluster's profile and
// its AzureIdentity and AzureIdentityBinding from the cluster. The role
// assignment stays, as with the cloud CLI.
func (m *Management) DeletePodIdentity(ctx context.Context, c PodIdentityCluster, namespace, name string) (Object, error) {
	if namespace == "" || name == "" {
		return nil, errors.New("--namespace and --name are required")
	}
	found := false
	return m.changePodIdentity(ctx, c, podIdentityChange{change: func(_ *clusterDoc, p *resourcetype.PodIdentityProfile) (bool, error) {
		n := len(p.UserAssignedIdentities)
		p.UserAssignedIdentities = slices.DeleteFunc(p.UserAssignedIdentities, func(pi resourcetype.PodIdentity) bool {
			return pi.Name == name && pi.Namespace == namespace
		})
		found = len(p.UserAssignedIdentities) < n
		return found, nil
	}, sync: func(k *Kube, _ *resourcetype.PodIdentityProfile) error {
		removed, err := k.removeIdentity(ctx, namespace, name)
		if err == nil && !found && !removed {
			err = fmt.Errorf("the cluster has no pod identity %s/%s", namespace, name)
		}
		return err
	}})
}

// PodIdentityException is the pod identity exception commands' options.
type PodIdentityException struct {
	PodIdentityCluster
	Namespace, Name string
	PodLabels       map[string]string
}

// AddPodIdentityException adds an exception to the cluster's profile and
// writes its AzurePodIdentityException; adding one that is there, the
// same, only writes what the cluster lacks.
func (m *Management) AddPodIdentityException(ctx context.Context, o PodIdentityException) (Object, error) {
	return m.putException(ctx, o, false)
}

// UpdatePodIdentityException replaces an exception's pod labels.
func (m *Management) UpdatePodIdentityException(ctx context.Context, o PodIdentityException) (Object, error) {
	return m.putException(ctx, o, true)
}

func (m *Management) putException(ctx context.Context, o PodIdentityException, update bool) (Object, error) {
	if o.Namespace == "" || o.Name == "" || len(o.PodLabels) == 0 {
		return nil, errors.New("--namespace, --name and --pod-labels are required")
	}
	e := resourcetype.PodIdentityException{Name: o.Name, Namespace: o.Namespace, PodLabels: o.PodLabels}
	return m.changePodIdentity(ctx, o.PodIdentityCluster, podIdentityChange{change: func(_ *clusterDoc, p *resourcetype.PodIdentityProfile) (bool, error) {
		i := slices.IndexFunc(p.UserAssignedIdentityExceptions, func(x resourcetype.PodIdentityException) bool {
			return x.Name == o.Name && x.Namespace == o.Namespace
		})
		switch {
		case i < 0 && update:
			return false, fmt.Errorf("pod identity exception %s/%s not found", o.Namespace, o.Name)
		case i < 0:
			p.UserAssignedIdentityExceptions = append(p.UserAssignedIdentityExceptions, e)
			return true, nil
		case maps.Equal(p.UserAssignedIdentityExceptions[i].PodLabels, e.PodLabels):
			return false, nil
		case !update:
			return false, fmt.Errorf("the pod identity exception %s/%s exists with other pod labels: use 'berth aks pod-identity exception update'", o.Namespace, o.Name)
		}
		p.UserAssignedIdentityExceptions[i] = e
		return true, nil
	}, sync: func(k *Kube, _ *resourcetype.PodIdentityProfile) error {
		if err := k.installDefinitions(ctx); err != nil {
			return err
		}
		return k.writeException(ctx, e)
	}})
}

// DeletePodIdentityException removes an exception from the profile and
// the cluster.
func (m *Management) DeletePodIdentityException(ctx context.Context, c PodIdentityCluster, namespace, name string) (Object, error) {
	if namespace == "" || name == "" {
		return nil, errors.New("--namespace and --name are required")
	}
	found := false
	return m.changePodIdentity(ctx, c, podIdentityChange{change: func(_ *clusterDoc, p *resourcetype.PodIdentityProfile) (bool, error) {
		n := len(p.UserAssignedIdentityExceptions)
		p.UserAssignedIdentityExceptions = slices.DeleteFunc(p.UserAssignedIdentityExceptions, func(x resourcetype.PodIdentityException) bool {
			return x.Name == name && x.Namespace == namespace
		})
		found = len(p.UserAssignedIdentityExceptions) < n
		return found, nil
	}, sync: func(k *Kube, _ *resourcetype.PodIdentityProfile) error {
		removed, err := k.remove(ctx, exceptionsGVR, namespace, name)
		if err == nil && !found && !removed {
			err = fmt.Errorf("the cluster has no pod identity exception %s/%s", namespace, name)
		}
		return err
	}})
}

// ParseLabels reads the cloud CLI's space-separated KEY=VALUE pairs.
func ParseLabels(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--pod-labels takes KEY=VALUE pairs, not %q", kv)
		}
		out[k] = v
	}
	return out, nil
}
