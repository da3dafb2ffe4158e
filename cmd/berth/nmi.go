package main

import (
	"log/slog"
	"strings"

	"github.com/berthhq/berth/internal/nmi"
)

// Pod-managed identity's node agent, run on every node.
var nmiCommands = []command{
	{
		words:   "nmi",
		summary: "Run pod-managed identity's node agent (NMI) on a Kubernetes node.",
		more: "It redirects the metadata requests of the node's pods (those arriving on the --interface-prefix interfaces) " +
			"to itself with its own iptables chain " + nmi.Chain + ", answers each pod with tokens of the identities its " +
			"AzureAssignedIdentities give it, passes pods an AzurePodIdentityException names through to the node's metadata " +
			"agent, and removes its rules when it stops. It keeps strict reverse-path filtering on the pods' interfaces, so " +
			"that no pod can send from another's address, and serves no pod while that does not hold. The node reaches it " +
			"at http://127.0.0.1:2579" + nmi.HostTokenPath + ". docs/pod-identity.md describes it.",
		local: true,
		examples: []example{
			{"In the cluster, as a DaemonSet on the node's network (NODE_NAME and HOST_IP from the downward API).",
				`berth nmi --node-name "$NODE_NAME" --host-ip "$HOST_IP" --metadata-agent http://169.254.169.254 --node-file /etc/kubernetes/azure.json`},
			{"On a node with calico's interfaces only.", `berth nmi --kubeconfig kubeconfig --node-name node-1 --host-ip 10.0.0.4 --metadata-agent http://127.0.0.1:8181 --interface-prefix cali`},
		},
		flags: func(f *flagSet) runFunc {
			var o nmi.ServeOptions
			f.StringVar(&o.Kubeconfig, "kubeconfig", "The API server's kubeconfig file (default: the pod's in-cluster configuration).")
			f.StringVar(&o.NodeName, "node-name", "The node's name: NMI serves the pods scheduled on it.", required)
			f.StringVar(&o.HostIP, "host-ip", "The node's IPv4 address the pods' requests are redirected to.", required)
			f.StringVar(&o.MetadataAgent, "metadata-agent", "The node's metadata agent (berth imds), http://HOST[:PORT].", required)
			f.StringVar(&o.Listen, "listen", "Address NMI listens on (default "+nmi.DefaultListen+").")
			f.StringVar(&o.NodeFile, "node-file", "The node file (berth aks get-node-config), for service principal identities: where berth's token service is.")
			f.ListVar(&o.InterfacePrefixes, "interface-prefix", "Name prefixes of the pods' interfaces on the node (default azv cali veth).")
			f.BoolVar(&o.AllowBridge, "allow-bridge", "Serve pods whose interfaces are on a bridge (kubenet), where one pod can take another's address; docs/pod-identity.md says what protects them then.")
			return serving(f, func(c *call, log *slog.Logger) error {
				if len(o.InterfacePrefixes) == 0 {
					o.InterfacePrefixes = []string{"azv", "cali", "veth"}
				}
				for i, p := range o.InterfacePrefixes {
					o.InterfacePrefixes[i] = strings.TrimSuffix(p, "+")
				}
				if !strings.Contains(o.MetadataAgent, "://") {
					o.MetadataAgent = "http://" + o.MetadataAgent
				}
				return nmi.Serve(c.ctx, o, c.stdout, log)
			})
		},
	},
}
