package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/berthhq/berth/internal/cli"
)

const vmUsage = `usage:
  berth vm create --name NAME --resource-group GROUP [--image IMAGE] [--size SIZE] [--location LOCATION]
                  [--assign-identity [ID...]] [--credential-file FILE]
  berth vm show --name NAME --resource-group GROUP
  berth vm delete --name NAME --resource-group GROUP [--yes]
  berth vm credential reset --name NAME --resource-group GROUP --credential-file FILE
  berth vm identity assign --name NAME --resource-group GROUP [--identities ID...]
  berth vm identity remove --name NAME --resource-group GROUP [--identities ID...]
  berth vm identity show --name NAME --resource-group GROUP
(--name is also -n, --resource-group -g, --location -l; --assign-identity alone
assigns the system identity, with ids those user-assigned identities, "[system]"
among them the system one too; --identities likewise, and without it assign and
remove act on the system identity)
`

// vm is "berth vm": virtual machines, the records of machines that run
// berth's metadata agent, and their identities.
func vm(args []string, stdout, stderr io.Writer) error {
	name, args := words(args)
	var out outputFlags
	fs := flag.NewFlagSet("berth vm "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out.register(fs)
	o := cli.VMCreate{}
	var ids listFlag
	var yes bool
	switch name {
	case "create", "show", "delete", "credential reset", "identity assign", "identity remove", "identity show":
	default:
		fmt.Fprint(stderr, vmUsage)
		return errUsage
	}
	stringFlag(fs, &o.Name, "the machine's name", "name", "n")
	stringFlag(fs, &o.Group, "the resource group", "resource-group", "g")
	switch name {
	case "create":
		stringFlag(fs, &o.Location, "the location (default: the resource group's)", "location", "l")
		fs.StringVar(&o.Image, "image", "", "the image: publisher:offer:sku:version, an image's resource id, or an alias (Ubuntu2204, Ubuntu2404, Debian12)")
		fs.StringVar(&o.Size, "size", "Standard_DS1_v2", "the machine's size")
		fs.StringVar(&o.CredentialFile, "credential-file", "", "where to write the machine credential for berth imds (default: ./NAME.credential.json)")
		o.AssignIdentity, o.Identities, args = optionalList(args, "assign-identity")
	case "credential reset":
		fs.StringVar(&o.CredentialFile, "credential-file", "", "where to write the new machine credential for berth imds")
	case "identity assign", "identity remove":
		fs.Var(&ids, "identities", "user-assigned identities' resource ids (\"[system]\" for the system identity)")
	case "delete":
		fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
		fs.BoolVar(&yes, "y", false, "shorthand for --yes")
	}
	if err := parseAz(fs, args, "identities"); err != nil {
		return err
	}
	if err := required("berth vm "+name, "name", o.Name, "resource-group", o.Group); err != nil {
		return err
	}
	if name == "credential reset" {
		if err := required("berth vm credential reset", "credential-file", o.CredentialFile); err != nil {
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
		v, err = m.CreateVM(ctx, o)
	case "show":
		v, err = m.ShowVM(ctx, o.Name, o.Group)
	case "delete":
		if err := confirm(stderr, yes); err != nil {
			return err
		}
		return m.DeleteVM(ctx, o.Name, o.Group)
	case "credential reset":
		v, err = m.ResetVMCredential(ctx, o.Name, o.Group, o.CredentialFile)
	case "identity assign":
		v, err = m.AssignVMIdentity(ctx, o.Name, o.Group, ids)
	case "identity remove":
		v, err = m.RemoveVMIdentity(ctx, o.Name, o.Group, ids)
	case "identity show":
		v, err = m.ShowVMIdentity(ctx, o.Name, o.Group)
	}
	if err != nil {
		return err
	}
	return out.print(stdout, v)
}

// optionalList takes --flag out of args with the bare words after it: the
// cloud CLI's flags that mean something alone and take values too
// (--assign-identity, or --assign-identity ID...), which Go's flag
// package cannot express.
func optionalList(args []string, name string) (present bool, values, rest []string) {
	for i := 0; i < len(args); i++ {
		if strings.TrimLeft(args[i], "-") != name || !strings.HasPrefix(args[i], "-") {
			rest = append(rest, args[i])
			continue
		}
		present = true
		for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			values, i = append(values, args[i+1]), i+1
		}
	}
	return present, values, rest
}
