package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/pki"
	"github.com/berthhq/berth/internal/resourcetype"
)

// msiClientID is what a cluster that runs as managed identities shows as
// its service principal's client id, as in the cloud.
const msiClientID = "msi"

// ClusterCreate are berth aks create's options: a service principal
// (ServicePrincipal and ClientSecret) or managed identities.
type ClusterCreate struct {
	Name, Group, Location, KubernetesVersion, DNSPrefix string
	ServicePrincipal, ClientSecret                      string
	ManagedIdentity                                     bool
	NodeCount                                           int
	// OIDCIssuer and WorkloadIdentity enable the cluster's OIDC issuer,
	// which berth hosts, and workload identity, which needs it.
	OIDCIssuer, WorkloadIdentity bool
	// NetworkPlugin is azure (if empty), kubenet or none.
	NetworkPlugin string
}

// CreateCluster records a cluster. With a service principal, berth checks
// that the secret authenticates the application in the cluster's tenant
// and keeps only the client id.
func (m *Management) CreateCluster(ctx context.Context, o ClusterCreate) (Object, error) {
	if o.ManagedIdentity == (o.ServicePrincipal != "") {
		return nil, errors.New("give either --service-principal with --client-secret, or --enable-managed-identity")
	}
	if o.ServicePrincipal != "" && o.ClientSecret == "" {
		return nil, errors.New("--service-principal needs --client-secret")
	}
	if o.Location == "" {
		var err error
		if o.Location, err = m.groupLocation(ctx, o.Group); err != nil {
			return nil, err
		}
	}
	props := map[string]any{
		"agentPoolProfiles": []any{map[string]any{"name": "nodepool1", "count": o.NodeCount, "vmSize": "Standard_DS2_v2", "mode": "System", "osType": "Linux"}},
	}
	if o.NetworkPlugin == "" {
		o.NetworkPlugin = "azure"
	}
	props["networkProfile"] = map[string]any{"networkPlugin": o.NetworkPlugin}
	if o.KubernetesVersion != "" {
		props["kubernetesVersion"] = o.KubernetesVersion
	}
	if o.DNSPrefix != "" {
		props["dnsPrefix"] = o.DNSPrefix
	}
	if o.OIDCIssuer {
		props["oidcIssuerProfile"] = map[string]any{"enabled": true}
	}
	if o.WorkloadIdentity {
		props["securityProfile"] = map[string]any{"workloadIdentity": map[string]any{"enabled": true}}
	}
	body := map[string]any{"location": o.Location, "properties": props}
	if o.ManagedIdentity {
		body["identity"] = map[string]any{"type": "SystemAssigned"}
	} else {
		props["servicePrincipalProfile"] = map[string]any{"clientId": o.ServicePrincipal, "secret": o.ClientSecret}
	}
	path, err := m.resourcePath(o.Group, resourcetype.ManagedCluster, o.Name)
	if err != nil {
		return nil, err
	}
	var out Object
	if err := m.do(ctx, http.MethodPut, path, clusterAPI, nil, body, &out); err != nil {
		return nil, err
	}
	return clusterOut(flatten(out)), nil
}

// clusterOut shows a cluster as the cloud CLI does: its SDK's models
// name the issuer's URL issuerUrl, the wire issuerURL.
func clusterOut(c Object) Object {
	if p, ok := c["oidcIssuerProfile"].(map[string]any); ok {
		if u, ok := p["issuerURL"]; ok {
			delete(p, "issuerURL")
			p["issuerUrl"] = u
		}
	}
	return c
}

// ShowCluster gets a cluster.
func (m *Management) ShowCluster(ctx context.Context, name, group string) (Object, error) {
	c, err := m.showResource(ctx, group, resourcetype.ManagedCluster, name, clusterAPI)
	if err != nil {
		return nil, err
	}
	return clusterOut(c), nil
}

