package controlplane

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

// DefaultKubernetesVersion is what a cluster created without a version
// records.
const DefaultKubernetesVersion = "1.30.0"

type clusterInput struct {
	KubernetesVersion       string                       `json:"kubernetesVersion"`
	DNSPrefix               string                       `json:"dnsPrefix"`
	AgentPoolProfiles       json.RawMessage              `json:"agentPoolProfiles"`
	PodIdentityProfile      json.RawMessage              `json:"podIdentityProfile"`
	NetworkProfile          *resourcetype.NetworkProfile `json:"networkProfile"`
	ServicePrincipalProfile *struct {
		ClientID string `json:"clientId"`
		Secret   string `json:"secret"`
	} `json:"servicePrincipalProfile"`
}

var clusterName = regexp.MustCompile(`^[a-zA-Z0-9][-_a-zA-Z0-9]{0,62}$`)

type clusterKind struct{}

func (clusterKind) Type() string { return resourcetype.ManagedCluster }

func (k clusterKind) create(ctx context.Context, s *Service, sub store.Subscription, r *store.Resource, in ResourceInput) (err error) {
	if !clusterName.MatchString(r.Name) {
		return fail(ErrBadRequest, "InvalidParameter", "The cluster name '%s' is invalid: 1 to 63 letters, digits, hyphens and underscores, starting with a letter or digit.", r.Name)
	}
	var pin clusterInput
	if err := decodeInput(in.Properties, &pin); err != nil {
		return err
	}
	managed := len(in.Identity) > 0 && string(in.Identity) != "null"
	if managed == (pin.ServicePrincipalProfile != nil && pin.ServicePrincipalProfile.ClientID != resourcetype.MSIClientID) {
		return fail(ErrBadRequest, "InvalidParameter", "Give either servicePrincipalProfile (clientId and secret) or a managed identity (identity.type SystemAssigned), not both or neither.")
	}
	p := resourcetype.ClusterProperties{ProvisioningState: "Succeeded", KubernetesVersion: pin.KubernetesVersion, DNSPrefix: pin.DNSPrefix,
		AgentPoolProfiles: pin.AgentPoolProfiles, NetworkProfile: pin.NetworkProfile,
		NodeResourceGroup: "MC_" + r.ResourceGroup + "_" + r.Name + "_" + normalizeLocation(r.Location)}
	if err := checkNetworkPlugin(p.NetworkProfile); err != nil {
		return err
	}
	if p.PodIdentityProfile, err = podIdentityInput(pin.PodIdentityProfile); err != nil {
		return err
	}
	if err := s.applyPodIdentity(ctx, in.caller, sub.TenantID, managed, p.NetworkProfile, nil, p.PodIdentityProfile); err != nil {
		return err
	}
	if p.KubernetesVersion == "" {
		p.KubernetesVersion = DefaultKubernetesVersion
	}
	if p.DNSPrefix == "" {
		p.DNSPrefix = r.Name
	}
	// berth serves no API server: the name has the cloud's form under a
	// local suffix, so that clients reading it find what they expect.
	nonce := make([]byte, 4)
	rand.Read(nonce)
	p.FQDN = strings.ToLower(p.DNSPrefix) + "-" + hex.EncodeToString(nonce) + ".hcp." + normalizeLocation(r.Location) + ".k8s.localhost"
	if err := s.applyIssuer(ctx, sub.TenantID, *r, nil, &p, in); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.releaseIssuers(ctx, r.ID, p)
		}
	}()
	if !managed {
		sp := pin.ServicePrincipalProfile
		if err := s.checkClientSecret(ctx, in.caller, sub.TenantID, sp.ClientID, sp.Secret); err != nil {
			return err
		}
		p.ServicePrincipalProfile.ClientID = sp.ClientID
		var err error
		r.Properties, err = json.Marshal(p)
		return err
	}
	p.ServicePrincipalProfile.ClientID = resourcetype.MSIClientID
	if err := k.applyIdentity(ctx, s, sub.TenantID, r, nil, in); err != nil {
		return err
	}
	if r.Identity == nil {
		return fail(ErrBadRequest, "InvalidParameter", "A cluster without a service principal needs identity.type SystemAssigned.")
	}
	kubelet, err := s.createKubeletIdentity(ctx, sub, *r)
	if err != nil {
		k.destroyIdentity(ctx, s, *r)
		return err
	}
	p.IdentityProfile = map[string]resourcetype.ClusterIdentity{resourcetype.KubeletIdentityKey: kubelet}
	r.Properties, err = json.Marshal(p)
	return err
}

