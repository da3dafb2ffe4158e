package main

import (
	"github.com/berthhq/berth/internal/cli"
	"github.com/berthhq/berth/internal/server"
)

var accountCommands = []command{
	{
		words:   "login",
		summary: "Log in: as the local server's bootstrap administrator, a service principal, or a managed identity.",
		examples: []example{
			{"Log in as the bootstrap administrator of the server on this machine.", "berth login"},
			{"Log in as a service principal.", "berth login --service-principal -u APP_ID -p SECRET --tenant TENANT --server https://berth.example:8443 --ca-file ca.crt"},
			{"Log in on a machine as its managed identity.", "BERTH_SERVER=https://berth.example:8443 berth login --identity"},
			{"Log in in a pod as its workload identity, with the projected service account token.",
				"berth login --service-principal -u $AZURE_CLIENT_ID --tenant $AZURE_TENANT_ID --federated-token \"$(cat $AZURE_FEDERATED_TOKEN_FILE)\""},
			{"Log in on a machine as another tenant's application that trusts the machine's managed identity.",
				"berth login --service-principal -u APP_ID --tenant TENANT_B --federated-token-from-identity MI_CLIENT_ID"},
		},
		flags: func(f *flagSet) runFunc {
			o := cli.LoginOptions{DataDir: server.DefaultDataDir()}
			f.BoolVar(&o.ServicePrincipal, "service-principal", "Log in as a service principal (--username APP_ID --password SECRET --tenant TENANT, or --federated-token TOKEN or --federated-token-from-identity MI_CLIENT_ID for the password).")
			f.BoolVar(&o.Identity, "identity", "Log in as the machine's managed identity, with tokens from its metadata endpoint (berth imds).")
			f.StringVar(&o.Username, "username u", "The service principal's application (client) id; with --identity, the identity's client id, object id or resource id (default: the system-assigned identity).")
			f.StringVar(&o.Password, "password p", "The service principal's client secret.")
			f.StringVar(&o.FederatedToken, "federated-token", "Instead of a secret: a token of another issuer (a service account token) that a federated credential of the application or user-assigned identity (--username) trusts. Kept to renew tokens with until it expires.")
			f.StringVar(&o.FederatedTokenFromIdentity, "federated-token-from-identity", "Instead of a secret: the machine's managed identity (client id, object id or resource id) whose token for api://AzureADTokenExchange, from its metadata endpoint, a federated credential of the application trusts. Fetched anew for each token, never kept.")
			f.StringVar(&o.Tenant, "tenant t", "The tenant id or domain.")
			f.StringVar(&o.DataDir, "data-dir", "The local server's data directory, for the bootstrap login and its CA.")
			return func(c *call) (any, error) {
				o.Server, o.CAFile = c.endpoint.Server, c.endpoint.CAFile
				return cli.Login(c.ctx, o)
			}
		},
	},
	{
		words:   "logout",
		summary: "Log out: forget the login and its tokens.",
		examples: []example{
			{"Forget the login.", "berth logout"},
		},
		run: func(*call) (any, error) { return nil, cli.Logout() },
	},
	{words: "account", summary: "Manage the login's subscriptions and tokens."},
	{
		words:   "account show",
		summary: "Show the current subscription's account.",
		uses:    usesLogin,
		examples: []example{
			{"The current tenant's id.", "berth account show --query tenantId -o tsv"},
		},
		run: func(c *call) (any, error) { return c.p.ShowAccount(), nil },
	},
	{
		words:   "account list",
		summary: "List the subscriptions of the login.",
		uses:    usesLogin,
		examples: []example{
			{"The login's subscriptions, fetched anew.", "berth account list --refresh -o table"},
		},
		flags: func(f *flagSet) runFunc {
			refresh := f.Bool("refresh", "Fetch the subscriptions anew.")
			return func(c *call) (any, error) { return c.p.ListAccounts(c.ctx, *refresh) }
		},
	},
	{
		words:   "account set",
		summary: "Make a subscription the current one.",
		uses:    usesLogin,
		examples: []example{
			{"Work in another subscription.", "berth account set --subscription SUBSCRIPTION_ID"},
		},
		flags: func(f *flagSet) runFunc {
			sub := f.String("subscription s", "The subscription's id or name.", required)
			return func(c *call) (any, error) { return nil, c.p.SetSubscription(*sub) }
		},
	},
	{
		words:   "account get-access-token",
		summary: "Get a token for a resource as the login.",
		uses:    usesLogin,
		examples: []example{
			{"Get a token for the registries' audience.", "berth account get-access-token --resource https://containerregistry.azure.net --query accessToken -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			resource := cli.ManagementResource
			f.StringVar(&resource, "resource", "The resource (audience) of the token.")
			return func(c *call) (any, error) { return c.p.AccessToken(c.ctx, resource) }
		},
	},
}
