package authz

import (
	"sort"
	"strings"
)

// RoleDefinition is a role's id (its GUID), name and permissions.
type RoleDefinition struct {
	ID             string
	Name           string
	Description    string
	Actions        []string
	NotActions     []string
	DataActions    []string
	NotDataActions []string
}

// Built-in role definition ids, the public cloud's, so that scripts and
// clients that name roles by id work unchanged.
const (
	Owner                     = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	Contributor               = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	Reader                    = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	UserAccessAdministrator   = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	AcrPull                   = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
	AcrPush                   = "8311e382-0749-4cb8-b61a-304f252e45ec"
	AcrDelete                 = "c2f4ef07-c644-48eb-af81-4b1b4947fb11"
	AcrImageSigner            = "6cef56e8-d556-48e5-a04f-b8e64114680f"
	ManagedIdentityOperator   = "f1a07417-d97a-45cb-824c-7a7467783830"
	VirtualMachineContributor = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"
)

// Registry actions, as role definitions grant them.
const (
	ActionRegistryPull   = "Microsoft.ContainerRegistry/registries/pull/read"
	ActionRegistryPush   = "Microsoft.ContainerRegistry/registries/push/write"
	ActionRegistryDelete = "Microsoft.ContainerRegistry/registries/artifacts/delete"
	ActionRegistrySign   = "Microsoft.ContainerRegistry/registries/sign/write"
)

var builtIn = []RoleDefinition{
	{ID: Owner, Name: "Owner", Description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		Actions: []string{"*"}},
	{ID: Contributor, Name: "Contributor", Description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
		Actions:    []string{"*"},
		NotActions: []string{"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action"}},
	{ID: Reader, Name: "Reader", Description: "View all resources, but does not allow you to make any changes.",
		Actions: []string{"*/read"}},
	{ID: UserAccessAdministrator, Name: "User Access Administrator", Description: "Lets you manage user access to Azure resources.",
		Actions: []string{"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}},
	{ID: AcrPull, Name: "AcrPull", Description: "acr pull",
		Actions: []string{ActionRegistryPull}},
	{ID: AcrPush, Name: "AcrPush", Description: "acr push",
		Actions: []string{ActionRegistryPull, ActionRegistryPush}},
	{ID: AcrDelete, Name: "AcrDelete", Description: "acr delete",
		Actions: []string{ActionRegistryDelete}},
	{ID: AcrImageSigner, Name: "AcrImageSigner", Description: "acr image signer",
		Actions: []string{ActionRegistrySign}},
	{ID: ManagedIdentityOperator, Name: "Managed Identity Operator", Description: "Read and Assign User Assigned Identity",
		Actions: []string{
			"Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
			"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Support/*",
		}},
	{ID: VirtualMachineContributor, Name: "Virtual Machine Contributor", Description: "Create and manage virtual machines, manage disks, install and run software, reset password of the root user of the virtual machine using VM extensions, and manage local user accounts using VM extensions. This role does not grant you management access to the virtual network or storage account the virtual machines are connected to nor access to roles in Azure RBAC.",
		Actions: []string{
			"Microsoft.Authorization/*/read",
			"Microsoft.Compute/availabilitySets/*",
			"Microsoft.Compute/locations/*",
			"Microsoft.Compute/virtualMachines/*",
			"Microsoft.Compute/virtualMachineScaleSets/*",
			"Microsoft.Compute/disks/write",
			"Microsoft.Compute/disks/read",
			"Microsoft.Compute/disks/delete",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Network/networkInterfaces/*",
			"Microsoft.Network/virtualNetworks/read",
			"Microsoft.Network/virtualNetworks/subnets/join/action",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Support/*",
		}},
}

var byID = func() map[string]*RoleDefinition {
	m := make(map[string]*RoleDefinition, len(builtIn))
	for i := range builtIn {
		m[builtIn[i].ID] = &builtIn[i]
	}
	return m
}()

// Roles returns every role definition, by name.
func Roles() []RoleDefinition {
	out := append([]RoleDefinition(nil), builtIn...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RoleByID finds a role by its GUID, ignoring case.
func RoleByID(id string) (RoleDefinition, bool) {
	r, ok := byID[strings.ToLower(id)]
	if !ok {
		return RoleDefinition{}, false
	}
	return *r, true
}

// RoleByName finds a role by name, ignoring case: "acrpull" is AcrPull.
func RoleByName(name string) (RoleDefinition, bool) {
	for _, r := range builtIn {
		if strings.EqualFold(r.Name, name) {
			return r, true
		}
	}
	return RoleDefinition{}, false
}

// NearMatches names the roles a mistyped name probably meant: those whose
// name contains it or is within a small edit distance of it.
func NearMatches(name string) []string {
	n := strings.ToLower(strings.TrimSpace(name))
	var out []string
	for _, r := range Roles() {
		l := strings.ToLower(r.Name)
		if n != "" && (strings.Contains(l, n) || strings.Contains(n, l) || editDistance(l, n) <= max(1, len(n)/4)) {
			out = append(out, r.Name)
		}
	}
	return out
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Allows reports whether the role grants action.
func (r RoleDefinition) Allows(action string) bool {
	return matchAny(r.Actions, action) && !matchAny(r.NotActions, action)
}

func matchAny(patterns []string, action string) bool {
	for _, p := range patterns {
		if match(p, action) {
			return true
		}
	}
	return false
}

// match is a case-insensitive glob where "*" matches any run of
// characters, and a "/*/" segment also matches no segment at all, as the
// cloud's role definitions expect ("userAssignedIdentities/*/assign/action"
// grants "userAssignedIdentities/assign/action").
func match(pattern, s string) bool {
	if strings.Contains(pattern, "/*/") && glob(strings.Replace(pattern, "/*/", "/", 1), s) {
		return true
	}
	return glob(pattern, s)
}

func glob(pattern, s string) bool {
	p, s := strings.ToLower(pattern), strings.ToLower(s)
	head, rest, wild := strings.Cut(p, "*")
	if !wild {
		return p == s
	}
	if !strings.HasPrefix(s, head) {
		return false
	}
	s = s[len(head):]
	for {
		var seg string
		seg, rest, wild = strings.Cut(rest, "*")
		if !wild {
			// The last segment must end the string.
			return len(s) >= len(seg) && strings.HasSuffix(s, seg)
		}
		i := strings.Index(s, seg)
		if i < 0 {
			return false
		}
		s = s[i+len(seg):]
	}
}