// podIdentityInput decodes a request's pod identity profile; null or
// absent is none.
func podIdentityInput(raw json.RawMessage) (*resourcetype.PodIdentityProfile, error) {
	var p *resourcetype.PodIdentityProfile
	if err := decodeInput(raw, &p); err != nil {
		return nil, err
	}
	return p, nil
}

// applyIdentity is the cluster's own identity (its control plane's), of
// the same shape and life as a virtual machine's.
func (clusterKind) applyIdentity(ctx context.Context, s *Service, tenantID string, r *store.Resource, cur *resourcetype.VMIdentity, in ResourceInput) error {
	var want struct {
		Type string `json:"type"`
	}
	if err := decodeInput(in.Identity, &want); err != nil {
		return err
	}
	if t := strings.ToLower(want.Type); len(in.Identity) > 0 && string(in.Identity) != "null" && t != "systemassigned" && t != "none" {
		return fail(ErrBadRequest, "InvalidIdentityType", "A cluster's identity type is SystemAssigned or None, not '%s'.", want.Type)
	}
	return vmKind{}.applyIdentity(ctx, s, tenantID, r, cur, in)
}

// createKubeletIdentity makes the nodes' user-assigned identity, as the
// cloud does in the node resource group; berth has no such group, so it
// goes into the cluster's own, named <cluster>-agentpool.
func (s *Service) createKubeletIdentity(ctx context.Context, sub store.Subscription, cluster store.Resource) (resourcetype.ClusterIdentity, error) {
	id := resourceid.ID{Subscription: cluster.SubscriptionID, ResourceGroup: cluster.ResourceGroup,
		Namespace: "Microsoft.ManagedIdentity", Types: []string{"userAssignedIdentities"}, Names: []string{cluster.Name + "-agentpool"}}
	now := time.Now().UTC()
	r := store.Resource{ID: id.String(), SubscriptionID: id.Subscription, ResourceGroup: id.ResourceGroup, Type: resourcetype.Identity,
		Name: id.Name(), Location: cluster.Location, CreatedAt: now, UpdatedAt: now}
	if err := (identityKind{}).create(ctx, s, sub, &r, ResourceInput{}); err != nil {
		return resourcetype.ClusterIdentity{}, err
	}
	if err := s.Store.CreateResource(ctx, r); err != nil {
		(identityKind{}).destroy(ctx, s, r)
		if errors.Is(err, store.ErrExists) {
			return resourcetype.ClusterIdentity{}, fail(ErrConflict, "Conflict", "The kubelet identity %s exists already: delete it or name the cluster otherwise.", r.ID)
		}
		return resourcetype.ClusterIdentity{}, err
	}
	var p resourcetype.IdentityProperties
	if err := json.Unmarshal(r.Properties, &p); err != nil {
		return resourcetype.ClusterIdentity{}, err
	}
	return resourcetype.ClusterIdentity{ClientID: p.ClientID, ObjectID: p.PrincipalID, ResourceID: r.ID}, nil
}

