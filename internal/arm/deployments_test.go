package arm

import (
	"fmt"
	"strings"
	"testing"
)

const (
	deployments = group + "/providers/Microsoft.Resources/deployments"
	depAPI      = "?api-version=2021-04-01"
	acrPull     = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
)

// acrTemplate makes a registry, an identity with a federated credential,
// and the identity's AcrPull on the registry; extra is spliced into the
// resources.
func acrTemplate(extra string) string {
	return `{
	  // The template as a user writes it, comments included.
	  "parameters": {
	    "registry": {"type": "string", "defaultValue": "myRegistry"},
	    "secret": {"type": "securestring", "defaultValue": "hidden-value"}
	  },
	  "variables": {"acrPull": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '` + acrPull + `')]"},
	  "resources": [` + extra + `
	    {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "[parameters('registry')]",
	     "location": "[resourceGroup().location]", "sku": {"name": "Standard"}},
	    {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "builder",
	     "resources": [{"type": "federatedIdentityCredentials", "apiVersion": "2023-01-31", "name": "ci-main", "dependsOn": ["builder"],
	       "properties": {"issuer": "https://issuer.example", "subject": "system:serviceaccount:ns:sa", "audiences": ["api://AzureADTokenExchange"]}}]},
	    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
	     "name": "[guid(parameters('registry'), 'builder', variables('acrPull'))]",
	     "scope": "[format('Microsoft.ContainerRegistry/registries/{0}', parameters('registry'))]",
	     "dependsOn": ["[parameters('registry')]", "builder"],
	     "properties": {"roleDefinitionId": "[variables('acrPull')]", "principalType": "ServicePrincipal",
	       "principalId": "[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'builder')).principalId]"}}
	    ,{"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[guid(resourceGroup().id, 'builder', 'reader')]",
	     "dependsOn": ["builder"],
	     "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'acdd72a7-3385-48ef-bd42-f606fba81ae7')]",
	       "principalId": "[reference('builder').principalId]"}}
	  ],
	  "outputs": {
	    "loginServer": {"type": "string", "value": "[reference(parameters('registry')).loginServer]"},
	    "clientId": {"type": "string", "value": "[reference('builder').clientId]"}
	  }
	}`
}

// deployBody is a deployment request as the cloud's CLI sends it: the
// template spliced in as written under an unquoted name.
func deployBody(tmpl string) string {
	return `{"properties": {"parameters": {}, "mode": "Incremental", template:` + tmpl + `}}`
}