// ClusterUpdate are berth aks update's options; what is not given stays
// as it is.
type ClusterUpdate struct {
	Name, Group string
	// OIDCIssuer enables the OIDC issuer berth hosts for the cluster (it
	// cannot be disabled).
	OIDCIssuer bool
	// WorkloadIdentity enables (true) or disables (false) workload
	// identity.
	WorkloadIdentity *bool
	// ServiceAccountKeysFile holds the cluster's service account public
	// keys (PEM, or a JSON Web Key Set), served by the issuer berth hosts.
	ServiceAccountKeysFile string
	// APIServerIssuer is the issuer the cluster's API server serves
	// itself, whose TLS certificate may chain to the CA certificates in
	// APIServerIssuerCAFile; APIServerIssuerSet with an empty URL forgets it.
	APIServerIssuer, APIServerIssuerCAFile string
	APIServerIssuerSet                     bool
	// PodIdentity enables (true) or disables (false) the pod identity
	// addon; PodIdentityKubenet consents to it on a kubenet cluster.
	// Enabling writes the addon's definitions and exceptions into the
	// cluster's API server, reached with Kubeconfig; disabling removes
	// the pod identity objects berth wrote there.
	PodIdentity        *bool
	PodIdentityKubenet bool
	Kubeconfig         string
}

// UpdateCluster changes a cluster's issuer, workload identity and pod
// identity settings with a PATCH, as the cloud CLI's aks update does. Keys
// and the kubeconfig are read and checked here, so that a file berth
// would refuse is refused before anything is sent.
func (m *Management) UpdateCluster(ctx context.Context, o ClusterUpdate) (Object, error) {
	props := map[string]any{}
	issuer := map[string]any{}
	if o.OIDCIssuer {
		issuer["enabled"] = true
	}
	if o.ServiceAccountKeysFile != "" {
		data, err := os.ReadFile(o.ServiceAccountKeysFile)
		if err != nil {
			return nil, err
		}
		set, err := federation.ParseKeys(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.ServiceAccountKeysFile, err)
		}
		issuer["serviceAccountKeys"] = set
	}
	if o.APIServerIssuerSet {
		ai := map[string]any{"url": o.APIServerIssuer}
		if o.APIServerIssuerCAFile != "" {
			ca, err := os.ReadFile(o.APIServerIssuerCAFile)
			if err != nil {
				return nil, err
			}
			ai["caCertificates"] = string(ca)
		}
		issuer["apiServerIssuer"] = ai
	} else if o.APIServerIssuerCAFile != "" {
		return nil, errors.New("--api-server-issuer-ca-file needs --api-server-issuer")
	}
	if len(issuer) > 0 {
		props["oidcIssuerProfile"] = issuer
	}
	if o.WorkloadIdentity != nil {
		props["securityProfile"] = map[string]any{"workloadIdentity": map[string]any{"enabled": *o.WorkloadIdentity}}
	}
	if o.PodIdentityKubenet && (o.PodIdentity == nil || !*o.PodIdentity) {
		return nil, errors.New("--enable-pod-identity-with-kubenet goes with --enable-pod-identity")
	}
	var kube *Kube
	if o.PodIdentity != nil {
		var err error
		if kube, err = OpenKube(o.Kubeconfig); err != nil {
			return nil, err
		}
		_, d, err := m.clusterDoc(ctx, o.Group, o.Name)
		if err != nil {
			return nil, err
		}
		// As the cloud CLI: enabling keeps the identities and exceptions
		// the profile has, disabling drops them.
		p := resourcetype.PodIdentityProfile{Enabled: *o.PodIdentity}
		if cur := d.Properties.PodIdentityProfile; cur != nil && p.Enabled {
			p = *cur
			p.Enabled = true
		}
		p.AllowNetworkPluginKubenet = p.AllowNetworkPluginKubenet || o.PodIdentityKubenet
		props["podIdentityProfile"] = p
	}
	if len(props) == 0 {
		return nil, errors.New("nothing to update: give --enable-oidc-issuer, --enable-workload-identity, --disable-workload-identity, --service-account-keys, --api-server-issuer, " +
			"--enable-pod-identity or --disable-pod-identity")
	}
	path, err := m.resourcePath(o.Group, resourcetype.ManagedCluster, o.Name)
	if err != nil {
		return nil, err
	}
	var out Object
	if err := m.do(ctx, http.MethodPatch, path, clusterAPI, nil, map[string]any{"properties": props}, &out); err != nil {
		return nil, err
	}
	if kube != nil {
		if err := syncPodIdentity(ctx, kube, out); err != nil {
			return nil, clusterWriteError(o.Name, err)
		}
	}
	return clusterOut(flatten(out)), nil
}

