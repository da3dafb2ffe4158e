// Package mic is pod-managed identity's controller (berth mic): it gives
// the nodes' virtual machines the user-assigned identities their pods
// are bound to, and takes them away when no pod on the node needs them.
//
// The contract:
//
//   - Only the leader acts. MICs elect it with the coordination.k8s.io
//     Lease Options.LeaseNamespace/LeaseName; a MIC that loses the lease
//     stops at once (its requests in flight are cancelled) and campaigns
//     again. A stopped MIC releases the lease; a killed one holds it
//     until it expires (Options.LeaseDuration).
//   - A pod needs an identity when it is scheduled (spec.nodeName), not
//     finished and not being deleted, and its label aadpodidbinding
//     equals the selector of an AzureIdentityBinding whose AzureIdentity
//     (named by the binding, in the binding's namespace) exists; with
//     Options.Namespaced, only bindings of the pod's own namespace count.
//   - For each such pod and identity, an AzureAssignedIdentity named
//     <pod>-<pod namespace>-<identity>, in the pod's namespace, labelled
//     nodename=<node>, with the finalizer mic.berth/assignment and copies
//     of the identity and binding; its status is Assigned once the
//     identity is on the node's machine (a service principal, type 1 or
//     2, needs nothing there: Assigned at once), and Created while MIC
//     has tried and the identity is not there yet. When the pod no
//     longer needs it (or its identity changed), it is deleted; the
//     finalizer holds it, status Unassigned, until its identity is off
//     the machine or stays there for another pod or as the machine's own.
//   - The node's machine is the virtual machine its spec.providerID names
//     (azure:///subscriptions/.../virtualMachines/NAME). MIC removes from
//     it only identities it added: before changing the machine it writes
//     on each assignment the annotation mic.berth/added-to-vm, "true" if
//     the identity was not on the machine, "false" if it was (the
//     kubelet's identity, one the operator assigned), copied from the
//     node's other assignments of the identity when there are any (on a
//     new assignment, in the request that creates it). Since
//     the record is written before the machine changes, a MIC killed in
//     between finds it, and never mistakes an identity it added for one
//     the machine had.
//   - Work is per node: every event queues the nodes it concerns, workers
//     (Options.Workers) sync different nodes at once and never one node
//     twice at once. A sync that has something to do on the machine (an
//     identity to add, to record or to mark Assigned, or one leaving)
//     reads it once and changes it in one request, whatever the number of
//     identities; a sync of a node whose assignments are all Assigned
//     makes no management request (so an identity taken off a machine
//     behind MIC's back comes back with the node's next change, not at
//     once). A refused change (an
//     identity that does not exist, one MIC may not assign) is split into
//     one request per identity, so that the refused identity is set aside
//     with a backoff and the others are made. A failed or throttled
//     request retries the node with backoff; a 429 holds all of MIC's
//     management requests for its Retry-After, which is the caller's.
//   - Metrics (Options.Registerer): berth_mic_assignments_total,
//     berth_mic_removals_total, berth_mic_assignment_duration_seconds,
//     berth_mic_errors_total{stage}, berth_mic_vm_requests_total{method,
//     outcome}, berth_mic_leader.
//
// The custom resources are read and written with the dynamic client and
// converted to the podidentity types: those types have no generated deep
// copies, which a typed REST client and its informers would need.
package mic
