package podidentity

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the custom resources' API.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// The resources, as the API server names them in paths.
const (
	IdentitiesResource         = "azureidentities"
	BindingsResource           = "azureidentitybindings"
	AssignedIdentitiesResource = "azureassignedidentities"
	ExceptionsResource         = "azurepodidentityexceptions"
)

// The resources as clients name them (group, version, resource).
var (
	IdentitiesGVR         = GroupVersion.WithResource(IdentitiesResource)
	BindingsGVR           = GroupVersion.WithResource(BindingsResource)
	AssignedIdentitiesGVR = GroupVersion.WithResource(AssignedIdentitiesResource)
	ExceptionsGVR         = GroupVersion.WithResource(ExceptionsResource)
)

// Unstructured is obj, one of this package's kinds, as a writer sends it:
// without a status, which its writer does not set (the schemas keep it
// apart or nobody writes it), and without the zero creation time the
// conversion would add.
func Unstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	return u, nil
}