func (k clusterKind) update(ctx context.Context, s *Service, old store.Resource, r *store.Resource, in ResourceInput, replace bool) error {
	var p resourcetype.ClusterProperties
	if err := json.Unmarshal(old.Properties, &p); err != nil {
		return err
	}
	var pin clusterInput
	if err := decodeInput(in.Properties, &pin); err != nil {
		return err
	}
	sub, err := s.Store.GetSubscription(ctx, old.SubscriptionID)
	if err != nil {
		return err
	}
	if pin.KubernetesVersion != "" {
		p.KubernetesVersion = pin.KubernetesVersion
	}
	if pin.AgentPoolProfiles != nil {
		p.AgentPoolProfiles = pin.AgentPoolProfiles
	}
	if n := pin.NetworkProfile; n != nil {
		if err := checkNetworkPlugin(n); err != nil {
			return err
		}
		if cur := p.NetworkProfile; n.NetworkPlugin != "" && cur != nil && cur.NetworkPlugin != "" && n.NetworkPlugin != cur.NetworkPlugin {
			return fail(ErrBadRequest, "BadRequest", "The network plugin of the cluster %s is %s: it does not change.", r.Name, cur.NetworkPlugin)
		}
		if n.NetworkPlugin != "" {
			p.NetworkProfile = n
		}
	}
	if replace || pin.PodIdentityProfile != nil {
		oldProfile := p.PodIdentityProfile
		if p.PodIdentityProfile, err = podIdentityInput(pin.PodIdentityProfile); err != nil {
			return err
		}
		if err := s.applyPodIdentity(ctx, in.caller, sub.TenantID, managedCluster(p),
			p.NetworkProfile, oldProfile, p.PodIdentityProfile); err != nil {
			return err
		}
	}
	// The cloud CLI sends a cluster back with its client id and no
	// secret: only a new client id needs (and proves) its secret.
	if sp := pin.ServicePrincipalProfile; sp != nil && sp.ClientID != p.ServicePrincipalProfile.ClientID {
		if managedCluster(p) || sp.ClientID == resourcetype.MSIClientID {
			return fail(ErrBadRequest, "BadRequest", "A cluster does not change between a service principal and managed identities; "+
				"the application a managed identity cluster's nodes act as changes by resetServicePrincipalProfile.")
		}
		if err := s.checkClientSecret(ctx, in.caller, sub.TenantID, sp.ClientID, sp.Secret); err != nil {
			return err
		}
		p.ServicePrincipalProfile.ClientID = sp.ClientID
	}
	var cur resourcetype.VMIdentity
	if len(old.Identity) > 0 {
		if err := json.Unmarshal(old.Identity, &cur); err != nil {
			return err
		}
	}
	if !managedCluster(p) && len(in.Identity) > 0 && string(in.Identity) != "null" {
		return fail(ErrBadRequest, "BadRequest", "A cluster does not change between a service principal and managed identities.")
	}
	if err := k.applyIdentity(ctx, s, sub.TenantID, r, &cur, in); err != nil {
		return err
	}
	if managedCluster(p) && r.Identity == nil {
		return fail(ErrBadRequest, "BadRequest", "A cluster that runs as managed identities keeps its system-assigned identity.")
	}
	// Last: what it claims stays claimed.
	if err := s.applyIssuer(ctx, sub.TenantID, old, p.OIDCIssuerProfile, &p, in); err != nil {
		return err
	}
	r.Properties, err = json.Marshal(p)
	return err
}

// managedCluster reports whether a cluster runs as managed identities:
// it has a kubelet identity, whether its nodes use it as itself or as
// the application it stands for.
func managedCluster(p resourcetype.ClusterProperties) bool {
	_, ok := p.IdentityProfile[resourcetype.KubeletIdentityKey]
	return ok
}

// ResetServicePrincipal makes the cluster's nodes authenticate as another
// application (the cloud's update-credentials). A cluster with a service
// principal proves the client id's secret in the cluster's tenant, the
// application's home tenant or one that consented to it. A cluster that
// runs as managed identities takes no secret: its nodes act as the
// application through the kubelet identity, whose tokens for the token
// exchange audience one of the application's federated credentials must
// trust; the client id msi makes the nodes pull as the kubelet identity
// itself again.
func (s *Service) ResetServicePrincipal(ctx context.Context, c Caller, id resourceid.ID, clientID, clientSecret string) (err error) {
	defer func() {
		s.record(ctx, c, resourcetype.ManagedCluster+"/resetServicePrincipalProfile/action", id, id.String(), audit.Done(err, "nodes authenticate as application "+clientID), err)
	}()
	id = canonical(id, clusterKind{})
	sub, err := s.subscription(ctx, c, id.Subscription)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, c, id.String(), resourcetype.ManagedCluster+"/resetServicePrincipalProfile/action"); err != nil {
		return err
	}
	r, err := s.Store.GetResource(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return resourceNotFound(resourcetype.ManagedCluster, id.Name(), id.ResourceGroup)
	}
	if err != nil {
		return err
	}
	var p resourcetype.ClusterProperties
	if err := json.Unmarshal(r.Properties, &p); err != nil {
		return err
	}
	if managedCluster(p) {
		err = s.checkKubeletTrust(ctx, sub.TenantID, r.Name, p.IdentityProfile[resourcetype.KubeletIdentityKey], clientID, clientSecret)
	} else {
		err = s.checkClientSecret(ctx, c, sub.TenantID, clientID, clientSecret)
	}
	if err != nil {
		return err
	}
	p.ServicePrincipalProfile.ClientID = clientID
	if r.Properties, err = json.Marshal(p); err != nil {
		return err
	}
	r.UpdatedAt = time.Now().UTC()
	return s.Store.UpdateResource(ctx, r)
}

