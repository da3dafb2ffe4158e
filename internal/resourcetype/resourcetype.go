package resourcetype

import (
	"slices"
	"strings"
)

// The resource types berth serves.
const (
	// Registry is a container registry, answering at its login server.
	Registry = "Microsoft.ContainerRegistry/registries"
	// Identity is a user-assigned managed identity: a managed identity
	// service principal that lives as a resource.
	Identity = "Microsoft.ManagedIdentity/userAssignedIdentities"
	// FederatedIdentityCredential is a user-assigned identity's federated
	// identity credential, a child resource of the identity.
	FederatedIdentityCredential = Identity + "/federatedIdentityCredentials"
	// VirtualMachine is a machine that runs berth's metadata agent.
	VirtualMachine = "Microsoft.Compute/virtualMachines"
	// ManagedCluster is a Kubernetes cluster's record: berth runs no
	// cluster, but keeps what its nodes authenticate as.
	ManagedCluster = "Microsoft.ContainerService/managedClusters"
	// VirtualNetwork, NetworkSecurityGroup, PublicIPAddress and
	// NetworkInterface are records only: berth runs no network, but keeps
	// what templates that make machines (az vm create's) state of theirs.
	VirtualNetwork       = "Microsoft.Network/virtualNetworks"
	NetworkSecurityGroup = "Microsoft.Network/networkSecurityGroups"
	PublicIPAddress      = "Microsoft.Network/publicIPAddresses"
	NetworkInterface     = "Microsoft.Network/networkInterfaces"
	// Deployment is a template deployment in a resource group: a record
	// of what a template made, not one of All's types.
	Deployment = "Microsoft.Resources/deployments"
)

// apiVersions are those the cloud CLI and SDKs send for each type, newest
// first; berth serves every version the same.
var apiVersions = map[string][]string{
	Registry:                    {"2023-11-01-preview", "2023-07-01", "2023-01-01-preview", "2022-12-01", "2022-02-01-preview", "2021-09-01", "2019-05-01"},
	Identity:                    {"2024-11-30", "2023-01-31", "2022-01-31-preview", "2018-11-30"},
	FederatedIdentityCredential: {"2024-11-30", "2023-01-31", "2022-01-31-preview"},
	VirtualMachine:              {"2024-07-01", "2023-09-01", "2022-11-01", "2022-08-01"},
	ManagedCluster:              {"2024-09-01", "2024-02-01", "2023-08-01", "2022-11-01"},
	VirtualNetwork:              networkAPIVersions,
	NetworkSecurityGroup:        networkAPIVersions,
	PublicIPAddress:             networkAPIVersions,
	NetworkInterface:            networkAPIVersions,
}

var networkAPIVersions = []string{"2023-09-01", "2022-07-01", "2022-01-01", "2018-11-01", "2015-06-15"}

// All lists the types berth serves, in a fixed order.
func All() []string {
	return []string{Registry, Identity, FederatedIdentityCredential, VirtualMachine, ManagedCluster,
		VirtualNetwork, NetworkSecurityGroup, PublicIPAddress, NetworkInterface}
}

// Canonical is the served type that typ names, ignoring case, as resource
// ids do.
func Canonical(typ string) (string, bool) {
	for _, t := range All() {
		if strings.EqualFold(t, typ) {
			return t, true
		}
	}
	return "", false
}

// APIVersions are the versions clients send for typ, newest first; nil
// for a type berth does not serve.
func APIVersions(typ string) []string {
	t, _ := Canonical(typ)
	return slices.Clone(apiVersions[t])
}

// StableAPIVersion is the newest version of typ that is not a preview:
// the one the cloud CLI sends, and berth's CLI with it.
func StableAPIVersion(typ string) string {
	for _, v := range APIVersions(typ) {
		if !strings.HasSuffix(v, "-preview") {
			return v
		}
	}
	return ""
}
