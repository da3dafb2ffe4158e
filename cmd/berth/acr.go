package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/berthhq/berth/internal/cli"
)

const acrUsage = `usage:
  berth acr create --name NAME --resource-group GROUP [--sku Basic] [--admin-enabled [true|false]] [--location LOCATION]
  berth acr show --name NAME [--resource-group GROUP]
  berth acr list [--resource-group GROUP]
  berth acr update --name NAME [--resource-group GROUP] [--admin-enabled true|false] [--anonymous-pull-enabled true|false]
  berth acr delete --name NAME [--resource-group GROUP] [--yes]
  berth acr credential show --name NAME [--resource-group GROUP]
  berth acr credential renew --name NAME --password-name password|password2 [--resource-group GROUP]
  berth acr login --name NAME [--expose-token]
  berth acr pull-secret --name NAME --username USER --password PASSWORD [--secret-name acr-auth] [--namespace NS] [--email EMAIL] [-o yaml|json]
(--name is also -n, --resource-group -g, --location -l, --username -u, --password -p)
`

// optionalBool is a flag that remembers whether it was given.
type optionalBool struct{ v *bool }

func (o *optionalBool) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.FormatBool(*o.v)
}

func (o *optionalBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	o.v = &b
	return nil
}

// acr is "berth acr": registries as resources of the control plane, their
// admin credentials, and logging in to them.
func acr(args []string, stdout, stderr io.Writer) error {
	name, args := words(args)
	var out outputFlags
	fs := flag.NewFlagSet("berth acr "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o cli.RegistryCreate
	var yes, exposeToken bool
	var adminEnabled, anonymousPull optionalBool
	var passwordName string
	var ps cli.PullSecretOptions
	switch name {
	case "create", "show", "delete", "update", "credential show", "credential renew", "login", "pull-secret":
		stringFlag(fs, &o.Name, "the registry's name", "name", "n")
	case "list":
	default:
		fmt.Fprint(stderr, acrUsage)
		return errUsage
	}
	if name != "pull-secret" {
		out.register(fs)
	}
	if name != "login" && name != "pull-secret" {
		stringFlag(fs, &o.Group, "the resource group (default except for create: found in the subscription)", "resource-group", "g")
	}
	switch name {
	case "create":
		stringFlag(fs, &o.Location, "the location (default: the resource group's)", "location", "l")
		fs.StringVar(&o.SKU, "sku", "Basic", "the registry's SKU")
		fs.BoolVar(&o.AdminEnabled, "admin-enabled", false, "enable the admin user")
	case "update":
		fs.Var(&adminEnabled, "admin-enabled", "enable (true) or disable (false) the admin user")
		fs.Var(&anonymousPull, "anonymous-pull-enabled", "allow (true) or refuse (false) pulls without credentials")
	case "delete":
		fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
		fs.BoolVar(&yes, "y", false, "shorthand for --yes")
	case "credential renew":
		fs.StringVar(&passwordName, "password-name", "", "the password to renew: password or password2")
	case "login":
		fs.BoolVar(&exposeToken, "expose-token", false, "print the registry's refresh token instead of writing the docker configuration")
	case "pull-secret":
		fs.StringVar(&ps.Name, "secret-name", "acr-auth", "the Secret's name")
		fs.StringVar(&ps.Namespace, "namespace", "", "the Secret's namespace")
		stringFlag(fs, &ps.Username, "the user name the cluster pulls with (a service principal's application id)", "username", "u")
		stringFlag(fs, &ps.Password, "its password", "password", "p")
		fs.StringVar(&ps.Email, "email", "", "an email address for the docker configuration entry")
		for _, n := range []string{"output", "o"} {
			fs.StringVar(&out.format, n, "yaml", "output format: yaml or json")
		}
	}
	if err := parseAz(fs, args); err != nil {
		return err
	}
	if name != "list" {
		if err := required("berth acr "+name, "name", o.Name); err != nil {
			return err
		}
	}
	switch name {
	case "create":
		if err := required("berth acr create", "resource-group", o.Group); err != nil {
			return err
		}
	case "credential renew":
		if err := required("berth acr credential renew", "password-name", passwordName); err != nil {
			return err
		}
	case "pull-secret":
		if err := required("berth acr pull-secret", "username", ps.Username, "password", ps.Password); err != nil {
			return err
		}
		if out.format != "yaml" && out.format != "json" {
			return fmt.Errorf("berth acr pull-secret: --output must be yaml or json, not %q", out.format)
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
		v, err = m.CreateRegistry(ctx, o)
	case "show":
		v, err = m.ShowRegistry(ctx, o.Name, o.Group)
	case "list":
		v, err = m.ListRegistries(ctx, o.Group)
	case "update":
		v, err = m.UpdateRegistry(ctx, cli.RegistryUpdate{Name: o.Name, Group: o.Group, AdminEnabled: adminEnabled.v, AnonymousPullEnabled: anonymousPull.v})
	case "delete":
		if err := confirm(stderr, yes); err != nil {
			return err
		}
		return m.DeleteRegistry(ctx, o.Name, o.Group)
	case "credential show":
		v, err = m.ShowRegistryCredentials(ctx, o.Name, o.Group)
	case "credential renew":
		v, err = m.RenewRegistryCredential(ctx, o.Name, o.Group, passwordName)
	case "login":
		l, err := m.LoginRegistry(ctx, o.Name)
		if err != nil {
			return err
		}
		if exposeToken {
			return out.print(stdout, map[string]any{"accessToken": l.RefreshToken, "loginServer": l.LoginServer})
		}
		if err := cli.WriteDockerAuth(l.Address, l.RefreshToken); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "Login Succeeded")
		return nil
	case "pull-secret":
		reg, err := m.ShowRegistry(ctx, o.Name, "")
		if err != nil {
			return err
		}
		if ps.Server, err = m.RegistryAddress(reg); err != nil {
			return err
		}
		return cli.WritePullSecret(stdout, ps, out.format == "json")
	}
	if err != nil {
		return err
	}
	return out.print(stdout, v)
}
