package main

import "github.com/berthhq/berth/internal/cli"

// User-assigned managed identities.
var identityCommands = []command{
	{words: "identity", summary: "Manage user-assigned managed identities."},
	{
		words:   "identity create",
		summary: "Create a user-assigned identity, with its service principal.",
		uses:    usesManagement,
		examples: []example{
			{"A user-assigned identity.", "berth identity create -g G -n puller"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The identity's name.")
			location := f.String("location l", "The location (default: the resource group's).")
			return func(c *call) (any, error) { return c.m.CreateIdentity(c.ctx, *name, *group, *location) }
		},
	},
	{
		words:   "identity show",
		summary: "Show a user-assigned identity.",
		uses:    usesManagement,
		examples: []example{
			{"An identity's client id.", "berth identity show -g G -n puller --query clientId -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The identity's name.")
			return func(c *call) (any, error) { return c.m.ShowIdentity(c.ctx, *name, *group) }
		},
	},
	{
		words:   "identity list",
		summary: "List the user-assigned identities of the subscription or of a resource group.",
		uses:    usesManagement,
		examples: []example{
			{"The identities of a resource group.", "berth identity list -g G -o table"},
		},
		flags: func(f *flagSet) runFunc {
			group := f.String("resource-group g", "Only those of this resource group.")
			return func(c *call) (any, error) { return c.m.ListIdentities(c.ctx, *group) }
		},
	},
	{
		words:   "identity delete",
		summary: "Delete a user-assigned identity.",
		uses:    usesManagement,
		examples: []example{
			{"Delete an identity.", "berth identity delete -g G -n puller"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The identity's name.")
			return func(c *call) (any, error) { return nil, c.m.DeleteIdentity(c.ctx, *name, *group) }
		},
	},
	{words: "identity federated-credential", summary: "Manage a user-assigned identity's federated identity credentials: other issuers' tokens it trusts."},
	{
		words:   "identity federated-credential create",
		summary: "Trust another issuer's tokens for a subject as the identity's credential.",
		more:    "At most 20 per identity. The audience is api://AzureADTokenExchange unless given.",
		uses:    usesManagement,
		examples: []example{
			{"Let a Kubernetes service account's pods act as the identity.",
				"berth identity federated-credential create -g G --identity-name pods --name kube --issuer $ISSUER --subject system:serviceaccount:NAMESPACE:ACCOUNT"},
		},
		flags: func(f *flagSet) runFunc {
			in := identityFederatedFlags(f)
			return func(c *call) (any, error) { return c.m.CreateIdentityFederatedCredential(c.ctx, *in) }
		},
	},
	{
		words:   "identity federated-credential update",
		summary: "Change a federated identity credential's issuer, subject or audiences.",
		uses:    usesManagement,
		examples: []example{
			{"Trust another service account instead.", "berth identity federated-credential update -g G --identity-name pods --name kube --subject system:serviceaccount:NAMESPACE:OTHER"},
		},
		flags: func(f *flagSet) runFunc {
			in := identityFederatedFlags(f)
			return func(c *call) (any, error) { return c.m.UpdateIdentityFederatedCredential(c.ctx, *in) }
		},
	},
	{
		words:   "identity federated-credential list",
		summary: "List a user-assigned identity's federated identity credentials.",
		uses:    usesManagement,
		examples: []example{
			{"The subjects an identity trusts.", "berth identity federated-credential list -g G --identity-name pods --query \"[].subject\" -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			identity := f.String("identity-name", "The identity's name.", required)
			group := f.String("resource-group g", "The resource group.", required)
			return func(c *call) (any, error) { return c.m.ListIdentityFederatedCredentials(c.ctx, *identity, *group) }
		},
	},
	{
		words:   "identity federated-credential show",
		summary: "Show one of a user-assigned identity's federated identity credentials.",
		uses:    usesManagement,
		examples: []example{
			{"One credential's issuer.", "berth identity federated-credential show -g G --identity-name pods --name kube --query issuer -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			identity, group, name := identityFederatedName(f)
			return func(c *call) (any, error) {
				return c.m.ShowIdentityFederatedCredential(c.ctx, *identity, *group, *name)
			}
		},
	},
	{
		words:   "identity federated-credential delete",
		summary: "Delete one of a user-assigned identity's federated identity credentials.",
		uses:    usesManagement,
		examples: []example{
			{"Stop trusting a service account's tokens.", "berth identity federated-credential delete -g G --identity-name pods --name kube --yes"},
		},
		flags: func(f *flagSet) runFunc {
			identity, group, name := identityFederatedName(f)
			yes := yesFlag(f)
			return func(c *call) (any, error) {
				if err := confirm(c, *yes); err != nil {
					return nil, err
				}
				return nil, c.m.DeleteIdentityFederatedCredential(c.ctx, *identity, *group, *name)
			}
		},
	},
}

// identityFederatedName is --identity-name, --resource-group and --name,
// all required: one federated credential.
func identityFederatedName(f *flagSet) (identity, group, name *string) {
	identity = f.String("identity-name", "The identity's name.", required)
	group = f.String("resource-group g", "The resource group.", required)
	name = f.String("name n", "The federated credential's name.", required)
	return identity, group, name
}

// identityFederatedFlags are the flags of create and update.
func identityFederatedFlags(f *flagSet) *cli.IdentityFederatedCredential {
	in := new(cli.IdentityFederatedCredential)
	f.StringVar(&in.Identity, "identity-name", "The identity's name.", required)
	f.StringVar(&in.Group, "resource-group g", "The resource group.", required)
	f.StringVar(&in.Name, "name n", "The federated credential's name: 3 to 120 letters, digits, '-' and '_'.", required)
	f.StringVar(&in.Issuer, "issuer", "The issuer's URL, https, exactly as its tokens' iss claim.")
	f.StringVar(&in.Subject, "subject", "The subject, exactly as the tokens' sub claim (system:serviceaccount:NAMESPACE:ACCOUNT for a Kubernetes service account).")
	f.ListVar(&in.Audiences, "audiences audience", "The audiences the tokens carry (default api://AzureADTokenExchange).")
	return in
}

// nameAndGroup is --name and --resource-group of the commands on one
// resource, both required.
func nameAndGroup(f *flagSet, nameHelp string) (name, group *string) {
	return f.String("name n", nameHelp, required), f.String("resource-group g", "The resource group.", required)
}
