// Package podidentity holds pod-managed identity's custom resources, group
// aadpodidentity.k8s.io, version v1: AzureIdentity (an identity pods may
// use), AzureIdentityBinding (which pods: those whose aadpodidbinding
// label equals its selector), AzureAssignedIdentity (an identity assigned
// to one pod on one node, written by the controller) and
// AzurePodIdentityException (pods the node agent leaves alone).
//
// The types keep the JSON field names of the original project exactly,
// so that the manifests people have apply unchanged; the custom resource
// definitions berth ships are generated from these types (CRDs), with
// structural schemas, so that the API server validates what it stores.
package podidentity
