package podidentity

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kindInfo is what a definition says of one kind beyond its type.
type kindInfo struct {
	kind, plural, description string
	zero                      any
	columns                   []column
	// status says the kind has a status subresource: the controller
	// writes status apart from spec, so a spec writer cannot set it.
	status bool
}

type column struct{ name, jsonPath, typ string }

var age = column{"Age", ".metadata.creationTimestamp", "date"}

var kinds = []kindInfo{
	{"AzureIdentity", IdentitiesResource, "An identity pods may be given: a user-assigned managed identity (type 0) or a service principal with a secret (1) or a certificate (2).",
		AzureIdentity{}, []column{{"Type", ".spec.type", "string"}, {"ClientID", ".spec.clientID", "string"}, age}, false},
	{"AzureIdentityBinding", BindingsResource, "Gives an AzureIdentity to the pods whose aadpodidbinding label equals the selector.",
		AzureIdentityBinding{}, []column{{"AzureIdentity", ".spec.azureIdentity", "string"}, {"Selector", ".spec.selector", "string"}, age}, false},
	{"AzureAssignedIdentity", AssignedIdentitiesResource, "An identity assigned to one pod on one node; written by the controller.",
		AzureAssignedIdentity{}, []column{{"Pod", ".spec.pod", "string"}, {"Node", ".spec.nodename", "string"}, {"Status", ".status.status", "string"}, age}, true},
	{"AzurePodIdentityException", ExceptionsResource, "Pods of its namespace carrying any of its labels are left alone by the node agent.",
		AzurePodIdentityException{}, []column{age}, false},
}

// CRDs returns the custom resource definitions of the four kinds, as YAML
// documents, in a fixed order and form.
func CRDs() ([]byte, error) {
	var out bytes.Buffer
	for i, k := range kinds {
		if i > 0 {
			out.WriteString("---\n")
		}
		b, err := yaml.Marshal(definition(k))
		if err != nil {
			return nil, err
		}
		out.Write(b)
	}
	return out.Bytes(), nil
}

func definition(k kindInfo) map[string]any {
	schema := schemaOf(reflect.TypeOf(k.zero), false)
	schema["description"] = k.description
	var columns []map[string]any
	for _, c := range k.columns {
		columns = append(columns, map[string]any{"name": c.name, "jsonPath": c.jsonPath, "type": c.typ})
	}
	version := map[string]any{
		"name": Version, "served": true, "storage": true,
		"schema":                   map[string]any{"openAPIV3Schema": schema},
		"additionalPrinterColumns": columns,
	}
	if k.status {
		version["subresources"] = map[string]any{"status": map[string]any{}}
	}
	return map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata": map[string]any{
			"name": k.plural + "." + Group,
			// Groups under k8s.io are reserved for APIs Kubernetes
			// approved; the original project's group is kept for its
			// manifests, and the server requires saying it is not one.
			"annotations": map[string]any{"api-approved.kubernetes.io": "unapproved, kept for compatibility with the original pod identity project's manifests"},
		},
		"spec": map[string]any{
			"group": Group,
			"scope": "Namespaced",
			"names": map[string]any{
				"kind": k.kind, "listKind": k.kind + "List", "plural": k.plural, "singular": strings.ToLower(k.kind),
			},
			"versions": []any{version},
		},
	}
}

var (
	typeMeta   = reflect.TypeOf(metav1.TypeMeta{})
	objectMeta = reflect.TypeOf(metav1.ObjectMeta{})
)

// schemaOf is the structural schema of a Go type as encoding/json writes
// it. A struct that embeds TypeMeta below the top is an embedded resource
// (a copy of another object), which the API server validates as one.
func schemaOf(t reflect.Type, nested bool) map[string]any {
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), nested)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		if t == reflect.TypeOf(IdentityType(0)) {
			return map[string]any{"type": "integer", "enum": []IdentityType{UserAssignedIdentity, ServicePrincipal, ServicePrincipalCertificate}}
		}
		return map[string]any{"type": "integer"}
	case reflect.Int32:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), true)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), true)}
	case reflect.Struct:
		if t == objectMeta {
			return map[string]any{"type": "object"}
		}
		props := map[string]any{}
		resource := false
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Type == typeMeta {
				resource = true
				props["apiVersion"] = map[string]any{"type": "string"}
				props["kind"] = map[string]any{"type": "string"}
				continue
			}
			if name == "-" || name == "" && strings.Contains(opts, "inline") {
				continue
			}
			props[name] = schemaOf(f.Type, true)
		}
		s := map[string]any{"type": "object", "properties": props}
		if resource && nested {
			s["x-kubernetes-embedded-resource"] = true
		}
		return s
	}
	panic(fmt.Sprintf("podidentity: no schema for %s", t))
}
