// Package nmi is pod-managed identity's node agent (berth nmi): on each
// node it answers the metadata requests of the node's pods with tokens
// of the identities their AzureAssignedIdentities give them.
//
// The contract:
//
//   - Interception: NMI's own iptables chains, named Chain. In the nat
//     table, PREROUTING jumps to it for TCP to 169.254.169.254:80, and it
//     sends what arrives on the pods' interfaces (name prefixes, a flag)
//     to NMI (DNAT to the node's address and NMI's port). In the filter
//     table, INPUT jumps to it for NMI's port, and it lets in only what
//     arrives on loopback or a pod interface. Installing replaces what a
//     killed NMI left; stopping removes both chains and their jumps.
//   - NMI installs its rules before it has listed the cluster's objects,
//     and answers every request 503 (Retry-After: 5) until it has: a pod
//     never reaches the node's agent through a starting NMI. When NMI is
//     not running, nothing stands between the pods and the node's agent;
//     docs/pod-identity.md says so.
//   - A request is a pod's by its source address: the node's running pods
//     not on the node's network are indexed by address (an informer of
//     the node's pods, field selector spec.nodeName). An address no pod
//     has gets 404.
//   - A pod an AzurePodIdentityException of its namespace matches (all
//     the exception's podLabels are the pod's) is passed through to the
//     node's metadata agent untouched, every path.
//   - Otherwise the token path (GET /metadata/identity/oauth2/token, the
//     Metadata header, api-version and resource as the metadata endpoint
//     checks them, in the internal/imds code) is answered from the pod's
//     AzureAssignedIdentities (an informer, label nodename=<node>), those
//     not being deleted and not Unassigned: the one named by client_id,
//     msi_res_id/mi_res_id or object_id, or the only one if none is named.
//     None assigned: 404. Several and none named: 400. One named but not
//     assigned: 403, "Identity not found". The one chosen still Created
//     (its identity not yet on the machine): 503 with Retry-After: 5, at
//     once, for the client to retry. Other /metadata/ paths but
//     /metadata/identity ones (instance metadata) go to the node's agent
//     unchanged; anything else is 404. Answers and errors have the
//     metadata endpoint's shapes (imds.WriteToken, imds.WriteError).
//   - HostTokenPath serves the node itself (only connections from
//     loopback, which no pod can send from: the kernel drops loopback
//     sources arriving on other interfaces): headers podname, podns,
//     resource and clientid, the same choice and answer.
//   - Tokens: a user-assigned identity's (type 0) from the node's
//     metadata agent by client id; a service principal's (1, secret; 2,
//     certificate) from berth's token service with the client credentials
//     grant, the credential read from the Secret its clientPassword names
//     (keys clientsecret, or the only key; certificate and password), at
//     the address of the node file. They are cached per (identity,
//     resource) by the imds cache's rules: handed out until half their
//     life, then fetched again. The cache only saves fetches: which pod
//     may have which identity is decided on every request from the
//     informers' current state, so a pod whose assignment is deleted (or
//     whose binding no longer matches, which makes the controller delete
//     it) is refused from its next request on, as soon as the watch
//     delivers the deletion; a token handed out before stays valid until
//     it expires, as bearer tokens do.
//
// Spoofing. The original agent trusted the source address, so a pod able
// to forge packets could ask as another pod. NMI makes source addresses
// trustworthy for routed pod networks (a veth per pod and a /32 route to
// it on the node, as Azure CNI and calico do) with strict reverse-path
// filtering: the kernel drops a packet whose source address the node
// would not route back out of the interface it came in on, so a pod can
// send only from addresses routed to its own interface. NMI sets
// rp_filter=1 on "default" (which new interfaces copy), on "all" when it
// was loose (2; the effective value is the larger of "all" and the
// interface's), and on each pod interface when it first sees it. Every
// second (checkEvery) it reads every pod interface's effective value, and
// while any is not strict, or a pod interface is on a bridge, it answers
// every pod 503 saying why, and logs an error; it does not set an
// interface again, since one loosened after NMI set it was loosened on
// purpose. The filter rules make the kernel's check cover every path to
// NMI: its port is reachable only on loopback and pod interfaces.
//
// NMI does not look up the route to each request's source itself: the
// kernel makes that very check, for every packet, before the connection
// exists, which is what stops a forged connection; a lookup after
// accepting it would repeat the kernel's check with the same routing
// table, add a netlink round trip to every request, and close no gap.
// What it does check per request is the guard's verdict.
//
// On a bridge (kubenet) the pods share one interface of the node, the
// bridge, so reverse-path filtering cannot tell them apart and a pod can
// take another's address (ARP). NMI refuses to start when a pod
// interface is a bridge or a bridge's port, unless told to accept it
// (Config.AllowBridge); docs/pod-identity.md says what protects pods then.
package nmi
