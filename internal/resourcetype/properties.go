package resourcetype

import (
	"encoding/json"
	"time"
)

// RegistryProperties are a registry resource's properties.
type RegistryProperties struct {
	LoginServer          string           `json:"loginServer"`
	CreationDate         time.Time        `json:"creationDate"`
	ProvisioningState    string           `json:"provisioningState"`
	AdminUserEnabled     bool             `json:"adminUserEnabled"`
	AnonymousPullEnabled bool             `json:"anonymousPullEnabled"`
	Policies             RegistryPolicies `json:"policies"`
	PublicNetworkAccess  string           `json:"publicNetworkAccess"`
	DataEndpointEnabled  bool             `json:"dataEndpointEnabled"`
	ZoneRedundancy       string           `json:"zoneRedundancy"`
}

// RegistryPolicies holds the one policy berth acts on: whether directory
// tokens for the management resource are accepted at the registry.
type RegistryPolicies struct {
	AzureADAuthenticationAsArmPolicy struct {
		Status string `json:"status"`
	} `json:"azureADAuthenticationAsArmPolicy"`
}

// IdentityProperties are a user-assigned identity's properties.
type IdentityProperties struct {
	TenantID    string `json:"tenantId"`
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
}

// VMProperties are a virtual machine's properties. MachineKey is the
// public half of the machine credential its metadata agent signs with;
// the private half was handed out once.
type VMProperties struct {
	VMID              string          `json:"vmId"`
	ProvisioningState string          `json:"provisioningState"`
	HardwareProfile   json.RawMessage `json:"hardwareProfile,omitempty"`
	StorageProfile    json.RawMessage `json:"storageProfile,omitempty"`
	NetworkProfile    json.RawMessage `json:"networkProfile,omitempty"`
	// OSProfile is kept without its secrets (adminPassword, customData).
	OSProfile  json.RawMessage `json:"osProfile,omitempty"`
	MachineKey *MachineKey     `json:"machineKey,omitempty"`
}

// MachineKey is a machine credential's public key.
type MachineKey struct {
	KeyID     string    `json:"keyId"`
	PublicKey string    `json:"publicKey"` // base64 PKIX DER
	CreatedAt time.Time `json:"createdAt"`
}

// VMIdentity is a virtual machine's identity block, in the cloud's shape.
type VMIdentity struct {
	Type                   string                      `json:"type"`
	PrincipalID            string                      `json:"principalId,omitempty"`
	TenantID               string                      `json:"tenantId,omitempty"`
	UserAssignedIdentities map[string]UserAssignedInfo `json:"userAssignedIdentities,omitempty"`
}

// UserAssignedInfo is what a VM shows of an identity attached to it.
type UserAssignedInfo struct {
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
}

// MachineIdentities are what a machine may get tokens for, right now.
type MachineIdentities struct {
	TenantID string
	Key      *MachineKey
	// System is the system-assigned identity's principal, if any.
	System string
	// User maps each attached identity's resource id to it.
	User map[string]UserAssignedInfo
}

// Machine reads what a virtual machine may get tokens for from its
// resource's properties and identity block, as the control plane stores
// them.
func Machine(properties, identity json.RawMessage) (MachineIdentities, error) {
	var p VMProperties
	if err := json.Unmarshal(properties, &p); err != nil {
		return MachineIdentities{}, err
	}
	m := MachineIdentities{Key: p.MachineKey, User: map[string]UserAssignedInfo{}}
	if len(identity) == 0 {
		return m, nil
	}
	var ident VMIdentity
	if err := json.Unmarshal(identity, &ident); err != nil {
		return m, err
	}
	m.TenantID, m.System = ident.TenantID, ident.PrincipalID
	for k, v := range ident.UserAssignedIdentities {
		m.User[k] = v
	}
	return m, nil
}

// MSIClientID is the client id the cloud shows in the service principal
// profile of a cluster that runs as managed identities.
const MSIClientID = "msi"

// KubeletIdentityKey is the identity profile's key for the nodes'
// identity.
const KubeletIdentityKey = "kubeletidentity"