func TestDeploymentMakesEachResource(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"westeurope"}`), 201, "")
	v := f.do("owner", "POST", deployments+"/acr/validate"+depAPI, deployBody(acrTemplate("")))
	if v.status != 200 || v.get("properties.provisioningState") != "Succeeded" || len(v.get("properties.validatedResources").([]any)) != 5 {
		t.Fatalf("validate: %d %s", v.status, v.raw)
	}
	f.want(f.do("owner", "GET", registry+api, ""), 404, "ResourceNotFound")

	changes := func() map[string]int {
		t.Helper()
		w := f.do("owner", "POST", deployments+"/acr/whatIf"+depAPI, deployBody(acrTemplate("")))
		if w.status != 200 || w.get("status") != "Succeeded" {
			t.Fatalf("what-if: %d %s", w.status, w.raw)
		}
		n := map[string]int{}
		for _, c := range w.get("properties.changes").([]any) {
			n[c.(map[string]any)["changeType"].(string)]++
		}
		return n
	}
	if n := changes(); n["Create"] != 5 || len(n) != 1 {
		t.Fatalf("what-if before: %v", n)
	}
	f.want(f.do("owner", "GET", registry+api, ""), 404, "ResourceNotFound")

	a := f.do("owner", "PUT", deployments+"/acr"+depAPI, deployBody(acrTemplate("")))
	if a.status != 201 || a.get("properties.provisioningState") != "Succeeded" {
		t.Fatalf("deploy: %d %s", a.status, a.raw)
	}
	if n := changes(); n["Deploy"] != 5 || len(n) != 1 {
		t.Fatalf("what-if after: %v", n)
	}
	if a.get("properties.outputs.loginServer.value") != "myregistry.cr.test" || a.get("properties.outputs.loginServer.type") != "String" {
		t.Fatalf("outputs: %s", a.raw)
	}
	if p := a.get("properties.parameters.secret").(map[string]any); p["type"] != "SecureString" || p["value"] != nil || strings.Contains(a.raw, "hidden-value") {
		t.Fatalf("a secure parameter's value is shown: %s", a.raw)
	}
	status := a.header.Get("Azure-AsyncOperation")
	if !strings.Contains(status, "/providers/Microsoft.Resources/deployments/acr/operationStatuses/") {
		t.Fatalf("no operation status to poll: %v", a.header)
	}
	if s := f.do("owner", "GET", strings.TrimPrefix(status, "http://example.com"), ""); s.status != 200 || s.get("status") != "Succeeded" {
		t.Fatalf("operation status: %d %s", s.status, s.raw)
	}

	reg := f.do("reader", "GET", registry+api, "")
	if reg.status != 200 || reg.get("sku.name") != "Standard" || reg.get("location") != "westeurope" {
		t.Fatalf("registry: %s", reg.raw)
	}
	if fic := f.do("reader", "GET", identity+"/federatedIdentityCredentials/ci-main"+api, ""); fic.status != 200 || fic.get("properties.subject") != "system:serviceaccount:ns:sa" {
		t.Fatalf("federated credential: %d %s", fic.status, fic.raw)
	}
	principal := f.do("reader", "GET", identity+api, "").get("properties.principalId")
	as := f.do("reader", "GET", registry+"/providers/Microsoft.Authorization/roleAssignments"+api+"&$filter=atScope()", "").values()
	found := false
	for _, x := range as {
		p := x["properties"].(map[string]any)
		found = found || p["principalId"] == principal && strings.HasSuffix(p["roleDefinitionId"].(string), acrPull) && strings.EqualFold(p["scope"].(string), registry)
	}
	if !found {
		t.Fatalf("no AcrPull for %v at the registry: %v", principal, as)
	}

	found = false
	for _, x := range f.do("reader", "GET", group+"/providers/Microsoft.Authorization/roleAssignments"+api+"&$filter=atScope()", "").values() {
		p := x["properties"].(map[string]any)
		found = found || p["principalId"] == principal && p["scope"] == "/subscriptions/"+sub+"/resourceGroups/Team"
	}
	if !found {
		t.Fatalf("no role for %v at the group", principal)
	}
	ops := f.do("reader", "GET", "/subscriptions/"+sub+"/resourcegroups/Team/deployments/acr/operations"+depAPI, "").values()
	if len(ops) != 5 {
		t.Fatalf("operations: %v", ops)
	}
	for _, op := range ops {
		p := op["properties"].(map[string]any)
		if p["provisioningState"] != "Succeeded" || p["statusCode"] != "Created" {
			t.Fatalf("operation: %v", op)
		}
	}
	if one := f.do("reader", "GET", deployments+"/acr/operations/"+ops[0]["operationId"].(string)+depAPI, ""); one.get("properties.targetResource.id") != ops[0]["properties"].(map[string]any)["targetResource"].(map[string]any)["id"] {
		t.Fatalf("one operation: %s", one.raw)
	}
	f.want(f.do("reader", "GET", deployments+"/acr/operations/NONE"+depAPI, ""), 404, "DeploymentOperationNotFound")
	if ds := f.do("reader", "GET", deployments+depAPI, "").values(); len(ds) != 1 || ds[0]["name"] != "acr" {
		t.Fatalf("list: %v", ds)
	}
	// A deployment is not one of the group's resources.
	for _, r := range f.do("reader", "GET", group+"/resources"+api, "").values() {
		if strings.EqualFold(r["type"].(string), "Microsoft.Resources/deployments") {
			t.Fatalf("a deployment listed as a resource: %v", r)
		}
	}

	// Deploying again changes nothing and succeeds: the assignment is
	// the same one under the same name.
	if a := f.do("owner", "PUT", deployments+"/acr"+depAPI, deployBody(acrTemplate(""))); a.status != 200 || a.get("properties.provisioningState") != "Succeeded" {
		t.Fatalf("deploy again: %d %s", a.status, a.raw)
	}

	// Deleting a deployment deletes its record, not what it made.
	if d := f.do("owner", "DELETE", deployments+"/acr"+depAPI, ""); d.status != 200 {
		t.Fatalf("delete: %d %s", d.status, d.raw)
	}
	f.want(f.do("owner", "GET", deployments+"/acr"+depAPI, ""), 404, "DeploymentNotFound")
	f.want(f.do("owner", "GET", registry+api, ""), 200, "")
	if d := f.do("owner", "DELETE", deployments+"/acr"+depAPI, ""); d.status != 204 {
		t.Fatalf("delete again: %d", d.status)
	}
}

// TestDeploymentRefusedChangesNothing: a template refused before it
// deploys leaves no resource and no deployment behind.
func TestDeploymentRefusedChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"westeurope"}`), 201, "")
	nothing := func() {
		t.Helper()
		f.want(f.do("owner", "GET", registry+api, ""), 404, "ResourceNotFound")
		f.want(f.do("owner", "GET", deployments+"/d"+depAPI, ""), 404, "DeploymentNotFound")
	}

	a := f.do("owner", "PUT", deployments+"/d"+depAPI, deployBody(acrTemplate(`{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st"},`)))
	f.want(a, 400, "InvalidTemplateDeployment")
	if d := a.body["error"].(map[string]any)["details"].([]any); len(d) != 1 || d[0].(map[string]any)["code"] != "NoRegisteredProviderFound" ||
		!strings.Contains(d[0].(map[string]any)["message"].(string), "for type 'storageAccounts'") {
		t.Fatalf("details: %s", a.raw)
	}
	nothing()

	a = f.do("owner", "PUT", deployments+"/d"+depAPI, deployBody(`{"resources": [], "outputs": {"k": {"type": "string", "value": "[listKeys('x', '1')]"}}}`))
	f.want(a, 400, "InvalidTemplate")
	if !strings.Contains(a.message(), "The template function 'listKeys' is not valid") {
		t.Fatalf("unknown function: %s", a.raw)
	}
	f.want(f.do("owner", "PUT", deployments+"/d"+depAPI, deployBody(`{"resources": [
		{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "1", "name": "myRegistry", "dependsOn": ["other"]},
		{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "1", "name": "other", "dependsOn": ["myRegistry"]}]}`)), 400, "InvalidTemplate")
	f.want(f.do("owner", "PUT", deployments+"/d"+depAPI, deployBody(acrTemplate("")[:40])), 400, "InvalidRequestContent")
	f.want(f.do("owner", "PUT", deployments+"/d"+depAPI, `{"properties": {"templateLink": {"uri": "http://169.254.169.254/"}}}`), 400, "InvalidTemplate")
	f.want(f.do("owner", "PUT", deployments+"/d"+depAPI, `{"properties": {"mode": "Complete", "template": {"resources": []}}}`), 400, "InvalidDeploymentMode")
	f.want(f.do("owner", "PUT", deployments+"/d"+depAPI, `{"properties": {"template": {"parameters": {"p": {"type": "int"}}, "resources": []}, "parameters": {"p": {"value": "x"}}}}`), 400, "InvalidTemplate")
	f.want(f.do("owner", "PUT", group+"/providers/Microsoft.Resources/deployments/bad%20name"+depAPI, deployBody(`{"resources": []}`)), 400, "InvalidDeploymentName")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/none/providers/Microsoft.Resources/deployments/d"+depAPI, deployBody(`{"resources": []}`)), 404, "ResourceGroupNotFound")
	nothing()
}

