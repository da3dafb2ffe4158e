package main

import (
	"log/slog"

	"github.com/berthhq/berth/internal/imds"
)

// The commands that run on machines and nodes.
var nodeCommands = []command{
	{
		words:   "imds",
		summary: "Serve the instance metadata endpoint on a machine, for its managed identities.",
		more: "The machine proves itself to berth with its machine credential (berth vm create). It answers on " +
			imds.DefaultAddress + " when that address is the machine's, else on --listen.",
		local: true,
		examples: []example{
			{"On the machine vm1.", `berth imds --vm "$(jq -r .resourceId vm1.json)" --credential vm1.json`},
			{"On a Kubernetes node, from the node's own credential file (the machine it names).", "berth imds --credential /etc/berth/vm.json --listen 127.0.0.1:8181"},
		},
		flags: func(f *flagSet) runFunc {
			var o imds.Options
			f.StringVar(&o.VM, "vm", "The virtual machine's resource id (default: the credential file's).")
			path := f.String("credential", "The machine's credential file, as written by berth vm create.", required)
			f.StringVar(&o.Listen, "listen", "Address to serve on (default "+imds.DefaultAddress+" when that address is local).")
			f.StringVar(&o.IdentityHeader, "identity-header",
				"Secret App Service-style clients send as X-IDENTITY-HEADER; enables IDENTITY_ENDPOINT=http://ADDR"+imds.AppServicePath+".",
				fromEnv("IDENTITY_HEADER"))
			return serving(f, func(c *call, log *slog.Logger) error {
				cred, err := imds.LoadCredentialFile(*path)
				if err != nil {
					return err
				}
				o.Credential = cred
				// A DaemonSet gives every node the same arguments: each
				// node's own credential file names its machine.
				if o.VM == "" {
					o.VM = cred.ResourceID
				}
				return imds.Serve(c.ctx, o, c.stdout, log)
			})
		},
	},
	{
		words:   "credential-provider",
		summary: "The kubelet's image credential provider on a node.",
		more: "Run by the kubelet: a CredentialProviderRequest on stdin, the response on stdout; on failure a message " +
			"on stderr and exit code 1, which the kubelet logs and does not cache. NODE_FILE is written by berth aks get-node-config.",
		examples: []example{
			{"What the kubelet runs, with a CredentialProviderRequest on stdin.", "berth credential-provider /etc/kubernetes/azure.json < request.json"},
		},
		args:  []string{"NODE_FILE"},
		local: true,
		run:   credentialProvider,
	},
}
