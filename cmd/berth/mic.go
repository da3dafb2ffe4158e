package main

import (
	"log/slog"

	"github.com/berthhq/berth/internal/mic"
)

// Pod-managed identity's controller, run in a cluster.
var micCommands = []command{
	{
		words:   "mic",
		summary: "Run pod-managed identity's controller (MIC) in a Kubernetes cluster.",
		more: "It assigns the user-assigned identities that AzureIdentityBindings give pods to their nodes' virtual machines " +
			"(the Node's spec.providerID), through berth's management API as the node file's identity (which needs " +
			"Virtual Machine Contributor on the machines and Managed Identity Operator on the identities), writes the " +
			"AzureAssignedIdentity resources, and removes what it assigned when no pod on the node needs it. MICs elect a " +
			"leader with a Lease; only it acts. docs/pod-identity.md describes it.",
		local: true,
		examples: []example{
			{"In the cluster, with the node file berth aks get-node-config wrote.", "berth mic --node-file /etc/kubernetes/azure.json --metrics-listen :8888"},
			{"Outside it, bindings matching pods of their own namespace only.", "berth mic --kubeconfig ~/.kube/config --node-file azure.json --namespaced"},
		},
		flags: func(f *flagSet) runFunc {
			var o mic.ServeOptions
			f.StringVar(&o.Kubeconfig, "kubeconfig", "The API server's kubeconfig file (default: the pod's in-cluster configuration).")
			f.StringVar(&o.NodeFile, "node-file", "The node file (berth aks get-node-config): berth's address and the identity MIC acts as.", required)
			f.BoolVar(&o.Namespaced, "namespaced", "A binding matches only pods of its own namespace.")
			o.LeaseNamespace = "default"
			f.StringVar(&o.LeaseNamespace, "leader-election-namespace", "The namespace of the Lease MICs elect their leader with.")
			f.StringVar(&o.MetricsListen, "metrics-listen", "Serve Prometheus metrics at http://ADDR/metrics (default: not served).")
			return serving(f, func(c *call, log *slog.Logger) error { return mic.Serve(c.ctx, o, c.stdout, log) })
		},
	},
}
