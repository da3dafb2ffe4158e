package main

import (
	"errors"

	"github.com/berthhq/berth/internal/cli"
)

// Kubernetes clusters' records, their credentials, and the node file their
// nodes' credential provider reads.
var aksCommands = []command{
	{words: "aks", summary: "Manage Kubernetes clusters: their records, credentials and node files."},
	{
		words:   "aks create",
		summary: "Record a cluster, running as a service principal or as managed identities.",
		more:    "berth checks the service principal's secret in the cluster's tenant and keeps only its client id.",
		uses:    usesManagement,
		examples: []example{
			{"A cluster whose nodes pull as a service principal.", "berth aks create -g G -n C --service-principal APP_ID --client-secret SECRET --node-count 1"},
			{"A cluster with a kubelet identity.", "berth aks create -g G -n C --enable-managed-identity"},
			{"A cluster with workload identity (see berth aks update --service-account-keys).", "berth aks create -g G -n C --enable-managed-identity --enable-oidc-issuer --enable-workload-identity"},
		},
		flags: func(f *flagSet) runFunc {
			o := cli.ClusterCreate{NodeCount: 3}
			f.StringVar(&o.Name, "name n", "The cluster's name.", required)
			f.StringVar(&o.Group, "resource-group g", "The resource group.", required)
			f.StringVar(&o.Location, "location l", "The location (default: the resource group's).")
			f.StringVar(&o.ServicePrincipal, "service-principal", "The application (client) id the nodes authenticate as.")
			f.StringVar(&o.ClientSecret, "client-secret", "Its secret, checked and not kept.")
			f.BoolVar(&o.ManagedIdentity, "enable-managed-identity", "Run as managed identities: a system-assigned one and a kubelet identity.")
			f.IntVar(&o.NodeCount, "node-count", "The number of nodes.")
			f.StringVar(&o.KubernetesVersion, "kubernetes-version", "The Kubernetes version.")
			f.StringVar(&o.DNSPrefix, "dns-name-prefix", "The API server's DNS prefix (default: the name).")
			f.BoolVar(&o.OIDCIssuer, "enable-oidc-issuer", "Give the cluster an OIDC issuer, hosted by berth, for its service account tokens.")
			f.BoolVar(&o.WorkloadIdentity, "enable-workload-identity", "Enable workload identity (needs --enable-oidc-issuer).")
			f.StringVar(&o.NetworkPlugin, "network-plugin", "The network plugin: azure (the default), kubenet or none; it does not change.")
			return func(c *call) (any, error) { return c.m.CreateCluster(c.ctx, o) }
		},
	},
	{
		words:   "aks update",
		summary: "Change a cluster's OIDC issuer, workload identity and pod identity.",
		more: "The OIDC issuer berth hosts is at the cluster's oidcIssuerProfile.issuerUrl, once enabled for good; start the API server with " +
			"--service-account-issuer set to it and upload its service account public keys with --service-account-keys. " +
			"A cluster whose API server serves its own issuer documents names it with --api-server-issuer, and its CA with --api-server-issuer-ca-file.",
		uses: usesManagement,
		examples: []example{
			{"Enable the issuer and workload identity.", "berth aks update -g G -n C --enable-oidc-issuer --enable-workload-identity"},
			{"Upload the keys of the API server's --service-account-key-file.", "berth aks update -g G -n C --service-account-keys sa.pub"},
			{"Trust the API server's own issuer, whose certificate the cluster's CA signed.", "berth aks update -g G -n C --api-server-issuer https://10.0.0.1:6443 --api-server-issuer-ca-file ca.crt"},
			{"Enable pod identity on a kubenet cluster.", "berth aks update -g G -n C --enable-pod-identity --enable-pod-identity-with-kubenet --kubeconfig cluster.kubeconfig"},
		},
		flags: func(f *flagSet) runFunc {
			var o cli.ClusterUpdate
			f.StringVar(&o.Name, "name n", "The cluster's name.", required)
			f.StringVar(&o.Group, "resource-group g", "The resource group.", required)
			f.BoolVar(&o.OIDCIssuer, "enable-oidc-issuer", "Give the cluster an OIDC issuer hosted by berth (it cannot be disabled).")
			enable := f.Bool("enable-workload-identity", "Enable workload identity (needs the OIDC issuer).")
			disable := f.Bool("disable-workload-identity", "Disable workload identity.")
			f.StringVar(&o.ServiceAccountKeysFile, "service-account-keys", "A file of the cluster's service account public keys (PEM, or a JSON Web Key Set), which replace those berth serves.")
			f.StringVar(&o.APIServerIssuer, "api-server-issuer", "The issuer the cluster's API server serves itself (its --service-account-issuer); empty forgets it.")
			f.StringVar(&o.APIServerIssuerCAFile, "api-server-issuer-ca-file", "PEM certificates of the CA the API server's TLS certificate chains to.")
			enablePods := f.Bool("enable-pod-identity", "Enable the pod identity addon (pod-managed identity).")
			f.BoolVar(&o.PodIdentityKubenet, "enable-pod-identity-with-kubenet", "Consent to pod identity on a kubenet cluster, where pods can spoof each other's addresses.")
			disablePods := f.Bool("disable-pod-identity", "Disable the pod identity addon: its identities and exceptions go.")
			kubeconfigFlag(f, &o.Kubeconfig)
			f.check(func() error {
				if *enable && *disable {
					return errors.New("berth aks update: give --enable-workload-identity or --disable-workload-identity, not both")
				}
				if *enablePods && *disablePods {
					return errors.New("berth aks update: give --enable-pod-identity or --disable-pod-identity, not both")
				}
				return nil
			})
			return func(c *call) (any, error) {
				if *enable || *disable {
					o.WorkloadIdentity = enable
				}
				if *enablePods || *disablePods {
					o.PodIdentity = enablePods
				}
				o.APIServerIssuerSet = f.given("api-server-issuer")
				return c.m.UpdateCluster(c.ctx, o)
			}
		},
	},
	{words: "aks pod-identity", summary: "Manage a cluster's pod identities: user-assigned identities bound to pods (pod-managed identity)."},
	{
		words:   "aks pod-identity add",
		summary: "Bind a user-assigned identity to the pods of a namespace.",
		more: "The cluster's identity gets Managed Identity Operator on the identity, the pod identity is added to the cluster's podIdentityProfile, " +
			"and its AzureIdentity (named NAME) and AzureIdentityBinding (NAME-binding, selecting pods labelled aadpodidbinding=SELECTOR) " +
			"are written into the cluster's API server. Running it again finishes what a failure left undone.",
		uses: usesManagement,
		examples: []example{
			{"Bind an identity to the pods of my-app labelled aadpodidbinding=my-pod-identity.",
				"berth aks pod-identity add -g G --cluster-name C --namespace my-app --name my-pod-identity --identity-resource-id $IDENTITY_RESOURCE_ID"},
		},
		flags: func(f *flagSet) runFunc {
			var o cli.PodIdentityAdd
			podIdentityTarget(f, &o.PodIdentityCluster)
			f.StringVar(&o.Namespace, "namespace", "The pods' namespace.", required)
			f.StringVar(&o.Name, "name n", "The pod identity's name.", required)
			f.StringVar(&o.IdentityResourceID, "identity-resource-id", "The user-assigned identity's resource id.", required)
			f.StringVar(&o.BindingSelector, "binding-selector", "The aadpodidbinding label of the pods (default: the name).")
			return func(c *call) (any, error) { return c.m.AddPodIdentity(c.ctx, o) }
		},
	},
	{
		words:   "aks pod-identity delete",
		summary: "Remove a pod identity, and its AzureIdentity and AzureIdentityBinding from the cluster.",
		uses:    usesManagement,
		examples: []example{
			{"Remove a pod identity.", "berth aks pod-identity delete -g G --cluster-name C --namespace my-app --name my-pod-identity"},
		},
		flags: func(f *flagSet) runFunc {
			var t cli.PodIdentityCluster
			podIdentityTarget(f, &t)
			namespace := f.String("namespace", "The pod identity's namespace.", required)
			name := f.String("name n", "The pod identity's name.", required)
			return func(c *call) (any, error) { return c.m.DeletePodIdentity(c.ctx, t, *namespace, *name) }
		},
	},
	{
		words:   "aks pod-identity list",
		summary: "Show the cluster, with its pod identities and exceptions, as the cloud CLI does.",
		uses:    usesManagement,
		examples: []example{
			{"The pod identities' names.", "berth aks pod-identity list -g G --cluster-name C --query \"podIdentityProfile.userAssignedIdentities[].name\" -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			group := f.String("resource-group g", "The resource group.", required)
			cluster := f.String("cluster-name", "The cluster's name.", required)
			return func(c *call) (any, error) { return c.m.ShowCluster(c.ctx, *cluster, *group) }
		},
	},
	{
		words:   "aks pod-identity migrate",
		summary: "Print, or make, the workload identity equivalent of the cluster's pod identities.",
		more: "Reads the cluster's AzureIdentity and AzureIdentityBinding objects and the pods and deployments labelled aadpodidbinding, and prints " +
			"the plan as comments and, as YAML for kubectl apply -f -, the service accounts' azure.workload.identity/client-id annotations and " +
			"the deployments' azure.workload.identity/use label. Each identity is to trust the service account's tokens from the cluster's " +
			"issuer with a federated credential. --apply makes it all; the pod identities stay until deleted.",
		uses:      usesManagement,
		ownOutput: true,
		examples: []example{
			{"See the plan, then apply the Kubernetes part with kubectl.", "berth aks pod-identity migrate -g G --cluster-name C --namespace my-app | kubectl apply -f -"},
			{"Make the federated credentials and write the objects.", "berth aks pod-identity migrate -g G --cluster-name C --apply"},
		},
		flags: func(f *flagSet) runFunc {
			var o cli.PodIdentityMigration
			podIdentityTarget(f, &o.PodIdentityCluster)
			f.StringVar(&o.Namespace, "namespace", "Only this namespace's pod identities and workloads (default: all).")
			f.BoolVar(&o.Apply, "apply", "Make the federated credentials and write the objects, then print what was done.")
			return func(c *call) (any, error) { return nil, c.m.MigratePodIdentity(c.ctx, o, c.stdout) }
		},
	},
	{words: "aks pod-identity exception", summary: "Manage a cluster's pod identity exceptions: pods the node agent leaves alone."},
	{
		words:   "aks pod-identity exception add",
		summary: "Let the pods of a namespace with these labels reach the metadata endpoint untouched.",
		uses:    usesManagement,
		examples: []example{
			{"Exempt the pods labelled app=agent.", "berth aks pod-identity exception add -g G --cluster-name C --namespace my-app --name agent --pod-labels app=agent"},
		},
		flags: func(f *flagSet) runFunc {
			o := podIdentityExceptionFlags(f)
			return func(c *call) (any, error) { return c.m.AddPodIdentityException(c.ctx, *o) }
		},
	},
	{
		words:   "aks pod-identity exception update",
		summary: "Replace an exception's pod labels.",
		uses:    usesManagement,
		examples: []example{
			{"Exempt the pods labelled app=agent and tier=node instead.", "berth aks pod-identity exception update -g G --cluster-name C --namespace my-app --name agent --pod-labels app=agent tier=node"},
		},
		flags: func(f *flagSet) runFunc {
			o := podIdentityExceptionFlags(f)
			return func(c *call) (any, error) { return c.m.UpdatePodIdentityException(c.ctx, *o) }
		},
	},
	{
		words:   "aks pod-identity exception delete",
		summary: "Remove an exception, and its AzurePodIdentityException from the cluster.",
		uses:    usesManagement,
		examples: []example{
			{"Remove an exception.", "berth aks pod-identity exception delete -g G --cluster-name C --namespace my-app --name agent"},
		},
		flags: func(f *flagSet) runFunc {
			var t cli.PodIdentityCluster
			podIdentityTarget(f, &t)
			namespace := f.String("namespace", "The exception's namespace.", required)
			name := f.String("name n", "The exception's name.", required)
			return func(c *call) (any, error) { return c.m.DeletePodIdentityException(c.ctx, t, *namespace, *name) }
		},
	},
	{
		words:   "aks pod-identity exception list",
		summary: "Show the cluster, with its pod identity exceptions, as the cloud CLI does.",
		uses:    usesManagement,
		examples: []example{
			{"The exceptions.", "berth aks pod-identity exception list -g G --cluster-name C --query podIdentityProfile.userAssignedIdentityExceptions"},
		},
		flags: func(f *flagSet) runFunc {
			group := f.String("resource-group g", "The resource group.", required)
			cluster := f.String("cluster-name", "The cluster's name.", required)
			return func(c *call) (any, error) { return c.m.ShowCluster(c.ctx, *cluster, *group) }
		},
	},
	{
		words:   "aks show",
		summary: "Show a cluster.",
		uses:    usesManagement,
		examples: []example{
			{"The client id a cluster's nodes pull as.", "berth aks show -g G -n C --query servicePrincipalProfile.clientId -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The cluster's name.")
			return func(c *call) (any, error) { return c.m.ShowCluster(c.ctx, *name, *group) }
		},
	},
	{
		words:   "aks delete",
		summary: "Delete a cluster.",
		uses:    usesManagement,
		examples: []example{
			{"Delete a cluster without the question.", "berth aks delete -g G -n C --yes"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The cluster's name.")
			yes := yesFlag(f)
			return func(c *call) (any, error) {
				if err := confirm(c, *yes); err != nil {
					return nil, err
				}
				return nil, c.m.DeleteCluster(c.ctx, *name, *group)
			}
		},
	},
	{
		words:   "aks update-credentials",
		summary: "Move a cluster to another service principal.",
		more: "A cluster that runs as managed identities takes no secret: its nodes act as the application through the kubelet identity, " +
			"whose tokens for api://AzureADTokenExchange a federated credential of the application must trust (issuer: the tenant's own v2.0 issuer, " +
			"subject: the kubelet identity's object id). --service-principal msi makes them pull as the kubelet identity itself again.",
		uses: usesManagement,
		examples: []example{
			{"Move a cluster to another service principal.", "berth aks update-credentials -g G -n C --reset-service-principal --service-principal APP_ID --client-secret SECRET"},
			{"Make a managed identity cluster's nodes act as an application that trusts the kubelet identity.", "berth aks update-credentials -g G -n C --reset-service-principal --service-principal APP_ID"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The cluster's name.")
			reset := f.Bool("reset-service-principal", "Reset the service principal (the only credential berth resets).", required)
			f.check(func() error {
				if !*reset {
					return errors.New("berth aks update-credentials: give --reset-service-principal (berth resets no other credential)")
				}
				return nil
			})
			sp := f.String("service-principal", "The application (client) id.", required)
			secret := f.String("client-secret", "Its secret, checked in the cluster's tenant and not kept (a cluster with a service principal only).")
			return func(c *call) (any, error) {
				return c.m.ResetClusterServicePrincipal(c.ctx, *name, *group, *sp, *secret)
			}
		},
	},
	{
		words:   "aks get-node-config",
		summary: "Write the node file the cluster's nodes' credential provider reads (berth credential-provider).",
		more:    "The cloud's azure.json keys plus berth's address, CA and registry suffix, mode 0600. Copy it to every node; it is read at each pull.",
		uses:    usesManagement,
		examples: []example{
			{"The node file of a service principal cluster.", "AAD_CLIENT_SECRET=$SECRET berth aks get-node-config -g G -n C --file azure.json"},
			{"The node file of a cluster whose nodes act as an application consented in another tenant.", "berth aks get-node-config -g G -n C --registry-tenant TENANT_B --file azure.json"},
		},
		flags: func(f *flagSet) runFunc {
			var o cli.NodeConfigOptions
			f.StringVar(&o.Name, "name n", "The cluster's name.", required)
			f.StringVar(&o.Group, "resource-group g", "The resource group.", required)
			f.StringVar(&o.File, "file", "Where to write the node file (mode 0600).", required)
			f.StringVar(&o.ClientSecret, "client-secret", "The service principal's secret.", fromEnv("AAD_CLIENT_SECRET"))
			f.StringVar(&o.RegistryTenant, "registry-tenant", "For nodes that act as an application through the kubelet identity: the tenant id of the registries, where the application was consented (default: the cluster's).")
			return func(c *call) (any, error) { return c.m.WriteNodeConfig(c.ctx, o) }
		},
	},
}

// kubeconfigFlag is --kubeconfig, the cluster's API server.
func kubeconfigFlag(f *flagSet, p *string) {
	f.StringVar(p, "kubeconfig", "The kubeconfig whose current context is the cluster's API server (default: KUBECONFIG, else ~/.kube/config).")
}

// podIdentityTarget is the cluster flags of the pod identity commands.
func podIdentityTarget(f *flagSet, t *cli.PodIdentityCluster) {
	f.StringVar(&t.Group, "resource-group g", "The resource group.", required)
	f.StringVar(&t.Name, "cluster-name", "The cluster's name.", required)
	kubeconfigFlag(f, &t.Kubeconfig)
}

// podIdentityExceptionFlags are the flags of exception add and update.
func podIdentityExceptionFlags(f *flagSet) *cli.PodIdentityException {
	o := new(cli.PodIdentityException)
	podIdentityTarget(f, &o.PodIdentityCluster)
	f.StringVar(&o.Namespace, "namespace", "The pods' namespace.", required)
	f.StringVar(&o.Name, "name n", "The exception's name.", required)
	labels := f.List("pod-labels", "The pod labels, KEY=VALUE, separated by spaces: a pod with any of them is exempt.", required)
	f.check(func() error {
		var err error
		o.PodLabels, err = cli.ParseLabels(*labels)
		return err
	})
	return o
}