// ClusterProperties are a managed cluster's properties. The service
// principal's secret is not among them: berth keeps secrets only as
// hashes, so the operator keeps it, and the node file carries it.
type ClusterProperties struct {
	ProvisioningState       string                     `json:"provisioningState"`
	KubernetesVersion       string                     `json:"kubernetesVersion"`
	DNSPrefix               string                     `json:"dnsPrefix"`
	FQDN                    string                     `json:"fqdn"`
	NodeResourceGroup       string                     `json:"nodeResourceGroup"`
	AgentPoolProfiles       json.RawMessage            `json:"agentPoolProfiles,omitempty"`
	ServicePrincipalProfile ServicePrincipalProfile    `json:"servicePrincipalProfile"`
	IdentityProfile         map[string]ClusterIdentity `json:"identityProfile,omitempty"`
	PodIdentityProfile      *PodIdentityProfile        `json:"podIdentityProfile,omitempty"`
	NetworkProfile          *NetworkProfile            `json:"networkProfile,omitempty"`
	OIDCIssuerProfile       *OIDCIssuerProfile         `json:"oidcIssuerProfile,omitempty"`
	SecurityProfile         *SecurityProfile           `json:"securityProfile,omitempty"`
}

// PodIdentityProfile is a cluster's pod-managed identity addon: the
// identities pods may be bound to and the pods the node agent leaves
// alone, with the cloud's field names.
type PodIdentityProfile struct {
	Enabled bool `json:"enabled"`
	// AllowNetworkPluginKubenet consents to pod identity on a kubenet
	// cluster, where a pod can spoof another's address.
	AllowNetworkPluginKubenet      bool                   `json:"allowNetworkPluginKubenet,omitempty"`
	UserAssignedIdentities         []PodIdentity          `json:"userAssignedIdentities"`
	UserAssignedIdentityExceptions []PodIdentityException `json:"userAssignedIdentityExceptions"`
}

// PodIdentity binds a user-assigned identity to the pods of a namespace
// whose aadpodidbinding label is BindingSelector (the name if empty).
type PodIdentity struct {
	Name              string          `json:"name"`
	Namespace         string          `json:"namespace"`
	BindingSelector   string          `json:"bindingSelector,omitempty"`
	Identity          ClusterIdentity `json:"identity"`
	ProvisioningState string          `json:"provisioningState,omitempty"`
}

// PodIdentityException exempts the pods of a namespace that carry any of
// PodLabels from the node agent.
type PodIdentityException struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	PodLabels map[string]string `json:"podLabels"`
}

// NetworkProfile holds a cluster's network plugin: azure, kubenet or none.
type NetworkProfile struct {
	NetworkPlugin string `json:"networkPlugin,omitempty"`
}

// OIDCIssuerProfile is a cluster's OpenID Connect issuer of service
// account tokens. Enabled and IssuerURL are the cloud's: the issuer berth
// hosts for the cluster, whose documents it serves at IssuerURL, with the
// keys in ServiceAccountKeys (berth's: the cluster's service account
// verification keys, a JSON Web Key Set its operator uploads).
// APIServerIssuer (berth's) is the issuer the cluster's API server
// serves itself.
type OIDCIssuerProfile struct {
	Enabled            bool             `json:"enabled"`
	IssuerURL          string           `json:"issuerURL,omitempty"`
	ServiceAccountKeys json.RawMessage  `json:"serviceAccountKeys,omitempty"`
	APIServerIssuer    *APIServerIssuer `json:"apiServerIssuer,omitempty"`
}

// APIServerIssuer is an issuer a cluster's API server serves itself, at
// URL, with a TLS certificate that may chain to CACertificates (PEM; the
// cluster's own CA) rather than to an authority berth trusts anyway.
type APIServerIssuer struct {
	URL            string `json:"url"`
	CACertificates string `json:"caCertificates,omitempty"`
}

// SecurityProfile holds a cluster's workload identity setting.
type SecurityProfile struct {
	WorkloadIdentity *WorkloadIdentity `json:"workloadIdentity,omitempty"`
}

// WorkloadIdentity says whether a cluster's workloads get tokens as the
// applications their service accounts name; it needs the OIDC issuer.
type WorkloadIdentity struct {
	Enabled bool `json:"enabled"`
}

// ServicePrincipalProfile names the application a cluster's nodes
// authenticate as, or MSIClientID.
type ServicePrincipalProfile struct {
	ClientID string `json:"clientId"`
}

// ClusterIdentity is a user-assigned identity in a cluster's identity
// profile.
type ClusterIdentity struct {
	ClientID   string `json:"clientId"`
	ObjectID   string `json:"objectId"`
	ResourceID string `json:"resourceId"`
}
