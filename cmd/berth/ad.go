package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/berthhq/berth/internal/cli"
)

const adUsage = `usage:
  berth ad app create --display-name NAME [--sign-in-audience AzureADMyOrg|AzureADMultipleOrgs] [--web-redirect-uris URI...]
  berth ad app show --id APP_ID|OBJECT_ID
  berth ad app list [--display-name NAME]
  berth ad app delete --id APP_ID|OBJECT_ID
  berth ad app credential reset --id APP_ID [--append] [--display-name NAME] [--years N | --cert @FILE.pem|PEM]
  berth ad app credential list --id APP_ID [--cert]
  berth ad app federated-credential create --id APP_ID --parameters @FILE.json|JSON
  berth ad app federated-credential list --id APP_ID
  berth ad app federated-credential show|delete --id APP_ID --federated-credential-id ID|NAME
  berth ad app permission admin-consent --id APP_ID
  berth ad sp create --id APP_ID
  berth ad sp show --id APP_ID|OBJECT_ID|NAME
  berth ad sp list [--display-name NAME]
  berth ad sp create-for-rbac [--name NAME] [--role ROLE --scopes SCOPE...] [--years N]
  berth ad user create --display-name NAME --user-principal-name UPN --password PASSWORD
                       [--force-change-password-next-sign-in] [--role "Global Administrator"|"Application Administrator"|"User Administrator"]
  berth ad user show --id OBJECT_ID|UPN
  berth ad user list [--display-name NAME] [--upn UPN]
`