// syncPodIdentity makes the cluster's API server what the cluster's
// profile says after enabling or disabling.
func syncPodIdentity(ctx context.Context, k *Kube, cluster Object) error {
	b, err := json.Marshal(cluster)
	if err != nil {
		return err
	}
	var d clusterDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	if !d.podIdentityEnabled() {
		return k.removeAll(ctx)
	}
	return k.writeProfile(ctx, d.Properties.PodIdentityProfile)
}

// DeleteCluster deletes a cluster, and with it its identities.
func (m *Management) DeleteCluster(ctx context.Context, name, group string) error {
	return m.deleteResource(ctx, group, resourcetype.ManagedCluster, name, clusterAPI)
}

// ResetClusterServicePrincipal makes the cluster's nodes authenticate as
// another application, or the same one with a new secret (the cloud's
// update-credentials --reset-service-principal); a cluster that runs as
// managed identities takes no secret: its nodes act as the application
// through the kubelet identity, which the application's federated
// credential must trust (msi: as the kubelet identity itself). Nodes
// learn of it from a new node file (NodeConfig).
func (m *Management) ResetClusterServicePrincipal(ctx context.Context, name, group, clientID, clientSecret string) (Object, error) {
	path, err := m.resourcePath(group, resourcetype.ManagedCluster, name)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"clientId": clientID}
	if clientSecret != "" {
		body["secret"] = clientSecret
	}
	if err := m.do(ctx, http.MethodPost, path+"/resetServicePrincipalProfile", clusterAPI, nil, body, nil); err != nil {
		return nil, err
	}
	return m.ShowCluster(ctx, name, group)
}

// NodeConfig is the file a cluster's nodes read, in the shape of the
// cloud's azure.json (its key names, which the cloud's node tooling
// reads), with berth's address and CA added. The credential provider
// reads it at every call, so a new file takes effect at the next image
// pull.
type NodeConfig struct {
	Cloud                       string `json:"cloud"`
	TenantID                    string `json:"tenantId"`
	SubscriptionID              string `json:"subscriptionId"`
	ResourceGroup               string `json:"resourceGroup"`
	Location                    string `json:"location"`
	AADClientID                 string `json:"aadClientId"`
	AADClientSecret             string `json:"aadClientSecret,omitempty"`
	UseManagedIdentityExtension bool   `json:"useManagedIdentityExtension"`
	// UserAssignedIdentityID is the kubelet identity's client id (a
	// resource id if it contains /subscriptions/).
	UserAssignedIdentityID string `json:"userAssignedIdentityID,omitempty"`
	// RegistryTenantID (berth's) is, for a node that acts as an
	// application through the kubelet identity, the tenant of the
	// registries it pulls from, which consented to the application; the
	// default is TenantID.
	RegistryTenantID string `json:"registryTenantId,omitempty"`

	// BerthServer is berth's base URL; login servers are reached there.
	BerthServer string `json:"berthServer"`
	// BerthCA is the PEM of berth's certificate authority.
	BerthCA string `json:"berthCA,omitempty"`
	// RegistrySuffix: the provider answers for <name>.<suffix> only.
	RegistrySuffix string `json:"registrySuffix"`
}

// NodeConfigOptions are berth aks get-node-config's options.
type NodeConfigOptions struct {
	Name, Group, File string
	// ClientSecret is the service principal's, which berth does not keep.
	ClientSecret string
	// RegistryTenant is the registries' tenant of a cluster whose nodes
	// act as an application through the kubelet identity.
	RegistryTenant string
}

