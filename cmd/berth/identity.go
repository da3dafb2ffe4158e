package main

import (
	"flag"
	"fmt"
	"io"
)

const identityUsage = `usage:
  berth identity create --name NAME --resource-group GROUP [--location LOCATION]
  berth identity show --name NAME --resource-group GROUP
  berth identity list [--resource-group GROUP]
  berth identity delete --name NAME --resource-group GROUP
(--name is also -n, --resource-group -g, --location -l)
`

// identity is "berth identity": user-assigned managed identities.
func identity(args []string, stdout, stderr io.Writer) error {
	name, args := words(args)
	var out outputFlags
	fs := flag.NewFlagSet("berth identity "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out.register(fs)
	var id, rg, location string
	switch name {
	case "create", "show", "delete":
		stringFlag(fs, &id, "the identity's name", "name", "n")
	case "list":
	default:
		fmt.Fprint(stderr, identityUsage)
		return errUsage
	}
	stringFlag(fs, &rg, "the resource group", "resource-group", "g")
	if name == "create" {
		stringFlag(fs, &location, "the location (default: the resource group's)", "location", "l")
	}
	if err := parseAz(fs, args); err != nil {
		return err
	}
	if name != "list" {
		if err := required("berth identity "+name, "name", id, "resource-group", rg); err != nil {
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
		v, err = m.CreateIdentity(ctx, id, rg, location)
	case "show":
		v, err = m.ShowIdentity(ctx, id, rg)
	case "list":
		v, err = m.ListIdentities(ctx, rg)
	case "delete":
		return m.DeleteIdentity(ctx, id, rg)
	}
	if err != nil {
		return err
	}
	return out.print(stdout, v)
}