// ad is "berth ad": the directory's applications, service principals and
// users, through the directory API as the logged-in principal.
func ad(args []string, stdout, stderr io.Writer) error {
	var cmd []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = append(cmd, args[0]), args[1:]
	}
	name := strings.Join(cmd, " ")
	var out outputFlags
	fs := flag.NewFlagSet("berth ad "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out.register(fs)
	var id, displayName, audience string
	var uris, scopes listFlag
	var upn, pw, role string
	var cert, params, fedID string
	var appendCred, forceChange, listCerts bool
	var years int
	needID := func(help string) { fs.StringVar(&id, "id", "", help) }
	switch name {
	case "app create":
		fs.StringVar(&displayName, "display-name", "", "the application's display name")
		fs.StringVar(&audience, "sign-in-audience", "", "AzureADMyOrg (default) or AzureADMultipleOrgs")
		fs.Var(&uris, "web-redirect-uris", "a web redirect URI (repeatable; also space-separated)")
	case "app show", "app delete":
		needID("the application's app id or object id")
	case "app list", "sp list":
		fs.StringVar(&displayName, "display-name", "", "only those with this display name")
	case "app credential reset":
		needID("the application's app id or object id")
		fs.BoolVar(&appendCred, "append", false, "keep the existing secrets (or certificates, with --cert)")
		fs.StringVar(&displayName, "display-name", "", "the new secret's or certificate's description")
		fs.IntVar(&years, "years", 1, "years the new secret is valid")
		fs.StringVar(&cert, "cert", "", "upload a certificate instead of making a secret: @FILE (PEM) or the PEM text")
	case "app credential list":
		needID("the application's app id or object id")
		fs.BoolVar(&listCerts, "cert", false, "list the certificates instead of the secrets")
	case "app federated-credential create":
		needID("the application's app id or object id")
		fs.StringVar(&params, "parameters", "", "the credential, @FILE or JSON: {name, issuer, subject, audiences, description}")
	case "app federated-credential list":
		needID("the application's app id or object id")
	case "app federated-credential show", "app federated-credential delete":
		needID("the application's app id or object id")
		fs.StringVar(&fedID, "federated-credential-id", "", "the credential's id or name")
	case "sp create", "app permission admin-consent":
		needID("the application's app id")
	case "sp show":
		needID("the service principal's app id, name (http://NAME) or object id")
	case "sp create-for-rbac":
		stringFlag(fs, &displayName, "the application's display name (reused if it exists)", "name", "n", "display-name")
		fs.StringVar(&role, "role", "", "a role to assign at each of --scopes")
		fs.Var(&scopes, "scopes", "the scopes of the role assignment (several after one --scopes)")
		fs.IntVar(&years, "years", 1, "years the secret is valid")
	case "user create":
		fs.StringVar(&displayName, "display-name", "", "the user's display name")
		fs.StringVar(&upn, "user-principal-name", "", "the user's sign-in name, NAME@TENANT-DOMAIN")
		fs.StringVar(&pw, "password", "", "the user's password, at least 8 characters")
		fs.BoolVar(&forceChange, "force-change-password-next-sign-in", false, "ask for a new password at the first sign-in")
		fs.StringVar(&role, "role", "", "a directory role to give the user")
	case "user show":
		needID("the user's object id or user principal name")
	case "user list":
		fs.StringVar(&displayName, "display-name", "", "only those with this display name")
		fs.StringVar(&upn, "upn", "", "only the user with this user principal name")
	default:
		fmt.Fprint(stderr, adUsage)
		return errUsage
	}
	if err := fs.Parse(azArgs(fs, args, "scopes")); err != nil {
		return errUsage
	}
	// --web-redirect-uris takes several values after one flag, as the
	// cloud CLI's does: bare words go to it, and flags after them are
	// parsed too.
	for name == "app create" && fs.NArg() > 0 {
		rest := fs.Args()
		for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			uris, rest = append(uris, rest[0]), rest[1:]
		}
		if err := fs.Parse(rest); err != nil {
			return errUsage
		}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	if fs.Lookup("id") != nil && id == "" {
		return fmt.Errorf("berth ad %s: --id is required", name)
	}
	for _, f := range []struct{ flag, v string }{{"federated-credential-id", fedID}, {"parameters", params}} {
		if fs.Lookup(f.flag) != nil && f.v == "" {
			return fmt.Errorf("berth ad %s: --%s is required", name, f.flag)
		}
	}
	if cert != "" {
		var yearsSet bool
		fs.Visit(func(f *flag.Flag) { yearsSet = yearsSet || f.Name == "years" })
		if yearsSet {
			// A certificate is valid for as long as it says.
			return fmt.Errorf("berth ad app credential reset: --years does not apply to --cert")
		}
	}
	if name == "app create" && displayName == "" {
		return fmt.Errorf("berth ad app create: --display-name is required")
	}
	if name == "user create" {
		for _, f := range []struct{ flag, v string }{{"display-name", displayName}, {"user-principal-name", upn}, {"password", pw}} {
			if f.v == "" {
				return fmt.Errorf("berth ad user create: --%s is required", f.flag)
			}
		}
	}
	var redirects []string
	for _, u := range uris {
		redirects = append(redirects, strings.Fields(u)...)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	d, err := loadDirectory()
	if err != nil {
		return err
	}
	var v any
	switch name {
	case "app create":
		v, err = d.CreateApp(ctx, cli.AppCreate{DisplayName: displayName, SignInAudience: audience, RedirectURIs: redirects})
	case "app show":
		v, err = d.ShowApp(ctx, id)
	case "app list":
		v, err = d.ListApps(ctx, displayName)
	case "app delete":
		return d.DeleteApp(ctx, id)
	case "app credential reset":
		if cert != "" {
			v, err = d.ResetCertificate(ctx, cli.CertificateReset{ID: id, Cert: cert, Append: appendCred, DisplayName: displayName})
		} else {
			v, err = d.ResetCredential(ctx, cli.CredentialReset{ID: id, Append: appendCred, DisplayName: displayName, Years: years})
		}
	case "app credential list":
		v, err = d.ListCredentials(ctx, id, listCerts)
	case "app federated-credential create":
		v, err = d.CreateFederatedCredential(ctx, id, params)
	case "app federated-credential list":
		v, err = d.ListFederatedCredentials(ctx, id)
	case "app federated-credential show":
		v, err = d.ShowFederatedCredential(ctx, id, fedID)
	case "app federated-credential delete":
		return d.DeleteFederatedCredential(ctx, id, fedID)
	case "app permission admin-consent":
		// Silent on success, as the cloud CLI's.
		return d.AdminConsent(ctx, id)
	case "sp create":
		v, err = d.CreateSP(ctx, id)
	case "sp show":
		v, err = d.ShowSP(ctx, id)
	case "sp list":
		v, err = d.ListSPs(ctx, displayName)
	case "sp create-for-rbac":
		var m *cli.Management
		if m, err = loadManagement(); err == nil {
			v, err = m.CreateForRBAC(ctx, cli.ForRBAC{Name: displayName, Role: role, Scopes: scopes, Years: years})
		}
	case "user create":
		v, err = d.CreateUser(ctx, cli.UserCreate{DisplayName: displayName, UserPrincipalName: upn, Password: pw, ForceChange: forceChange, Role: role})
	case "user show":
		v, err = d.ShowUser(ctx, id)
	case "user list":
		v, err = d.ListUsers(ctx, displayName, upn)
	}
	if err != nil {
		return err
	}
	return out.print(stdout, v)
}