// checkKubeletTrust proves that the kubelet identity's tokens would get
// the application's: the application is one of the cluster's tenant's
// own, and a federated credential of it names the tenant's own issuer,
// the identity's object id as subject, and the token exchange audience,
// as the token service matches them. Applications of other tenants are
// not looked into: whether they exist is theirs to say.
func (s *Service) checkKubeletTrust(ctx context.Context, tenantID, cluster string, kubelet resourcetype.ClusterIdentity, clientID, clientSecret string) error {
	if clientSecret != "" {
		return fail(ErrBadRequest, "BadRequest", "The cluster %s runs as managed identities: its nodes act as an application through the kubelet identity, with no secret. Give the client id alone.", cluster)
	}
	if clientID == resourcetype.MSIClientID {
		return nil
	}
	if clientID == "" {
		return fail(ErrBadRequest, "InvalidParameter", "servicePrincipalProfile needs clientId.")
	}
	app, err := s.Store.GetApplicationByAppID(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) || err == nil && app.TenantID != tenantID {
		return fail(ErrBadRequest, "ServicePrincipalNotFound", "The application %s was not found in the cluster's tenant %s.", clientID, tenantID)
	}
	if err != nil {
		return err
	}
	creds, err := s.Store.ListFederatedCredentials(ctx, app.ObjectID)
	if err != nil {
		return err
	}
	for _, fc := range creds {
		if t, ok := federation.OwnIssuerTenant(fc.Issuer); ok && t == tenantID && fc.Subject == kubelet.ObjectID && slices.Contains(fc.Audiences, federation.DefaultAudience) {
			return nil
		}
	}
	return fail(ErrBadRequest, "BadRequest", "No federated credential of the application %s trusts the kubelet identity of the cluster %s: "+
		"add one with issuer <berth>/%s/v2.0, subject %s and audience %s.", clientID, cluster, tenantID, kubelet.ObjectID, federation.DefaultAudience)
}

// checkClientSecret proves that an application authenticates in a tenant
// with a secret, as the token service would let it: the secret is one of
// the application's, current, and the application has a service
// principal in the tenant. Wrong secrets are throttled per caller.
func (s *Service) checkClientSecret(ctx context.Context, c Caller, tenantID, clientID, given string) error {
	if clientID == "" || given == "" {
		return fail(ErrBadRequest, "InvalidParameter", "servicePrincipalProfile needs clientId and secret.")
	}
	_, err := s.Clients.Secret(ctx, tenantID, clientID, given, "principal:"+c.ObjectID)
	switch {
	case errors.Is(err, clientauth.ErrNoServicePrincipal):
		return fail(ErrBadRequest, "ServicePrincipalNotFound",
			"The application %s has no service principal in the cluster's tenant %s: create one there, or consent to the application.", clientID, tenantID)
	case errors.Is(err, clientauth.ErrApplicationNotFound):
		return fail(ErrBadRequest, "ServicePrincipalNotFound", "The application %s was not found.", clientID)
	case errors.Is(err, clientauth.ErrSecretExpired):
		return fail(ErrBadRequest, "BadRequest", "The secret of the application %s has expired.", clientID)
	case errors.Is(err, clientauth.ErrInvalidSecret):
		return fail(ErrBadRequest, "BadRequest", "The secret is not a current client secret of the application %s.", clientID)
	}
	return err
}

func (k clusterKind) destroy(ctx context.Context, s *Service, r store.Resource) error {
	if err := k.destroyIdentity(ctx, s, r); err != nil {
		return err
	}
	var p resourcetype.ClusterProperties
	if len(r.Properties) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Properties, &p); err != nil {
		return err
	}
	s.releaseIssuers(ctx, r.ID, p)
	// The kubelet identity goes with the cluster, as the node resource
	// group does in the cloud.
	for _, ident := range p.IdentityProfile {
		kr, err := s.Store.GetResource(ctx, ident.ResourceID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.destroy(ctx, kr); err != nil {
			return err
		}
	}
	return nil
}

// destroyIdentity deletes the cluster's system-assigned identity.
func (clusterKind) destroyIdentity(ctx context.Context, s *Service, r store.Resource) error {
	return vmKind{}.destroy(ctx, s, r)
}