// WriteNodeConfig writes a cluster's node file (mode 0600: it may hold
// the service principal's secret). The secret is checked first by getting
// a token with it, so that a file that would not work is not handed out.
func (m *Management) WriteNodeConfig(ctx context.Context, o NodeConfigOptions) (Object, error) {
	c, err := m.ShowCluster(ctx, o.Name, o.Group)
	if err != nil {
		return nil, err
	}
	sub, err := m.Subscription()
	if err != nil {
		return nil, err
	}
	suffix, err := m.registrySuffix(ctx)
	if err != nil {
		return nil, err
	}
	n := NodeConfig{Cloud: "berth", TenantID: m.p.TenantID, SubscriptionID: sub, ResourceGroup: c.str("resourceGroup"), Location: c.str("location"),
		BerthServer: m.p.Server, BerthCA: m.p.CACert, RegistrySuffix: suffix}
	for _, s := range m.p.Subscriptions {
		if s.ID == sub && s.TenantID != "" {
			n.TenantID = s.TenantID
		}
	}
	clientID := ""
	if sp, ok := c["servicePrincipalProfile"].(map[string]any); ok {
		clientID, _ = sp["clientId"].(string)
	}
	// A cluster with a service principal has no identity profile.
	profile, _ := c["identityProfile"].(map[string]any)
	kubelet, _ := profile["kubeletidentity"].(map[string]any)
	kubeletID, _ := kubelet["clientId"].(string)
	mode := "servicePrincipal"
	switch {
	case o.RegistryTenant != "" && (kubeletID == "" || clientID == msiClientID):
		return nil, fmt.Errorf("--registry-tenant is for a cluster whose nodes act as an application through the kubelet identity (berth aks update-credentials --reset-service-principal --service-principal APP_ID); %s pulls as %s", c.str("id"), clientID)
	case kubeletID != "" && clientID != msiClientID && clientID != "":
		// No token is got here to check the file: only the node's
		// metadata endpoint has the kubelet identity's, and berth checked
		// the application's trust in it when the cluster moved to it.
		mode = "applicationThroughKubeletIdentity"
		n.AADClientID, n.UseManagedIdentityExtension, n.UserAssignedIdentityID = clientID, true, kubeletID
		n.RegistryTenantID = o.RegistryTenant
	case clientID == msiClientID || clientID == "":
		mode = "managedIdentity"
		if kubeletID == "" {
			return nil, fmt.Errorf("the cluster %s has neither a service principal nor a kubelet identity", c.str("id"))
		}
		// The cloud writes "msi" in both for nodes that use managed
		// identities.
		n.AADClientID, n.AADClientSecret = msiClientID, msiClientID
		n.UseManagedIdentityExtension, n.UserAssignedIdentityID = true, kubeletID
	default:
		if o.ClientSecret == "" {
			return nil, fmt.Errorf("the cluster runs as the service principal %s: give its secret (--client-secret or AAD_CLIENT_SECRET), which berth does not keep", clientID)
		}
		n.AADClientID, n.AADClientSecret = clientID, o.ClientSecret
		check := &Profile{Server: n.BerthServer, CACert: n.BerthCA, TenantID: n.TenantID, User: User{Name: clientID}, Secret: o.ClientSecret}
		if _, err := check.fetchToken(ctx, RegistryResource); err != nil {
			return nil, fmt.Errorf("the secret does not authenticate %s in tenant %s: %w", clientID, n.TenantID, err)
		}
	}
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(o.File), 0o700); err != nil {
		return nil, err
	}
	if err := pki.WriteFileAtomic(o.File, append(b, '\n'), 0o600); err != nil {
		return nil, err
	}
	out := Object{"file": o.File, "mode": mode, "aadClientId": n.AADClientID, "tenantId": n.TenantID}
	if n.RegistryTenantID != "" {
		out["registryTenantId"] = n.RegistryTenantID
	}
	return out, nil
}