// TestDeploymentAsTheCaller: a template grants nothing its deployer could
// not do by hand; a refusal for one resource makes none of the others.
func TestDeploymentAsTheCaller(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"westeurope"}`), 201, "")
	f.want(f.do("reader", "PUT", deployments+"/d"+depAPI, deployBody(`{"resources": []}`)), 403, "AuthorizationFailed")
	// A contributor may make registries and identities, not role
	// assignments.
	a := f.do("contributor", "PUT", deployments+"/d"+depAPI, deployBody(acrTemplate("")))
	f.want(a, 400, "InvalidTemplateDeployment")
	d := a.body["error"].(map[string]any)["details"].([]any)
	if len(d) != 2 {
		t.Fatalf("details: %s", a.raw)
	}
	for _, x := range d {
		if x.(map[string]any)["code"] != "AuthorizationFailed" || !strings.Contains(x.(map[string]any)["message"].(string), "Microsoft.Authorization/roleAssignments/write") {
			t.Fatalf("details: %s", a.raw)
		}
	}
	// A user access administrator may assign roles, not deploy.
	f.want(f.do("uaa", "PUT", deployments+"/d"+depAPI, deployBody(acrTemplate(""))), 403, "AuthorizationFailed")
	f.want(f.do("owner", "GET", registry+api, ""), 404, "ResourceNotFound")
	f.want(f.do("owner", "GET", identity+api, ""), 404, "ResourceNotFound")
	f.want(f.do("stranger", "GET", deployments+depAPI, ""), 404, "SubscriptionNotFound")
}

// TestDeploymentFailsPartway: past the checks, a resource that fails ends
// the deployment Failed with the cloud's error; what was made stays.
func TestDeploymentFailsPartway(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"westeurope"}`), 201, "")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/Other"+api, `{"location":"westeurope"}`), 201, "")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/Other/providers/Microsoft.ContainerRegistry/registries/myRegistry"+api, `{}`), 201, "")

	a := f.do("owner", "PUT", deployments+"/d"+depAPI, deployBody(`{"resources": [
		{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "builder"},
		{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "myRegistry", "dependsOn": ["builder"]}]}`))
	if a.status != 201 || a.get("properties.provisioningState") != "Failed" || a.get("properties.error.code") != "DeploymentFailed" {
		t.Fatalf("deploy: %d %s", a.status, a.raw)
	}
	if d := a.get("properties.error.details").([]any); d[0].(map[string]any)["code"] != "AlreadyInUse" {
		t.Fatalf("error details: %s", a.raw)
	}
	s := f.do("owner", "GET", strings.TrimPrefix(a.header.Get("Azure-AsyncOperation"), "http://example.com"), "")
	if s.get("status") != "Failed" || s.get("error.code") != "DeploymentFailed" {
		t.Fatalf("operation status: %s", s.raw)
	}
	f.want(f.do("owner", "GET", identity+api, ""), 200, "")
	ops := f.do("owner", "GET", deployments+"/d/operations"+depAPI, "").values()
	if len(ops) != 2 || ops[1]["properties"].(map[string]any)["provisioningState"] != "Failed" || ops[1]["properties"].(map[string]any)["statusCode"] != "Conflict" {
		t.Fatalf("operations: %v", ops)
	}
	// The group takes its deployments with it.
	f.want(f.do("owner", "DELETE", group+api, ""), 200, "")
	f.want(f.do("owner", "PUT", group+api, `{"location":"westeurope"}`), 201, "")
	if ds := f.do("owner", "GET", deployments+depAPI, "").values(); len(ds) != 0 {
		t.Fatalf("deployments after the group went: %v", ds)
	}
}

