package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/berthhq/berth/internal/cli"
)

const acrUsage = `usage:
  berth acr create --name NAME --resource-group GROUP [--sku Basic] [--admin-enabled [true|false]] [--location LOCATION]
  berth acr show --name NAME [--resource-group GROUP]
  berth acr list [--resource-group GROUP]
  berth acr delete --name NAME [--resource-group GROUP] [--yes]
(--name is also -n, --resource-group -g, --location -l)
`

// acr is "berth acr": registries as resources of the control plane.
func acr(args []string, stdout, stderr io.Writer) error {
	name, args := words(args)
	var out outputFlags
	fs := flag.NewFlagSet("berth acr "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out.register(fs)
	var o cli.RegistryCreate
	var yes bool
	switch name {
	case "create", "show", "delete":
		stringFlag(fs, &o.Name, "the registry's name", "name", "n")
	case "list":
	default:
		fmt.Fprint(stderr, acrUsage)
		return errUsage
	}
	stringFlag(fs, &o.Group, "the resource group (default for show and delete: found in the subscription)", "resource-group", "g")
	switch name {
	case "create":
		stringFlag(fs, &o.Location, "the location (default: the resource group's)", "location", "l")
		fs.StringVar(&o.SKU, "sku", "Basic", "the registry's SKU")
		fs.BoolVar(&o.AdminEnabled, "admin-enabled", false, "enable the admin user")
	case "delete":
		fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
		fs.BoolVar(&yes, "y", false, "shorthand for --yes")
	}
	if err := parseAz(fs, args); err != nil {
		return err
	}
	if name != "list" {
		if err := required("berth acr "+name, "name", o.Name); err != nil {
			return err
		}
	}
	if name == "create" {
		if err := required("berth acr create", "resource-group", o.Group); err != nil {
			return err
		}
	}
	ctx, stop := signalContext()
	defer stop()
	m, err := cli.NewManagement()
	if err != nil {
		return err
	}
	var v any
	switch name {
	case "create":
		v, err = m.CreateRegistry(ctx, o)
	case "show":
		v, err = m.ShowRegistry(ctx, o.Name, o.Group)
	case "list":
		v, err = m.ListRegistries(ctx, o.Group)
	case "delete":
		if err := confirm(stderr, yes); err != nil {
			return err
		}
		return m.DeleteRegistry(ctx, o.Name, o.Group)
	}
	if err != nil {
		return err
	}
	return out.print(stdout, v)
}
