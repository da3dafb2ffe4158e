package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

var scope = Scope{TenantID: "t1", SubscriptionID: "s1", SubscriptionName: "Sub", ResourceGroup: "rg", Location: "westeurope", DeploymentName: "dep"}

func plan(t *testing.T, tmpl string, params map[string]any) *Plan {
	t.Helper()
	tp, err := Parse([]byte(tmpl))
	if err != nil {
		t.Fatal(err)
	}
	p, err := tp.Plan(scope, params)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// refused checks that a template is refused as InvalidTemplate, with a
// message containing want.
func refused(t *testing.T, tmpl string, params map[string]any, want string) {
	t.Helper()
	tp, err := Parse([]byte(tmpl))
	if err == nil {
		var p *Plan
		if p, err = tp.Plan(scope, params); err == nil {
			for _, r := range p.Resources {
				if _, err = p.Body(r, noRef); err != nil {
					break
				}
			}
			if err == nil {
				_, err = p.Outputs(noRef)
			}
		}
	}
	var te *Error
	if !errors.As(err, &te) || te.Code != "InvalidTemplate" || !strings.Contains(te.Message, want) || !strings.HasPrefix(te.Message, "Deployment template validation failed: '") {
		t.Fatalf("want InvalidTemplate with %q, got %v", want, err)
	}
}

func noRef(id string, full bool) (any, error) { return map[string]any{"id": id}, nil }

func evalOne(t *testing.T, expr string, params map[string]any) any {
	t.Helper()
	decl := `{}`
	if len(params) > 0 {
		d := map[string]any{}
		for k, v := range params {
			typ := map[string]string{"string": "string", "int64": "int", "bool": "bool"}[typeName(v)]
			switch v.(type) {
			case string:
				typ = "string"
			case int64:
				typ = "int"
			case bool:
				typ = "bool"
			case []any:
				typ = "array"
			case map[string]any:
				typ = "object"
			}
			d[k] = map[string]any{"type": typ}
		}
		b, _ := json.Marshal(d)
		decl = string(b)
	}
	e, _ := json.Marshal(expr)
	p := plan(t, `{"parameters": `+decl+`, "resources": [], "outputs": {"o": {"type": "object", "value": {"v": `+string(e)+`}}}}`, params)
	out, err := p.Outputs(noRef)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return out["o"].Value.(map[string]any)["v"]
}

func TestFunctions(t *testing.T) {
	for _, c := range []struct {
		expr string
		want any
	}{
		{"[concat('a', 'b', string(1))]", "ab1"},
		{"[concat(createArray(1), createArray(2, 3))]", []any{int64(1), int64(2), int64(3)}},
		{"[format('{0}-{1}{{x}}', 'a', 2)]", "a-2{x}"},
		{"[toLower('AbC')]", "abc"},
		{"[toUpper('AbC')]", "ABC"},
		{"[equals(1, 1)]", true},
		{"[equals('a', 'b')]", false},
		{"[not(equals(1, 2))]", true},
		{"[and(true(), false())]", false},
		{"[or(false(), true())]", true},
		{"[length('abcd')]", int64(4)},
		{"[length(createArray(1, 2))]", int64(2)},
		{"[string(true())]", "True"},
		{"[int('42')]", int64(42)},
		{"[createObject('a', 1).a]", int64(1)},
		{"[createObject('Key', 'v').key]", "v"},
		{"[createArray('x', 'y')[1]]", "y"},
		{"[if(equals(1, 1), 'yes', reference('nowhere'))]", "yes"},
		{"[resourceGroup().name]", "rg"},
		{"[resourceGroup().location]", "westeurope"},
		{"[resourceGroup().id]", "/subscriptions/s1/resourceGroups/rg"},
		{"[subscription().subscriptionId]", "s1"},
		{"[subscription().tenantId]", "t1"},
		{"[resourceId('Microsoft.ContainerRegistry/registries', 'r')]", "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r"},
		{"[resourceId('other', 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials', 'i', 'c')]", "/subscriptions/s1/resourceGroups/other/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i/federatedIdentityCredentials/c"},
		{"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'x')]", "/subscriptions/s1/providers/Microsoft.Authorization/roleDefinitions/x"},
		{"[extensionResourceId('/subscriptions/s1/resourceGroups/rg', 'Microsoft.Authorization/roleAssignments', 'g')]", "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/g"},
		{"[uniqueString('test')]", "rbgf3xv4ufgzg"},
		{"[guid('a', 'b', 'c')]", "a98fa280-e03f-5afa-8d8e-92d0a9c201e8"},
		{"['it''s']", "it's"},
		{"[[not an expression]", "[not an expression]"},
		{"[add(1, mul(2, 3))]", int64(7)},
		{"[substring('abcdef', 1, 3)]", "bcd"},
		{"[split('a,b', ',')]", []any{"a", "b"}},
		{"[replace('a-b', '-', '')]", "ab"},
		{"[contains(createArray('a'), 'a')]", true},
		{"[empty('')]", true},
		{"[coalesce(null(), 'x')]", "x"},
		{"[union(createObject('a', 1), createObject('b', 2))]", map[string]any{"a": int64(1), "b": int64(2)}},
		{"[json('{\"a\": [1]}').a[0]]", int64(1)},
		{"[deployment().name]", "dep"},
	} {
		got := evalOne(t, c.expr, nil)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(c.want)
		if string(gb) != string(wb) {
			t.Errorf("%s = %s, want %s", c.expr, gb, wb)
		}
	}
}

func TestParameters(t *testing.T) {
	const tmpl = `{
		"parameters": {
			"name": {"type": "string", "minLength": 5},
			"sku": {"type": "string", "defaultValue": "Basic", "allowedValues": ["Basic", "Premium"]},
			"count": {"type": "int", "defaultValue": "[length(parameters('name'))]"},
			"secret": {"type": "securestring", "defaultValue": ""}
		},
		"resources": []
	}`
	p := plan(t, tmpl, map[string]any{"name": "abcdef"})
	if p.Parameters["sku"].Value != "Basic" || p.Parameters["count"].Value != int64(6) || p.Parameters["secret"].Type != "securestring" {
		t.Fatalf("parameters: %+v", p.Parameters)
	}
	refused(t, tmpl, map[string]any{}, "The value for the template parameter 'name' is not provided")
	refused(t, tmpl, map[string]any{"name": "abcdef", "sku": "Gold"}, "The provided value 'Gold' for the template parameter 'sku' is not valid. Expected a value from 'Basic, Premium'")
	refused(t, tmpl, map[string]any{"name": 5}, "not 'string'")
	refused(t, tmpl, map[string]any{"name": "abc"}, "minimum length 5")
	refused(t, tmpl, map[string]any{"name": "abcdef", "extra": 1}, "The template parameters 'extra' are not valid")
}

func TestRefusals(t *testing.T) {
	refused(t, `{"resources": [], "outputs": {"o": {"type": "string", "value": "[listKeys('x', '2020-01-01')]"}}}`, nil,
		"The template function 'listKeys' is not valid")
	refused(t, `{"resources": [], "variables": {"v": "[reference('x')]"}}`, nil, "The template function 'reference' is not expected at this location")
	refused(t, `{"resources": [], "variables": {"a": "[variables('b')]", "b": "[variables('a')]"}}`, nil, "refers to itself")
	refused(t, `{"resources": [], "outputs": {"o": {"type": "string", "value": "[concat('a']"}}}`, nil, "is not valid")
	refused(t, `{"resources": [], "outputs": {"o": {"type": "int", "value": "x"}}}`, nil, "The template output 'o' is not valid")
	refused(t, `{"languageVersion": "2.0", "resources": {}}`, nil, "languageVersion")
	refused(t, `{"Parameters": {"p": {"type": "string", "defaultValue": "[utcNow()]"}}, "resources": []}`, nil, "The template function 'utcNow' is not valid")
	refused(t, `{"resources": [{"type": "A/b", "apiVersion": "1", "name": "[reference('x').name]"}]}`, nil, "not expected at this location")
	refused(t, `{"resources": [{"type": "A/b/c", "apiVersion": "1", "name": "x"}]}`, nil, "incorrect segment lengths")
	refused(t, `{"resources": [{"type": "A/b", "apiVersion": "1", "name": "x"}, {"type": "A/b", "apiVersion": "1", "name": "x"}]}`, nil, "defined multiple times")
	refused(t, `{"resources": [{"type": "A/b", "apiVersion": "1", "name": "x", "dependsOn": ["y"]}]}`, nil, "The resource 'y' is not defined in the template")
	refused(t, `{"resources": [
		{"type": "A/b", "apiVersion": "1", "name": "x", "dependsOn": ["z"]},
		{"type": "A/b", "apiVersion": "1", "name": "y", "dependsOn": ["x"]},
		{"type": "A/b", "apiVersion": "1", "name": "z", "dependsOn": ["[resourceId('A/b', 'y')]"]}]}`, nil, "Circular dependency detected")
	refused(t, `{"resources": [{"type": "A/b", "apiVersion": "1", "name": "x", "copy": {"name": "l", "count": 801}}]}`, nil, "copy count")
}

// TestResources: ids, copy loops, conditions, nested and extension
// resources, and the order dependsOn makes.
func TestResources(t *testing.T) {
	p := plan(t, `{
		// comments and unquoted names, as the cloud's CLI sends templates
		parameters: {"n": {"type": "int", "defaultValue": 2},},
		"resources": [
			{"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[guid('x')]",
			 "scope": "[format('Microsoft.ContainerRegistry/registries/{0}', 'reg')]", "dependsOn": ["ids", "reg"]},
			{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "[concat('id', copyIndex(1))]",
			 "copy": {"name": "ids", "count": "[parameters('n')]"},
			 "resources": [{"type": "federatedIdentityCredentials", "apiVersion": "2023-01-31", "name": "fic", "properties": {"subject": "[concat('s', copyIndex())]"}}]},
			{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "reg", "condition": "[greater(parameters('n'), 1)]"},
			{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "never", "condition": false},
			{"type": "Microsoft.ContainerRegistry/registries/providers/roleAssignments", "apiVersion": "2022-04-01", "name": "reg/Microsoft.Authorization/g2", "dependsOn": ["reg", "never"]}
		]
	}`, nil)
	g := "/subscriptions/s1/resourceGroups/rg/providers/"
	var ids []string
	for _, r := range p.Resources {
		ids = append(ids, r.ID)
	}
	want := []string{
		g + "Microsoft.ManagedIdentity/userAssignedIdentities/id1",
		g + "Microsoft.ManagedIdentity/userAssignedIdentities/id1/federatedIdentityCredentials/fic",
		g + "Microsoft.ManagedIdentity/userAssignedIdentities/id2",
		g + "Microsoft.ManagedIdentity/userAssignedIdentities/id2/federatedIdentityCredentials/fic",
		g + "Microsoft.ContainerRegistry/registries/reg",
		g + "Microsoft.ContainerRegistry/registries/reg/providers/Microsoft.Authorization/roleAssignments/" + guid([]string{"x"}),
		g + "Microsoft.ContainerRegistry/registries/reg/providers/Microsoft.Authorization/roleAssignments/g2",
	}
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Fatalf("order:\n%s\nwant:\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	ra := p.Resources[5]
	if ra.Scope != g+"Microsoft.ContainerRegistry/registries/reg" || ra.Type != "Microsoft.Authorization/roleAssignments" || len(ra.DependsOn) != 3 {
		t.Fatalf("role assignment: %+v", ra)
	}
	if old := p.Resources[6]; old.Scope != ra.Scope || old.Name != "g2" || old.Type != "Microsoft.Authorization/roleAssignments" {
		t.Fatalf("older extension form: %+v", old)
	}
	fic := p.Resources[3]
	if fic.Name != "id2/fic" || fic.Type != "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials" {
		t.Fatalf("nested: %+v", fic)
	}
	body, err := p.Body(fic, noRef)
	if err != nil || body["properties"].(map[string]any)["subject"] != "s1" {
		t.Fatalf("nested body in its parent's loop: %v %v", body, err)
	}
}

// TestReferenceAndOutputs: reference() by name and id reads through the
// caller, and property copy loops expand.
func TestReferenceAndOutputs(t *testing.T) {
	p := plan(t, `{
		"resources": [{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "reg",
			"properties": {"copy": [{"name": "list", "count": 2, "input": "[copyIndex('list')]"}]}}],
		"outputs": {
			"login": {"type": "string", "value": "[reference('reg').loginServer]"},
			"full": {"type": "string", "value": "[reference(resourceId('Microsoft.ContainerRegistry/registries', 'reg'), '2023-07-01', 'Full').id]"},
			"many": {"type": "array", "copy": {"count": 2, "input": "[copyIndex()]"}}
		}
	}`, nil)
	body, err := p.Body(p.Resources[0], noRef)
	if err != nil {
		t.Fatal(err)
	}
	if l := body["properties"].(map[string]any)["list"].([]any); len(l) != 2 || l[1] != int64(1) {
		t.Fatalf("property copy: %v", body)
	}
	var asked []string
	out, err := p.Outputs(func(id string, full bool) (any, error) {
		asked = append(asked, id)
		if full {
			return map[string]any{"id": id}, nil
		}
		return map[string]any{"loginServer": "reg.example"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out["login"].Value != "reg.example" || out["login"].Type != "String" || out["full"].Value != p.Resources[0].ID || len(out["many"].Value.([]any)) != 2 {
		t.Fatalf("outputs: %+v", out)
	}
	if len(asked) != 2 || asked[0] != p.Resources[0].ID {
		t.Fatalf("reference asked for %v", asked)
	}
	// An error of the caller's passes through as it is.
	boom := errors.New("boom")
	if _, err := p.Outputs(func(string, bool) (any, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("reference error: %v", err)
	}
}

func TestJSONC(t *testing.T) {
	got, err := JSONC([]byte("{/* c */ a: 1e3, // x\n \"b\": [1, 2,], s: \"//not a comment, \\\"q\\\"\", n: -1,}"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil || v["a"] != 1000.0 || len(v["b"].([]any)) != 2 || v["s"] != `//not a comment, "q"` || v["n"] != -1.0 {
		t.Fatalf("%s: %v %v", got, v, err)
	}
}

// FuzzParseExpression: any input parses or is refused with an error,
// never a panic, and what parses evaluates or is refused as an
// InvalidTemplate.
func FuzzParseExpression(f *testing.F) {
	for _, s := range []string{"[concat('a', parameters('p'))]", "[resourceGroup().tags['x'][0]]", "[if(true(), 1, -2)]", "[format('{0}', 'it''s')]", "[[x]", "[a(]"} {
		f.Add(s)
	}
	tp, err := Parse([]byte(`{"parameters": {"p": {"type": "string", "defaultValue": "v"}}, "resources": []}`))
	if err != nil {
		f.Fatal(err)
	}
	p, err := tp.Plan(scope, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseExpression(s); err != nil {
			return
		}
		p.outputs = map[string]any{"o": map[string]any{"type": "object", "value": map[string]any{"v": s}}}
		p.ev.budget = maxWork
		_, err := p.Outputs(noRef)
		var te *Error
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("%q: %v is not an InvalidTemplate", s, err)
		}
	})
}

// TestWorkIsBounded: templates that would build exponentially large
// values, by sharing or by nesting loops, are refused.
func TestWorkIsBounded(t *testing.T) {
	vars := `"v0": "[createArray('xxxxxxxxxxxxxxxx')]"`
	for i := 1; i <= 40; i++ {
		vars += fmt.Sprintf(`, "v%d": "[createArray(variables('v%d'), variables('v%d'))]"`, i, i-1, i-1)
	}
	refused(t, `{"variables": {`+vars+`}, "resources": []}`, nil, "too large to evaluate")
	refused(t, `{"resources": [], "outputs": {"o": {"type": "array", "copy": {"count": 800, "input": {"copy": [{"name": "a", "count": 800,
		"input": {"copy": [{"name": "b", "count": 800, "input": "[copyIndex('b')]"}]}}]}}}}}`, nil, "too large to evaluate")
}

// FuzzJSONC: JSONC never panics, and leaves JSON as it was.
func FuzzJSONC(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.5e3, -1], "b": "x\"y//z"}`, `{a: 1, /* c */ b: [true,], // x` + "\n}", `"\u00e9"`, `[null]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := JSONC([]byte(s))
		var want any
		if json.Unmarshal([]byte(s), &want) != nil {
			return
		}
		var got any
		if err != nil || json.Unmarshal(out, &got) != nil {
			t.Fatalf("valid JSON %q became %q (%v)", s, out, err)
		}
		if gb, wb := fmt.Sprint(got), fmt.Sprint(want); gb != wb {
			t.Fatalf("%q became %q", s, out)
		}
	})
}

// TestFunctionsDocumented: docs/deployments.md lists every function berth
// evaluates.
func TestFunctionsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/deployments.md")
	if err != nil {
		t.Fatal(err)
	}
	low := strings.ToLower(string(doc))
	for _, f := range Functions() {
		if !strings.Contains(low, "`"+f+"`") && !strings.Contains(low, "`"+f+"()`") {
			t.Errorf("docs/deployments.md does not list %s", f)
		}
	}
}