// TestDeploymentOfAMachine: the template az vm create builds deploys:
// its network resources are kept as records, its machine keeps its
// profiles but not its OS profile's secrets.
func TestDeploymentOfAMachine(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"westeurope"}`), 201, "")
	a := f.do("owner", "PUT", deployments+"/vm_deploy_1"+depAPI, `{"properties": {"mode": "Incremental", "parameters": {}, "template": {
	  "resources": [
	    {"name": "vm1VNET", "type": "Microsoft.Network/virtualNetworks", "location": "westeurope", "apiVersion": "2015-06-15", "dependsOn": [],
	     "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "vm1Subnet", "properties": {"addressPrefix": "10.0.0.0/24"}}]}},
	    {"name": "vm1NSG", "type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2015-06-15", "location": "westeurope", "properties": {"securityRules": []}},
	    {"name": "vm1PublicIP", "type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2018-11-01", "location": "westeurope", "properties": {"publicIPAllocationMethod": null}},
	    {"name": "vm1VMNic", "type": "Microsoft.Network/networkInterfaces", "apiVersion": "2015-06-15", "location": "westeurope",
	     "dependsOn": ["Microsoft.Network/virtualNetworks/vm1VNET", "Microsoft.Network/networkSecurityGroups/vm1NSG", "Microsoft.Network/publicIpAddresses/vm1PublicIP"],
	     "properties": {"ipConfigurations": [{"name": "ipconfigvm1", "properties": {"privateIPAllocationMethod": "Dynamic",
	       "subnet": {"id": "[concat(resourceId('Microsoft.Network/virtualNetworks', 'vm1VNET'), '/subnets/vm1Subnet')]"}}}]}},
	    {"name": "vm1", "type": "Microsoft.Compute/virtualMachines", "apiVersion": "2020-06-01", "location": "westeurope",
	     "dependsOn": ["Microsoft.Network/networkInterfaces/vm1VMNic"], "identity": {"type": "SystemAssigned"},
	     "properties": {"hardwareProfile": {"vmSize": "Standard_DS1_v2"},
	       "networkProfile": {"networkInterfaces": [{"id": "[resourceId('Microsoft.Network/networkInterfaces', 'vm1VMNic')]"}]},
	       "osProfile": {"computerName": "vm1", "adminUsername": "azureuser", "adminPassword": "A-long-Passw0rd!", "customData": "c2VjcmV0"}}}
	  ]}}}`)
	if a.status != 201 || a.get("properties.provisioningState") != "Succeeded" || len(a.get("properties.outputResources").([]any)) != 5 {
		t.Fatalf("deploy: %d %s", a.status, a.raw)
	}
	vm := f.do("reader", "GET", group+"/providers/Microsoft.Compute/virtualMachines/vm1"+api, "")
	if strings.Contains(vm.raw, "Passw0rd") || strings.Contains(vm.raw, "c2VjcmV0") || vm.get("properties.osProfile.adminUsername") != "azureuser" {
		t.Fatalf("machine: %s", vm.raw)
	}
	if vm.get("identity.principalId") == nil || vm.get("properties.instanceView") != nil ||
		!strings.HasSuffix(vm.get("properties.networkProfile.networkInterfaces").([]any)[0].(map[string]any)["id"].(string), "/networkInterfaces/vm1VMNic") {
		t.Fatalf("machine: %s", vm.raw)
	}
	if v := f.do("reader", "GET", group+"/providers/Microsoft.Compute/virtualMachines/vm1"+api+"&$expand=instanceView", ""); v.get("properties.instanceView.statuses") == nil {
		t.Fatalf("instance view: %s", v.raw)
	}
	nic := f.do("reader", "GET", group+"/providers/Microsoft.Network/networkInterfaces/vm1VMNic"+api, "")
	if nic.status != 200 || nic.get("properties.provisioningState") != "Succeeded" || !strings.Contains(nic.raw, "/virtualNetworks/vm1VNET/subnets/vm1Subnet") {
		t.Fatalf("network interface: %d %s", nic.status, nic.raw)
	}
	f.want(f.do("owner", "PUT", group+"/providers/Microsoft.Network/virtualNetworks/-bad"+api, `{}`), 400, "InvalidResourceName")
	if n := f.do("reader", "GET", group+"/providers/Microsoft.Network/virtualNetworks"+api, "").values(); len(n) != 1 {
		t.Fatalf("networks: %v", n)
	}
}

// TestDeploymentParameters: given values reach the template exactly, and
// a secure parameter's value is not shown, not even as an output's
// source.
func TestDeploymentParameters(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"westeurope"}`), 201, "")
	a := f.do("owner", "PUT", deployments+"/p"+depAPI, `{"properties": {"template": {
		"parameters": {"big": {"type": "int"}, "pw": {"type": "securestring"}, "tags": {"type": "object", "defaultValue": {}}},
		"resources": [],
		"outputs": {"big": {"type": "int", "value": "[add(parameters('big'), 1)]"}, "len": {"type": "int", "value": "[length(parameters('pw'))]"},
		  "echo": {"type": "securestring", "value": "[parameters('pw')]"}}},
		"parameters": {"big": {"value": 9007199254740993}, "pw": {"value": "s3cret-value"}}}}`)
	if a.status != 201 || !strings.Contains(a.raw, `"value":9007199254740994`) || a.get("properties.outputs.len.value") != float64(12) {
		t.Fatalf("deploy: %d %s", a.status, a.raw)
	}
	if a.get("properties.outputs.echo.type") != "SecureString" || strings.Contains(a.raw, "s3cret-value") || strings.Contains(f.do("owner", "GET", deployments+"/p"+depAPI, "").raw, "s3cret-value") {
		t.Fatalf("a secure parameter's value is shown: %s", a.raw)
	}
}

