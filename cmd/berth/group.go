package main

import (
	"flag"
	"fmt"
	"io"
)

const groupUsage = `usage:
  berth group create --name NAME --location LOCATION
  berth group show --name NAME
  berth group list
  berth group delete --name NAME [--yes]
(--name is also -n, --resource-group and -g)
`

// group is "berth group": resource groups in the current subscription.
func group(args []string, stdout, stderr io.Writer) error {
	name, args := words(args)
	var out outputFlags
	fs := flag.NewFlagSet("berth group "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out.register(fs)
	var rg, location string
	var yes bool
	switch name {
	case "create", "show", "delete":
		stringFlag(fs, &rg, "the resource group's name", "name", "n", "resource-group", "g")
	case "list":
	default:
		fmt.Fprint(stderr, groupUsage)
		return errUsage
	}
	switch name {
	case "create":
		stringFlag(fs, &location, "the resource group's location", "location", "l")
	case "delete":
		fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
		fs.BoolVar(&yes, "y", false, "shorthand for --yes")
	}
	if err := parseAz(fs, args); err != nil {
		return err
	}
	if name != "list" {
		if err := required("berth group "+name, "name", rg); err != nil {
			return err
		}
	}
	if name == "create" {
		if err := required("berth group create", "location", location); err != nil {
			return err
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
		v, err = m.CreateGroup(ctx, rg, location)
	case "show":
		v, err = m.ShowGroup(ctx, rg)
	case "list":
		v, err = m.ListGroups(ctx)
	case "delete":
		if err := confirm(stderr, yes); err != nil {
			return err
		}
		return m.DeleteGroup(ctx, rg)
	}
	if err != nil {
		return err
	}
	return out.print(stdout, v)
}
