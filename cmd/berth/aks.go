package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/berthhq/berth/internal/cli"
)

const aksUsage = `usage:
  berth aks create --name NAME --resource-group GROUP
                   (--service-principal APP_ID --client-secret SECRET | --enable-managed-identity)
                   [--node-count N] [--kubernetes-version V] [--dns-name-prefix P] [--location LOCATION]
  berth aks show --name NAME --resource-group GROUP
  berth aks delete --name NAME --resource-group GROUP [--yes]
  berth aks update-credentials --name NAME --resource-group GROUP --reset-service-principal
                   --service-principal APP_ID --client-secret SECRET
  berth aks get-node-config --name NAME --resource-group GROUP --file FILE
                   [--client-secret SECRET]
(--name is also -n, --resource-group -g, --location -l; get-node-config reads the
service principal's secret from AAD_CLIENT_SECRET when --client-secret is not given)
`

// aks is "berth aks": Kubernetes clusters' records, their credentials,
// and the node file their nodes' credential provider reads.
func aks(args []string, stdout, stderr io.Writer) error {
	name, args := words(args)
	var out outputFlags
	fs := flag.NewFlagSet("berth aks "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out.register(fs)
	var o cli.ClusterCreate
	var nc cli.NodeConfigOptions
	var yes, reset bool
	switch name {
	case "create", "show", "delete", "update-credentials", "get-node-config":
	default:
		fmt.Fprint(stderr, aksUsage)
		return errUsage
	}
	stringFlag(fs, &o.Name, "the cluster's name", "name", "n")
	stringFlag(fs, &o.Group, "the resource group", "resource-group", "g")
	switch name {
	case "create":
		stringFlag(fs, &o.Location, "the location (default: the resource group's)", "location", "l")
		fs.StringVar(&o.ServicePrincipal, "service-principal", "", "the application (client) id the nodes authenticate as")
		fs.StringVar(&o.ClientSecret, "client-secret", "", "its secret, checked and not kept")
		fs.BoolVar(&o.ManagedIdentity, "enable-managed-identity", false, "run as managed identities: a system-assigned one and a kubelet identity")
		fs.IntVar(&o.NodeCount, "node-count", 3, "the number of nodes")
		fs.StringVar(&o.KubernetesVersion, "kubernetes-version", "", "the Kubernetes version")
		fs.StringVar(&o.DNSPrefix, "dns-name-prefix", "", "the API server's DNS prefix (default: the name)")
	case "update-credentials":
		fs.BoolVar(&reset, "reset-service-principal", false, "reset the service principal (the only credential berth resets)")
		fs.StringVar(&o.ServicePrincipal, "service-principal", "", "the application (client) id")
		fs.StringVar(&o.ClientSecret, "client-secret", "", "its secret")
	case "get-node-config":
		fs.StringVar(&nc.File, "file", "", "where to write the node file (mode 0600)")
		fs.StringVar(&nc.ClientSecret, "client-secret", "", "the service principal's secret (default: $AAD_CLIENT_SECRET)")
	case "delete":
		fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
		fs.BoolVar(&yes, "y", false, "shorthand for --yes")
	}
	if err := parseAz(fs, args); err != nil {
		return err
	}
	if err := required("berth aks "+name, "name", o.Name, "resource-group", o.Group); err != nil {
		return err
	}
	switch name {
	case "update-credentials":
		if !reset {
			return errors.New("berth aks update-credentials: give --reset-service-principal (berth resets no other credential)")
		}
		if err := required("berth aks update-credentials", "service-principal", o.ServicePrincipal, "client-secret", o.ClientSecret); err != nil {
			return err
		}
	case "get-node-config":
		if err := required("berth aks get-node-config", "file", nc.File); err != nil {
			return err
		}
		if nc.ClientSecret == "" {
			nc.ClientSecret = os.Getenv("AAD_CLIENT_SECRET")
		}
	}
	ctx, stop := signalContext()
	defer stop()
	m, err := loadManagement()
	if err != nil {
		return err
	}
	var v any
	switch name {
	case "create":
		v, err = m.CreateCluster(ctx, o)
	case "show":
		v, err = m.ShowCluster(ctx, o.Name, o.Group)
	case "delete":
		if err := confirm(stderr, yes); err != nil {
			return err
		}
		return m.DeleteCluster(ctx, o.Name, o.Group)
	case "update-credentials":
		v, err = m.ResetClusterServicePrincipal(ctx, o.Name, o.Group, o.ServicePrincipal, o.ClientSecret)
	case "get-node-config":
		nc.Name, nc.Group = o.Name, o.Group
		v, err = m.WriteNodeConfig(ctx, nc)
	}
	if err != nil {
		return err
	}
	return out.print(stdout, v)
}