// BenchmarkDeployment: one deployment of a registry, an identity and the
// identity's AcrPull on it, through the management API on SQLite.
func BenchmarkDeployment(b *testing.B) {
	f := newFixture(b)
	f.want(f.do("owner", "PUT", group+api, `{"location":"westeurope"}`), 201, "")
	tmpl := strings.Replace(strings.Replace(acrTemplate(""), `"name": "builder"`, `"name": "[parameters('identity')]"`, 1),
		`"parameters": {`, `"parameters": {"identity": {"type": "string"},`, 1)
	tmpl = strings.ReplaceAll(strings.ReplaceAll(tmpl, `'builder'`, `parameters('identity')`), `"builder"`, `"[parameters('identity')]"`)
	b.ResetTimer()
	for i := range b.N {
		body := fmt.Sprintf(`{"properties": {"parameters": {"registry": {"value": "reg%06d"}, "identity": {"value": "id%06d"}}, template: %s}}`, i, i, tmpl)
		if a := f.do("owner", "PUT", fmt.Sprintf("%s/d%d%s", deployments, i, depAPI), body); a.get("properties.provisioningState") != "Succeeded" {
			b.Fatalf("deploy: %d %s", a.status, a.raw)
		}
	}
}

// TestDeploymentOfBicepOutput: a template as Bicep compiles one (its
// generator metadata, names by format, reference with an API version and
// 'full', a machine's system-assigned identity given AcrPull).
func TestDeploymentOfBicepOutput(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"westeurope"}`), 201, "")
	a := f.do("owner", "PUT", deployments+"/main"+depAPI, `{"properties": {"mode": "Incremental", "template": {
	  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
	  "contentVersion": "1.0.0.0",
	  "metadata": {"_generator": {"name": "bicep", "version": "0.24.24.22086", "templateHash": "1"}},
	  "parameters": {
	    "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
	    "acrName": {"type": "string", "defaultValue": "[format('acr{0}', uniqueString(resourceGroup().id))]"}
	  },
	  "variables": {"acrPull": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '`+acrPull+`')]"},
	  "resources": [
	    {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "[parameters('acrName')]",
	     "location": "[parameters('location')]", "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": false}},
	    {"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2023-09-01", "name": "[format('{0}-vm', 'app')]",
	     "location": "[parameters('location')]", "identity": {"type": "SystemAssigned"}, "properties": {"hardwareProfile": {"vmSize": "Standard_B1s"}}},
	    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
	     "scope": "[format('Microsoft.ContainerRegistry/registries/{0}', parameters('acrName'))]",
	     "name": "[guid(resourceId('Microsoft.ContainerRegistry/registries', parameters('acrName')), resourceId('Microsoft.Compute/virtualMachines', format('{0}-vm', 'app')), variables('acrPull'))]",
	     "properties": {"roleDefinitionId": "[variables('acrPull')]", "principalType": "ServicePrincipal",
	       "principalId": "[reference(resourceId('Microsoft.Compute/virtualMachines', format('{0}-vm', 'app')), '2023-09-01', 'full').identity.principalId]"},
	     "dependsOn": ["[resourceId('Microsoft.ContainerRegistry/registries', parameters('acrName'))]", "[resourceId('Microsoft.Compute/virtualMachines', format('{0}-vm', 'app'))]"]}
	  ],
	  "outputs": {
	    "loginServer": {"type": "string", "value": "[reference(resourceId('Microsoft.ContainerRegistry/registries', parameters('acrName')), '2023-07-01').loginServer]"},
	    "principalId": {"type": "string", "value": "[reference(resourceId('Microsoft.Compute/virtualMachines', format('{0}-vm', 'app')), '2023-09-01', 'full').identity.principalId]"}
	  }}}}`)
	if a.status != 201 || a.get("properties.provisioningState") != "Succeeded" {
		t.Fatalf("deploy: %d %s", a.status, a.raw)
	}
	login, _ := a.get("properties.outputs.loginServer.value").(string)
	if !strings.HasPrefix(login, "acr") || !strings.HasSuffix(login, ".cr.test") {
		t.Fatalf("login server: %s", a.raw)
	}
	vm := f.do("reader", "GET", group+"/providers/Microsoft.Compute/virtualMachines/app-vm"+api, "")
	if vm.get("identity.principalId") == nil || vm.get("identity.principalId") != a.get("properties.outputs.principalId.value") {
		t.Fatalf("machine %s, outputs %s", vm.raw, a.raw)
	}
}
