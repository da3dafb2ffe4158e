package main

import (
	"fmt"
	"slices"

	"github.com/berthhq/berth/internal/cli"
)

// The acr commands: registries' and their repositories'.
var acrCommands = slices.Concat(acrRegistryCommands, acrRepositoryCommands)

// Registries as resources of the control plane, their admin credentials,
// and logging in to them.
var acrRegistryCommands = []command{
	{words: "acr", summary: "Manage container registries."},
	{
		words:   "acr create",
		summary: "Create a container registry.",
		uses:    usesManagement,
		examples: []example{
			{"A registry with the admin user enabled.", "berth acr create -n myregistry -g G --admin-enabled true"},
		},
		flags: func(f *flagSet) runFunc {
			o := cli.RegistryCreate{SKU: "Basic"}
			f.StringVar(&o.Name, "name n", "The registry's name.", required)
			f.StringVar(&o.Group, "resource-group g", "The resource group.", required)
			f.StringVar(&o.Location, "location l", "The location (default: the resource group's).")
			f.StringVar(&o.SKU, "sku", "The registry's SKU.")
			f.BoolVar(&o.AdminEnabled, "admin-enabled", "Enable the admin user.")
			return func(c *call) (any, error) { return c.m.CreateRegistry(c.ctx, o) }
		},
	},
	{
		words:   "acr show",
		summary: "Show a container registry.",
		uses:    usesManagement,
		examples: []example{
			{"A registry's login server.", "berth acr show -n default --query loginServer -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := registry(f)
			return func(c *call) (any, error) { return c.m.ShowRegistry(c.ctx, *name, *group) }
		},
	},
	{
		words:   "acr list",
		summary: "List the container registries of the subscription or of a resource group.",
		uses:    usesManagement,
		examples: []example{
			{"The subscription's registries.", "berth acr list -o table"},
		},
		flags: func(f *flagSet) runFunc {
			group := f.String("resource-group g", "Only those of this resource group.")
			return func(c *call) (any, error) { return c.m.ListRegistries(c.ctx, *group) }
		},
	},
	{
		words:   "acr update",
		summary: "Change a container registry's admin user or anonymous pull.",
		uses:    usesManagement,
		examples: []example{
			{"Allow pulls without credentials.", "berth acr update -n R --anonymous-pull-enabled true"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := registry(f)
			admin := f.OptionalBool("admin-enabled", "Enable (true) or disable (false) the admin user.")
			anonymous := f.OptionalBool("anonymous-pull-enabled", "Allow (true) or refuse (false) pulls without credentials.")
			return func(c *call) (any, error) {
				return c.m.UpdateRegistry(c.ctx, cli.RegistryUpdate{Name: *name, Group: *group, AdminEnabled: *admin, AnonymousPullEnabled: *anonymous})
			}
		},
	},
	{
		words:   "acr delete",
		summary: "Delete a container registry and its content.",
		uses:    usesManagement,
		examples: []example{
			{"Delete a registry without the question.", "berth acr delete -n R -g G --yes"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := registry(f)
			yes := yesFlag(f)
			return func(c *call) (any, error) {
				if err := confirm(c, *yes); err != nil {
					return nil, err
				}
				return nil, c.m.DeleteRegistry(c.ctx, *name, *group)
			}
		},
	},
	{words: "acr credential", summary: "Manage a registry's admin user credentials."},
	{
		words:   "acr credential show",
		summary: "Show the admin user's name and password names.",
		more:    "berth keeps only hashes of the passwords, so their values show as null: renew one to see it.",
		uses:    usesManagement,
		examples: []example{
			{"The admin user's name.", "berth acr credential show -n R --query username -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := registry(f)
			return func(c *call) (any, error) { return c.m.ShowRegistryCredentials(c.ctx, *name, *group) }
		},
	},
	{
		words:   "acr credential renew",
		summary: "Make a new admin user password and show it, this once.",
		uses:    usesManagement,
		examples: []example{
			{"A new first password, printed alone.", "berth acr credential renew -n R --password-name password --query 'passwords[0].value' -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := registry(f)
			password := f.String("password-name", "The password to renew: password or password2.", required)
			return func(c *call) (any, error) { return c.m.RenewRegistryCredential(c.ctx, *name, *group, *password) }
		},
	},
	{
		words:   "acr login",
		summary: "Log in to a registry: write a registry token to the docker configuration.",
		uses:    usesManagement,
		examples: []example{
			{"Log docker-style clients in to a registry.", "berth acr login -n default"},
			{"Print a registry refresh token instead.", "berth acr login -n default --expose-token --query accessToken -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			name := f.String("name n", "The registry's name.", required)
			expose := f.Bool("expose-token", "Print the registry's refresh token instead of writing the docker configuration.")
			return func(c *call) (any, error) {
				l, err := c.m.LoginRegistry(c.ctx, *name)
				if err != nil {
					return nil, err
				}
				if *expose {
					return map[string]any{"accessToken": l.RefreshToken, "loginServer": l.LoginServer}, nil
				}
				if err := cli.WriteDockerAuth(l.Address, l.RefreshToken); err != nil {
					return nil, err
				}
				fmt.Fprintln(c.stdout, "Login Succeeded")
				return nil, nil
			}
		},
	},
	{
		words:     "acr pull-secret",
		summary:   "Print the Kubernetes image pull secret for a registry, as kubectl create secret docker-registry would.",
		uses:      usesManagement,
		ownOutput: true,
		examples: []example{
			{"Apply a pull secret for a service principal.",
				"berth acr pull-secret -n myregistry -u APP_ID -p SECRET --namespace apps | kubectl apply -f -"},
		},
		flags: func(f *flagSet) runFunc {
			o := cli.PullSecretOptions{Name: "acr-auth"}
			name := f.String("name n", "The registry's name.", required)
			f.StringVar(&o.Name, "secret-name", "The Secret's name.")
			f.StringVar(&o.Namespace, "namespace", "The Secret's namespace.")
			f.StringVar(&o.Username, "username u", "The user name the cluster pulls with (a service principal's application id).", required)
			f.StringVar(&o.Password, "password p", "Its password.", required)
			f.StringVar(&o.Email, "email", "An email address for the docker configuration entry.")
			format := "yaml"
			f.StringVar(&format, "output o", "Output format: yaml or json.")
			f.check(func() error {
				if format != "yaml" && format != "json" {
					return fmt.Errorf("berth acr pull-secret: --output must be yaml or json, not %q", format)
				}
				return nil
			})
			return func(c *call) (any, error) {
				reg, err := c.m.ShowRegistry(c.ctx, *name, "")
				if err != nil {
					return nil, err
				}
				if o.Server, err = c.m.RegistryAddress(reg); err != nil {
					return nil, err
				}
				return nil, cli.WritePullSecret(c.stdout, o, format == "json")
			}
		},
	},
}

// registry is --name and --resource-group of the commands on one registry.
func registry(f *flagSet) (name, group *string) {
	return f.String("name n", "The registry's name.", required),
		f.String("resource-group g", "The resource group (default: found in the subscription).")
}
