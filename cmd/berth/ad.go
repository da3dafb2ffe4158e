package main

import (
	"errors"
	"strings"

	"github.com/berthhq/berth/internal/cli"
)

// The directory's applications, service principals and users, through the
// directory API as the logged-in principal.
var adCommands = []command{
	{words: "ad", summary: "Manage the directory's applications, service principals and users."},
	{words: "ad app", summary: "Manage applications."},
	{
		words:   "ad app create",
		summary: "Create an application.",
		uses:    usesDirectory,
		examples: []example{
			{"Create a multi-tenant application with a web redirect URI.",
				"berth ad app create --display-name puller --sign-in-audience AzureADMultipleOrgs --web-redirect-uris https://app.example/consented"},
		},
		flags: func(f *flagSet) runFunc {
			var o cli.AppCreate
			f.StringVar(&o.DisplayName, "display-name", "The application's display name.", required)
			f.StringVar(&o.SignInAudience, "sign-in-audience", "AzureADMyOrg (default) or AzureADMultipleOrgs.")
			uris := f.List("web-redirect-uris", "Web redirect URIs, space-separated.")
			return func(c *call) (any, error) {
				for _, u := range *uris {
					o.RedirectURIs = append(o.RedirectURIs, strings.Fields(u)...)
				}
				return c.d.CreateApp(c.ctx, o)
			}
		},
	},
	{
		words:   "ad app show",
		summary: "Show an application.",
		uses:    usesDirectory,
		examples: []example{
			{"An application's object id.", "berth ad app show --id APP_ID --query id -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			id := appID(f)
			return func(c *call) (any, error) { return c.d.ShowApp(c.ctx, *id) }
		},
	},
	{
		words:   "ad app list",
		summary: "List applications.",
		uses:    usesDirectory,
		examples: []example{
			{"The app ids of the applications of a name.", "berth ad app list --display-name ci --query '[].appId' -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			name := f.String("display-name", "Only those with this display name.")
			return func(c *call) (any, error) { return c.d.ListApps(c.ctx, *name) }
		},
	},
	{
		words:   "ad app delete",
		summary: "Delete an application.",
		uses:    usesDirectory,
		examples: []example{
			{"Delete an application.", "berth ad app delete --id APP_ID"},
		},
		flags: func(f *flagSet) runFunc {
			id := appID(f)
			return func(c *call) (any, error) { return nil, c.d.DeleteApp(c.ctx, *id) }
		},
	},
	{words: "ad app credential", summary: "Manage an application's secrets and certificates."},
	{
		words:   "ad app credential reset",
		summary: "Make a new secret for an application, or upload a certificate.",
		more:    "The secret is shown this once. Without --append the application's other secrets (or certificates, with --cert) are removed.",
		uses:    usesDirectory,
		examples: []example{
			{"Add a secret, keeping the others, and print it alone.", "berth ad app credential reset --id APP_ID --append --query password -o tsv"},
			{"Upload a certificate.", "berth ad app credential reset --id APP_ID --cert @cert.pem"},
		},
		flags: func(f *flagSet) runFunc {
			id := appID(f)
			appendCred := f.Bool("append", "Keep the existing secrets (or certificates, with --cert).")
			name := f.String("display-name", "The new secret's or certificate's description.")
			years := f.Int("years", "Years the new secret is valid.", 1)
			cert := f.String("cert", "Upload a certificate instead of making a secret: @FILE (PEM) or the PEM text.")
			f.check(func() error {
				if *cert != "" && f.given("years") {
					// A certificate is valid for as long as it says.
					return errors.New("berth ad app credential reset: --years does not apply to --cert")
				}
				return nil
			})
			return func(c *call) (any, error) {
				if *cert != "" {
					return c.d.ResetCertificate(c.ctx, cli.CertificateReset{ID: *id, Cert: *cert, Append: *appendCred, DisplayName: *name})
				}
				return c.d.ResetCredential(c.ctx, cli.CredentialReset{ID: *id, Append: *appendCred, DisplayName: *name, Years: *years})
			}
		},
	},
	{
		words:   "ad app credential list",
		summary: "List an application's secrets, or its certificates.",
		uses:    usesDirectory,
		examples: []example{
			{"An application's secrets.", "berth ad app credential list --id APP_ID -o table"},
		},
		flags: func(f *flagSet) runFunc {
			id := appID(f)
			certs := f.Bool("cert", "List the certificates instead of the secrets.")
			return func(c *call) (any, error) { return c.d.ListCredentials(c.ctx, *id, *certs) }
		},
	},
	{words: "ad app federated-credential", summary: "Manage an application's federated identity credentials."},
	{
		words:   "ad app federated-credential create",
		summary: "Add a federated identity credential to an application.",
		uses:    usesDirectory,
		examples: []example{
			{"Trust a Kubernetes service account's tokens.",
				`berth ad app federated-credential create --id APP_ID --parameters '{"name": "kube", "issuer": "https://issuer.example", "subject": "system:serviceaccount:ns:sa", "audiences": ["api://AzureADTokenExchange"]}'`},
		},
		flags: func(f *flagSet) runFunc {
			id := appID(f)
			params := f.String("parameters", "The credential, @FILE or JSON: {name, issuer, subject, audiences, description}.", required)
			return func(c *call) (any, error) { return c.d.CreateFederatedCredential(c.ctx, *id, *params) }
		},
	},
	{
		words:   "ad app federated-credential list",
		summary: "List an application's federated identity credentials.",
		uses:    usesDirectory,
		examples: []example{
			{"The names of an application's federated credentials.", "berth ad app federated-credential list --id APP_ID --query '[].name' -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			id := appID(f)
			return func(c *call) (any, error) { return c.d.ListFederatedCredentials(c.ctx, *id) }
		},
	},
	{
		words:   "ad app federated-credential show",
		summary: "Show a federated identity credential.",
		uses:    usesDirectory,
		examples: []example{
			{"A federated credential by name.", "berth ad app federated-credential show --id APP_ID --federated-credential-id kube"},
		},
		flags: func(f *flagSet) runFunc {
			id, cred := appID(f), federatedCredentialID(f)
			return func(c *call) (any, error) { return c.d.ShowFederatedCredential(c.ctx, *id, *cred) }
		},
	},
	{
		words:   "ad app federated-credential delete",
		summary: "Delete a federated identity credential.",
		uses:    usesDirectory,
		examples: []example{
			{"Delete a federated credential.", "berth ad app federated-credential delete --id APP_ID --federated-credential-id kube"},
		},
		flags: func(f *flagSet) runFunc {
			id, cred := appID(f), federatedCredentialID(f)
			return func(c *call) (any, error) { return nil, c.d.DeleteFederatedCredential(c.ctx, *id, *cred) }
		},
	},
	{words: "ad app permission", summary: "Manage an application's permissions."},
	{
		words:   "ad app permission admin-consent",
		summary: "Consent to an application in the login's tenant, as its administrator, without a browser.",
		more:    "A multi-tenant application of another tenant gets a service principal here. Silent on success, as the cloud CLI's.",
		uses:    usesDirectory,
		examples: []example{
			{"Let another tenant's multi-tenant application into this tenant.", "berth ad app permission admin-consent --id APP_ID"},
		},
		flags: func(f *flagSet) runFunc {
			id := f.String("id", "The application's app id.", required)
			return func(c *call) (any, error) { return nil, c.d.AdminConsent(c.ctx, *id) }
		},
	},
	{words: "ad sp", summary: "Manage service principals."},
	{
		words:   "ad sp create",
		summary: "Create the service principal of an application.",
		uses:    usesDirectory,
		examples: []example{
			{"The service principal of an application.", "berth ad sp create --id APP_ID --query id -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			id := f.String("id", "The application's app id.", required)
			return func(c *call) (any, error) { return c.d.CreateSP(c.ctx, *id) }
		},
	},
	{
		words:   "ad sp show",
		summary: "Show a service principal.",
		uses:    usesDirectory,
		examples: []example{
			{"A service principal by its name.", "berth ad sp show --id http://puller --query appId -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			id := f.String("id", "The service principal's app id, name (http://NAME) or object id.", required)
			return func(c *call) (any, error) { return c.d.ShowSP(c.ctx, *id) }
		},
	},
	{
		words:   "ad sp delete",
		summary: "Delete a service principal, with its role assignments.",
		more:    "For another tenant's application this withdraws the consent given to it here: it gets no more tokens in this tenant, and its refresh tokens at registries stop working.",
		uses:    usesDirectory,
		examples: []example{
			{"Delete a service principal (for another tenant's application: withdraw the consent).", "berth ad sp delete --id APP_ID"},
		},
		flags: func(f *flagSet) runFunc {
			id := f.String("id", "The service principal's app id, name (http://NAME) or object id.", required)
			return func(c *call) (any, error) { return nil, c.d.DeleteSP(c.ctx, *id) }
		},
	},
	{
		words:   "ad sp list",
		summary: "List service principals.",
		uses:    usesDirectory,
		examples: []example{
			{"The service principals of a name.", "berth ad sp list --display-name puller -o table"},
		},
		flags: func(f *flagSet) runFunc {
			name := f.String("display-name", "Only those with this display name.")
			return func(c *call) (any, error) { return c.d.ListSPs(c.ctx, *name) }
		},
	},
	{
		words:   "ad sp create-for-rbac",
		summary: "Create an application with its service principal and a secret, and give it a role.",
		more:    "An application of that name is reused, its secrets replaced by the new one, which is shown this once.",
		uses:    usesManagement,
		examples: []example{
			{"A service principal that may pull from a registry.",
				"berth ad sp create-for-rbac --name http://puller --role acrpull --scopes $(berth acr show --name default --query id -o tsv)"},
		},
		flags: func(f *flagSet) runFunc {
			o := cli.ForRBAC{Years: 1}
			f.StringVar(&o.Name, "name display-name n", "The application's display name (reused if it exists).")
			f.StringVar(&o.Role, "role", "A role to assign at each of --scopes.")
			f.ListVar(&o.Scopes, "scopes", "The scopes of the role assignment, space-separated.")
			f.IntVar(&o.Years, "years", "Years the secret is valid.")
			return func(c *call) (any, error) { return c.m.CreateForRBAC(c.ctx, o) }
		},
	},
	{words: "ad user", summary: "Manage users."},
	{
		words:   "ad user create",
		summary: "Create a user.",
		uses:    usesDirectory,
		examples: []example{
			{"A user who administers the tenant.",
				`berth ad user create --display-name "Fabrikam Admin" --user-principal-name admin@fabrikam.example --password "$PW" --role "Global Administrator"`},
		},
		flags: func(f *flagSet) runFunc {
			var o cli.UserCreate
			f.StringVar(&o.DisplayName, "display-name", "The user's display name.", required)
			f.StringVar(&o.UserPrincipalName, "user-principal-name", "The user's sign-in name, NAME@TENANT-DOMAIN.", required)
			f.StringVar(&o.Password, "password", "The user's password, at least 8 characters.", required)
			f.BoolVar(&o.ForceChange, "force-change-password-next-sign-in", "Ask for a new password at the first sign-in.")
			f.StringVar(&o.Role, "role", `A directory role to give the user: "Global Administrator", "Application Administrator" or "User Administrator".`)
			return func(c *call) (any, error) { return c.d.CreateUser(c.ctx, o) }
		},
	},
	{
		words:   "ad user show",
		summary: "Show a user.",
		uses:    usesDirectory,
		examples: []example{
			{"Whether a user may sign in.", "berth ad user show --id ada@fabrikam.example --query accountEnabled"},
		},
		flags: func(f *flagSet) runFunc {
			id := f.String("id", "The user's object id or user principal name.", required)
			return func(c *call) (any, error) { return c.d.ShowUser(c.ctx, *id) }
		},
	},
	{
		words:   "ad user update",
		summary: "Change a user: its account, password, display name or directory roles.",
		more: "A new password, or disabling the account, signs the user out of the sign-in pages at their next request. " +
			"A User Administrator may change users who hold no administrator role; roles are given and taken by a Global Administrator only. " +
			"The tenant's last Global Administrator that can act cannot be disabled or lose the role.",
		uses: usesDirectory,
		examples: []example{
			{"Disable an account.", "berth ad user update --id ada@fabrikam.example --account-enabled false"},
			{"Set a password the user must change at the next sign-in.",
				`berth ad user update --id ada@fabrikam.example --password "$PW" --force-change-password-next-sign-in true`},
			{"Take a directory role from a user.", `berth ad user update --id ada@fabrikam.example --remove-role "Global Administrator"`},
		},
		flags: func(f *flagSet) runFunc {
			var o cli.UserUpdate
			f.StringVar(&o.ID, "id", "The user's object id or user principal name.", required)
			name := f.String("display-name", "The user's new display name.")
			enabled := f.OptionalBool("account-enabled", "Enable (true) or disable (false) the account.")
			pw := f.String("password", "A new password, at least 8 characters.")
			force := f.OptionalBool("force-change-password-next-sign-in", "Whether the user must choose a new password at the next sign-in (true or false).")
			f.StringVar(&o.AddRole, "add-role", `A directory role to give the user: "Global Administrator", "Application Administrator" or "User Administrator".`)
			f.StringVar(&o.RemoveRole, "remove-role", "A directory role to take from the user.")
			f.check(func() error {
				if !f.given("display-name") && *enabled == nil && !f.given("password") && *force == nil && o.AddRole == "" && o.RemoveRole == "" {
					return errors.New("berth ad user update: nothing to change: give --account-enabled, --password, --force-change-password-next-sign-in, --display-name, --add-role or --remove-role")
				}
				return nil
			})
			return func(c *call) (any, error) {
				if f.given("display-name") {
					o.DisplayName = name
				}
				if f.given("password") {
					o.Password = pw
				}
				o.AccountEnabled, o.ForceChange = *enabled, *force
				return nil, c.d.UpdateUser(c.ctx, o)
			}
		},
	},
	{
		words:   "ad user delete",
		summary: "Delete a user, with its directory roles.",
		more:    "The user's sessions on the sign-in pages end at their next request. The tenant's last Global Administrator that can act cannot be deleted.",
		uses:    usesDirectory,
		examples: []example{
			{"Delete a user.", "berth ad user delete --id ada@fabrikam.example"},
		},
		flags: func(f *flagSet) runFunc {
			id := f.String("id", "The user's object id or user principal name.", required)
			return func(c *call) (any, error) { return nil, c.d.DeleteUser(c.ctx, *id) }
		},
	},
	{
		words:   "ad user list",
		summary: "List users.",
		uses:    usesDirectory,
		examples: []example{
			{"A user by user principal name.", "berth ad user list --upn ada@fabrikam.example"},
		},
		flags: func(f *flagSet) runFunc {
			name := f.String("display-name", "Only those with this display name.")
			upn := f.String("upn", "Only the user with this user principal name.")
			return func(c *call) (any, error) { return c.d.ListUsers(c.ctx, *name, *upn) }
		},
	},
}

// appID is --id of the commands on one application.
func appID(f *flagSet) *string {
	return f.String("id", "The application's app id or object id.", required)
}

func federatedCredentialID(f *flagSet) *string {
	return f.String("federated-credential-id", "The credential's id or name.", required)
}
