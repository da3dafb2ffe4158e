// Package wiwebhook is the workload identity mutating admission webhook
// (berth workload-identity-webhook): it gives a pod what the cloud SDKs'
// workload identity credential reads, so that the pod gets tokens from
// berth with its projected service account token and no secret.
//
// The names are the upstream Azure workload identity webhook's, so that
// pods, service accounts and SDKs written for it work unchanged:
//
//   - A pod takes part when it carries the label
//     azure.workload.identity/use: "true"; any other pod is admitted
//     unchanged.
//   - Its service account (the pod's serviceAccountName, else "default"),
//     read through the API server at each admission, names the
//     application in the annotation azure.workload.identity/client-id and
//     may name its tenant in azure.workload.identity/tenant-id; the
//     webhook's default tenant applies otherwise.
//   - Every container and init container, except those the pod annotation
//     azure.workload.identity/skip-containers lists (names separated by
//     semicolons), gets the environment AZURE_CLIENT_ID, AZURE_TENANT_ID,
//     AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST (berth's
//     address), and the read-only mount of the volume
//     azure-identity-token at /var/run/secrets/azure/tokens.
//   - The pod gets that volume: a projected service account token for the
//     audience api://AzureADTokenExchange at the path azure-identity-token,
//     which expires after the seconds the annotation
//     azure.workload.identity/service-account-token-expiration says (the
//     pod's, else the service account's; 3600 to 86400), else 3600.
//
// What the pod already has is kept: an environment variable a container
// sets, a mount named azure-identity-token, the volume. So a second
// admission of an admitted pod (the API server's reinvocation) changes
// nothing. A pod that takes part but would run without an identity is
// refused, never admitted without one: its service account names no
// client id (and a container does not set AZURE_CLIENT_ID itself), no
// tenant is known, the expiration annotation is not a number in bounds,
// the pod has a volume named azure-identity-token that is not a service
// account token, or its service account cannot be read.
//
// The wire format is admission.k8s.io/v1 AdmissionReview; the answer to a
// pod that takes part is a JSONPatch of additions only, so that fields
// of the pod this package does not know are kept. Other operations, and
// subresources, are admitted unchanged; the creation of anything but a
// pod is refused, since only a misconfigured webhook is sent one.
package wiwebhook
