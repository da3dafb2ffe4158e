package podidentity

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Group and Version name the API of the custom resources.
const (
	Group   = "aadpodidentity.k8s.io"
	Version = "v1"
)

// BindingLabel is the pod label a binding's selector is compared with.
const BindingLabel = "aadpodidbinding"

// IdentityType is what an AzureIdentity stands for; the numbers are the
// wire values.
type IdentityType int

const (
	// UserAssignedIdentity is a user-assigned managed identity, assigned
	// to the node's machine and used through its metadata agent.
	UserAssignedIdentity IdentityType = 0
	// ServicePrincipal is an application with the secret clientPassword
	// names.
	ServicePrincipal IdentityType = 1
	// ServicePrincipalCertificate is an application with the certificate
	// clientPassword names.
	ServicePrincipalCertificate IdentityType = 2
)

// SecretReference names a Kubernetes Secret.
type SecretReference struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// AzureIdentity is an identity pods may be given.
type AzureIdentity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AzureIdentitySpec   `json:"spec,omitempty"`
	Status AzureIdentityStatus `json:"status,omitempty"`
}

// AzureIdentitySpec says which identity, and for a service principal where
// its credential is.
type AzureIdentitySpec struct {
	Type IdentityType `json:"type,omitempty"`
	// ResourceID is a user-assigned identity's resource id.
	ResourceID string `json:"resourceID,omitempty"`
	ClientID   string `json:"clientID,omitempty"`
	// ClientPassword is the Secret holding a service principal's secret
	// or certificate.
	ClientPassword     SecretReference `json:"clientPassword,omitempty"`
	TenantID           string          `json:"tenantID,omitempty"`
	AuxiliaryTenantIDs []string        `json:"auxiliaryTenantIDs,omitempty"`
	ADResourceID       string          `json:"adResourceID,omitempty"`
	ADEndpoint         string          `json:"adEndpoint,omitempty"`
	Replicas           *int32          `json:"replicas,omitempty"`
}

// AzureIdentityStatus is kept for the original's manifests; berth does not
// set it.
type AzureIdentityStatus struct {
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
}

// AzureIdentityBinding gives an identity to the pods whose aadpodidbinding
// label equals its selector.
type AzureIdentityBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AzureIdentityBindingSpec   `json:"spec,omitempty"`
	Status AzureIdentityBindingStatus `json:"status,omitempty"`
}

// AzureIdentityBindingSpec names the identity (an AzureIdentity in the
// binding's namespace) and the selector.
type AzureIdentityBindingSpec struct {
	AzureIdentity string `json:"azureIdentity,omitempty"`
	Selector      string `json:"selector,omitempty"`
	// Weight orders bindings that match one pod.
	Weight int `json:"weight,omitempty"`
}

// AzureIdentityBindingStatus is kept for the original's manifests.
type AzureIdentityBindingStatus struct {
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
}

// AzureAssignedIdentity records that an identity is assigned to a pod on
// a node; the controller writes it, named <pod>-<namespace>-<identity>
// and labelled with the node's name.
type AzureAssignedIdentity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AzureAssignedIdentitySpec   `json:"spec,omitempty"`
	Status AzureAssignedIdentityStatus `json:"status,omitempty"`
}

// AzureAssignedIdentitySpec holds copies of the identity and the binding
// as they were when the assignment was made.
type AzureAssignedIdentitySpec struct {
	AzureIdentityRef *AzureIdentity        `json:"azureIdentityRef,omitempty"`
	AzureBindingRef  *AzureIdentityBinding `json:"azureBindingRef,omitempty"`
	Pod              string                `json:"pod,omitempty"`
	PodNamespace     string                `json:"podNamespace,omitempty"`
	NodeName         string                `json:"nodename,omitempty"`
	Replicas         *int32                `json:"replicas,omitempty"`
}

// Assignment states.
const (
	AssignedIDCreated    = "Created"
	AssignedIDAssigned   = "Assigned"
	AssignedIDUnassigned = "Unassigned"
)

// AzureAssignedIdentityStatus is where the assignment is.
type AzureAssignedIdentityStatus struct {
	Status            string `json:"status,omitempty"`
	AvailableReplicas int32  `json:"availableReplicas,omitempty"`
}

// AzurePodIdentityException exempts the pods of its namespace that carry
// any of its labels from the node agent: their metadata requests pass
// through untouched.
type AzurePodIdentityException struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AzurePodIdentityExceptionSpec   `json:"spec,omitempty"`
	Status AzurePodIdentityExceptionStatus `json:"status,omitempty"`
}

// AzurePodIdentityExceptionSpec holds the labels.
type AzurePodIdentityExceptionSpec struct {
	PodLabels map[string]string `json:"podLabels,omitempty"`
}

// AzurePodIdentityExceptionStatus is kept for the original's manifests.
type AzurePodIdentityExceptionStatus struct {
	Status string `json:"status,omitempty"`
}
