package main

import (
	"log/slog"

	"github.com/berthhq/berth/internal/wiwebhook"
)

// The workload identity webhook, run in a cluster.
var webhookCommands = []command{
	{
		words:   "workload-identity-webhook",
		summary: "Serve the workload identity mutating admission webhook in a Kubernetes cluster.",
		more: "Pods labelled " + wiwebhook.UseLabel + `: "true" get the environment and the projected service account token ` +
			"the cloud SDKs' workload identity credential reads, for the client id their service account's " +
			wiwebhook.ClientIDAnnotation + " annotation names. It serves POST /mutate (admission.k8s.io/v1) and GET /healthz over " +
			"HTTPS, and reads service accounts through the API server (in-cluster, or --kubeconfig). docs/kubernetes.md has the manifests.",
		local: true,
		examples: []example{
			{"In the cluster, behind its Service.", "berth workload-identity-webhook --listen :9443 --tls-cert-file /certs/tls.crt " +
				"--tls-key-file /certs/tls.key --authority-host https://berth.example.com/ --tenant-id $TENANT_ID"},
		},
		flags: func(f *flagSet) runFunc {
			var o wiwebhook.Options
			o.Listen = ":9443"
			f.StringVar(&o.Listen, "listen", "Address to serve on.")
			f.StringVar(&o.CertFile, "tls-cert-file", "The serving certificate (PEM), read again when it changes.", required)
			f.StringVar(&o.KeyFile, "tls-key-file", "Its private key (PEM).", required)
			f.StringVar(&o.AuthorityHost, "authority-host", "Berth's address, https://HOST[:PORT]/, given to pods as AZURE_AUTHORITY_HOST.", required)
			f.StringVar(&o.TenantID, "tenant-id", "The tenant given to pods whose service account has no "+wiwebhook.TenantIDAnnotation+" annotation.")
			f.StringVar(&o.Kubeconfig, "kubeconfig", "The API server's kubeconfig file (default: the pod's in-cluster configuration).")
			return serving(f, func(c *call, log *slog.Logger) error { return wiwebhook.Serve(c.ctx, o, c.stdout, log) })
		},
	},
}
