package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerregistry/armcontainerregistry"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// management is the cloud SDK's resource manager configuration for one
// principal of a berth server.
type management struct {
	cred azcore.TokenCredential
	opts *arm.ClientOptions
	sub  string
}

func newManagement(t *testing.T, s *berthtest.Server, clientID, secret string) management {
	t.Helper()
	c := cloudAt(s)
	c.Services[cloud.ResourceManager] = cloud.ServiceConfiguration{Endpoint: s.URL, Audience: "https://management.core.windows.net/"}
	client := s.Client()
	cred, err := azidentity.NewClientSecretCredential(s.Boot.TenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: c, Transport: client}, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return management{cred: cred, sub: s.Boot.SubscriptionID,
		opts: &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Cloud: c, Transport: client}}}
}

func errorCodeOf(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

// TestManagementWithCloudSDK: the cloud SDK's resource manager clients,
// unchanged and pointed at berth, manage resource groups, registries,
// identities and role assignments; a Reader reads and cannot grant, until
// the Owner grants it more, and an assignment removed stops granting.
func TestManagementWithCloudSDK(t *testing.T) {
	s := startBerth(t)
	ctx := context.Background()
	admin := newManagement(t, s, s.Boot.ClientID, s.Boot.ClientSecret)

	subs, err := armresources.NewClientFactory(admin.sub, admin.cred, admin.opts)
	if err != nil {
		t.Fatal(err)
	}
	groups := subs.NewResourceGroupsClient()
	g, err := groups.CreateOrUpdate(ctx, "Team", armresources.ResourceGroup{Location: to.Ptr("local")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *g.Name != "Team" || *g.Location != "local" || *g.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("group: %+v", g)
	}

	registries, err := armcontainerregistry.NewRegistriesClient(admin.sub, admin.cred, admin.opts)
	if err != nil {
		t.Fatal(err)
	}
	poller, err := registries.BeginCreate(ctx, "Team", "myregistry", armcontainerregistry.Registry{
		Location: to.Ptr("local"), SKU: &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNameBasic)},
		Properties: &armcontainerregistry.RegistryProperties{AdminUserEnabled: to.Ptr(false)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := poller.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *reg.Properties.LoginServer != "myregistry.cr.localhost" || *reg.Properties.ProvisioningState != armcontainerregistry.ProvisioningStateSucceeded {
		t.Fatalf("registry: %+v", reg.Properties)
	}
	regID := *reg.ID
	if code := catalogAt(t, s, "myregistry.cr.localhost"); code != http.StatusOK {
		t.Fatalf("the new registry's catalog: %d", code)
	}
	var names []string
	for pager := registries.NewListPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Value {
			names = append(names, *r.Name)
		}
	}
	if len(names) != 2 { // the bootstrap's default registry and this one
		t.Fatalf("registries: %v", names)
	}

	identities, err := armmsi.NewUserAssignedIdentitiesClient(admin.sub, admin.cred, admin.opts)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identities.CreateOrUpdate(ctx, "Team", "builder", armmsi.Identity{Location: to.Ptr("local")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *id.Properties.TenantID != s.Boot.TenantID || *id.Properties.PrincipalID == "" || *id.Properties.ClientID == "" {
		t.Fatalf("identity: %+v", id.Properties)
	}

	// A second principal, Reader on the subscription.
	run := adminCLI(t, s).run
	readerApp := run("ad", "app", "create", "--display-name", "reader", "--query", "appId", "-o", "tsv")
	readerSecret := run("ad", "app", "credential", "reset", "--id", readerApp, "--query", "password", "-o", "tsv")
	readerSP := run("ad", "sp", "create", "--id", readerApp, "--query", "id", "-o", "tsv")

	authz, err := armauthorization.NewClientFactory(admin.sub, admin.cred, admin.opts)
	if err != nil {
		t.Fatal(err)
	}
	roleID := func(name string) string {
		t.Helper()
		pager := authz.NewRoleDefinitionsClient().NewListPager("/subscriptions/"+admin.sub, &armauthorization.RoleDefinitionsClientListOptions{
			Filter: to.Ptr("roleName eq '" + name + "'")})
		page, err := pager.NextPage(ctx)
		if err != nil || len(page.Value) != 1 {
			t.Fatalf("role %s: %v %v", name, err, page.Value)
		}
		return *page.Value[0].ID
	}
	assign := func(client *armauthorization.RoleAssignmentsClient, scope, role, principal string) (string, error) {
		name := ids.New()
		_, err := client.Create(ctx, scope, name, armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr(roleID(role)), PrincipalID: to.Ptr(principal), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
		}}, nil)
		return name, err
	}
	adminAssignments := authz.NewRoleAssignmentsClient()
	readerAssignment, err := assign(adminAssignments, "/subscriptions/"+admin.sub, "Reader", readerSP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := assign(adminAssignments, "/subscriptions/"+admin.sub, "reader", readerSP); !sameError(err, http.StatusConflict, "RoleAssignmentExists") {
		t.Fatalf("duplicate assignment: %v", err)
	}

	reader := newManagement(t, s, readerApp, readerSecret)
	readerRegistries, _ := armcontainerregistry.NewRegistriesClient(reader.sub, reader.cred, reader.opts)
	if _, err := readerRegistries.Get(ctx, "team", "MyRegistry", nil); err != nil {
		t.Fatalf("a Reader reads the registry: %v", err)
	}
	readerAuthz, _ := armauthorization.NewRoleAssignmentsClient(reader.sub, reader.cred, reader.opts)
	if _, err := assign(readerAuthz, regID, "AcrPull", readerSP); !sameError(err, http.StatusForbidden, "AuthorizationFailed") {
		t.Fatalf("a Reader grants itself AcrPull: %v", err)
	}
	readerGroups, _ := armresources.NewResourceGroupsClient(reader.sub, reader.cred, reader.opts)
	if _, err := readerGroups.CreateOrUpdate(ctx, "mine", armresources.ResourceGroup{Location: to.Ptr("local")}, nil); !sameError(err, http.StatusForbidden, "AuthorizationFailed") {
		t.Fatalf("a Reader creates a group: %v", err)
	}
	// The Owner can, and the list at the registry's scope shows it.
	pullName, err := assign(adminAssignments, regID, "AcrPull", readerSP)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for pager := adminAssignments.NewListForScopePager(regID, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("atScope()")}); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Value {
			found = found || *a.Name == pullName && *a.Properties.PrincipalID == readerSP
		}
	}
	if !found {
		t.Fatal("the AcrPull assignment is not listed at the registry")
	}

	// Removing the Reader assignment stops it at once.
	if _, err := adminAssignments.Delete(ctx, "/subscriptions/"+admin.sub, readerAssignment, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := readerRegistries.Get(ctx, "Team", "myregistry", nil); !sameError(err, http.StatusForbidden, "AuthorizationFailed") {
		t.Fatalf("a Reader whose assignment was removed reads the registry: %v", err)
	}

	// Deleting the group takes the registry, the identity and the
	// assignment at the registry.
	delPoller, err := groups.BeginDelete(ctx, "Team", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := delPoller.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := registries.Get(ctx, "Team", "myregistry", nil); !sameError(err, http.StatusNotFound, "ResourceGroupNotFound") {
		t.Fatalf("registry after its group was deleted: %v", err)
	}
	if code := catalogAt(t, s, "myregistry.cr.localhost"); code != http.StatusNotFound {
		t.Fatalf("the deleted registry's catalog: %d", code)
	}
	if code, _ := get(t, s, "/v2/_catalog"); code != http.StatusOK {
		t.Fatalf("the default registry after deleting another group: %d", code)
	}
}

// catalogAt asks a registry for its catalog by its login server name, as
// the bootstrap administrator.
func catalogAt(t *testing.T, s *berthtest.Server, loginServer string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/v2/_catalog", nil)
	req.Host = loginServer
	req.SetBasicAuth(s.Boot.ClientID, s.Boot.ClientSecret)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func sameError(err error, status int, code string) bool {
	s, c := errorCodeOf(err)
	return s == status && c == code
}
