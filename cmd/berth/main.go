package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berthhq/berth/internal/cli"
	"github.com/berthhq/berth/internal/fsck"
	"github.com/berthhq/berth/internal/gc"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/server"
	"github.com/berthhq/berth/internal/store"
)

const usage = `berth: a private OCI registry with cloud-style identity.

Usage:
  berth serve [flags]   start the server
  berth gc [flags]      remove unreferenced blobs and abandoned uploads
  berth fsck [flags]    verify every blob and manifest
  berth keys rotate     add a token signing key; it signs after --publish-for
  berth tenant create   add a tenant with its own administrator
  berth login           log in (bootstrap administrator, --service-principal, or --identity)
  berth logout
  berth account list [--refresh] | show | set --subscription ID|NAME | get-access-token [--resource R]
  berth ad app create | show | list | delete | credential reset
  berth ad sp create | show | list | create-for-rbac
  berth ad user create | show | list
  berth group create | show | list | delete
  berth acr create | show | list | update | delete | credential show|renew | login | pull-secret
  berth identity create | show | list | delete
  berth role definition list
  berth role assignment create | list | delete
  berth vm create | show | delete | credential reset | identity assign | remove | show
  berth aks create | show | delete | update-credentials | get-node-config
  berth imds --vm ID --credential FILE   serve the instance metadata endpoint on a machine
  berth credential-provider NODE_FILE    the kubelet's image credential provider on a node

Client commands take --query JMESPATH and --output json|tsv|table|none (-o).
Invoked as docker-credential-berth, the binary is a docker credential helper.
  berth version

Run "berth <command> -h" for a command's flags.
`

var version = "dev"

func main() {
	if filepath.Base(os.Args[0]) == credentialHelperName {
		os.Exit(credentialHelper(os.Args[1:], os.Stdin, os.Stdout))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors already explained by flag's own output.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout, stderr)
	case "gc":
		err = collect(args[1:], stdout, stderr)
	case "fsck":
		err = check(args[1:], stdout, stderr)
	case "keys":
		err = rotateKeys(args[1:], stdout, stderr)
	case "tenant":
		err = createTenant(args[1:], stdout, stderr)
	case "login":
		err = login(args[1:], stdout, stderr)
	case "logout":
		err = cli.Logout()
	case "account":
		err = account(args[1:], stdout, stderr)
	case "ad":
		err = ad(args[1:], stdout, stderr)
	case "group":
		err = group(args[1:], stdout, stderr)
	case "acr":
		err = acr(args[1:], stdout, stderr)
	case "identity":
		err = identity(args[1:], stdout, stderr)
	case "role":
		err = role(args[1:], stdout, stderr)
	case "vm":
		err = vm(args[1:], stdout, stderr)
	case "imds":
		err = imdsAgent(args[1:], stdout, stderr)
	case "aks":
		err = aks(args[1:], stdout, stderr)
	case "credential-provider":
		err = credentialProvider(args[1:], os.Stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "berth", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "berth: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	}
	fmt.Fprintln(stderr, "berth:", err)
	return 1
}

// storeFlags are the flags every command that opens the stores shares.
func storeFlags(fs *flag.FlagSet, cfg *server.Config) {
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory (certificates, bootstrap credentials, SQLite database, blobs)")
	fs.StringVar(&cfg.Database, "database", cfg.Database, "PostgreSQL URL (postgres://...) for the metadata store; default: SQLite in the data directory")
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}

type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func serve(args []string, stdout, stderr io.Writer) error {
	cfg := server.Defaults()
	fs := flag.NewFlagSet("berth serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on (HOST:PORT; port 0 picks a free one)")
	fs.Var((*listFlag)(&cfg.Hosts), "host", "extra host name or IP for the server certificate (repeatable)")
	fs.StringVar(&cfg.RegistrySuffix, "registry-suffix", cfg.RegistrySuffix, "DNS suffix of login servers: registry R answers at R.<suffix>")
	fs.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "serve plain HTTP (loopback addresses only)")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn, error")
	fs.DurationVar(&cfg.GCInterval, "gc-interval", 0, "run garbage collection this often (0: never; use berth gc)")
	fs.DurationVar(&cfg.GCGrace, "gc-grace", cfg.GCGrace, "garbage collection spares content touched within this window")
	fs.DurationVar(&cfg.RegistryAccessLifetime, "registry-token-lifetime", cfg.RegistryAccessLifetime, "lifetime of registry access tokens")
	fs.DurationVar(&cfg.RegistryRefreshLifetime, "registry-refresh-token-lifetime", cfg.RegistryRefreshLifetime, "lifetime of registry refresh tokens")
	fs.Float64Var(&cfg.RegistryRate, "registry-rate", cfg.RegistryRate, "registry requests per second allowed to each principal (0: no limit); more get 429 TOOMANYREQUESTS")
	fs.IntVar(&cfg.RegistryBurst, "registry-burst", cfg.RegistryBurst, "requests a principal may make at once above --registry-rate")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long in-flight requests may take after SIGTERM")
	fs.StringVar(&cfg.DebugListen, "debug-listen", "", "serve Go's profiler (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := server.NewLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return server.Run(ctx, cfg, stdout, log)
}

// withStores parses a maintenance command's flags, opens the stores of the
// data directory they name, and runs fn until it returns or a signal comes.
func withStores(name string, args []string, stderr io.Writer, flags func(*flag.FlagSet), fn func(context.Context, *server.Stores) error) error {
	cfg := server.Defaults()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg)
	if flags != nil {
		flags(fs)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	stores, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer stores.Close()
	return fn(ctx, stores)
}

func collect(args []string, stdout, stderr io.Writer) error {
	var grace time.Duration
	flags := func(fs *flag.FlagSet) {
		fs.DurationVar(&grace, "grace", time.Hour, "spare content touched within this window (pushes in progress)")
	}
	return withStores("berth gc", args, stderr, flags, func(ctx context.Context, stores *server.Stores) error {
		log, err := server.NewLogger(stderr, "text", "warn")
		if err != nil {
			return err
		}
		st, err := (&gc.Collector{Meta: stores.Meta, Blobs: stores.Blobs, Grace: grace, Log: log}).Run(ctx)
		if errors.Is(err, gc.ErrRunning) {
			fmt.Fprintln(stdout, "another garbage collection is running; nothing done")
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %d blobs (%d bytes), removed %d abandoned uploads\n", st.BlobsDeleted, st.BytesFreed, st.UploadsRemoved)
		return nil
	})
}

func check(args []string, stdout, stderr io.Writer) error {
	return withStores("berth fsck", args, stderr, nil, func(ctx context.Context, stores *server.Stores) error {
		rep, err := fsck.Check(ctx, stores.Meta, stores.Blobs)
		if err != nil {
			return err
		}
		for _, p := range rep.Problems {
			fmt.Fprintln(stdout, "problem:", p)
		}
		fmt.Fprintf(stdout, "checked %d blobs and %d manifests: %d problems, %d unpublished blob records (left by interrupted uploads; gc removes them)\n",
			rep.BlobsChecked, rep.ManifestsChecked, len(rep.Problems), rep.Unpublished)
		if !rep.Clean() {
			return errors.New("fsck found problems")
		}
		return nil
	})
}

// rotateKeys is "berth keys rotate": run where the server's stores are
// (also while it runs; servers publish the new key at once and sign with it
// once --publish-for has passed).
func rotateKeys(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(stderr, "usage: berth keys rotate [--publish-for DURATION] [--data-dir DIR] [--database URL]")
		return errUsage
	}
	var publishFor time.Duration
	flags := func(fs *flag.FlagSet) {
		fs.DurationVar(&publishFor, "publish-for", time.Hour, "how long the new key is published before it signs, so verifiers that cache the key set fetch it first")
	}
	return withStores("berth keys rotate", args[1:], stderr, flags, func(ctx context.Context, stores *server.Stores) error {
		ring := &keys.Ring{Store: stores.Meta, MaxTokenLifetime: server.MaxTokenLifetime}
		id, err := ring.Rotate(ctx, publishFor)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new signing key %s is published now and signs from %s; the current keys retire once their tokens have expired\n",
			id, time.Now().Add(publishFor).UTC().Format(time.RFC3339))
		return nil
	})
}

// createTenant is "berth tenant create": it prints the new tenant and its
// administrator's credentials as JSON, the secret shown this once.
func createTenant(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: berth tenant create [--display-name NAME] [--domain DOMAIN] [--data-dir DIR] [--database URL]")
		return errUsage
	}
	var name, domain string
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&name, "display-name", "Tenant", "the tenant's display name")
		fs.StringVar(&domain, "domain", "", "the tenant's domain name (default: <id prefix>.berth.localhost)")
	}
	return withStores("berth tenant create", args[1:], stderr, flags, func(ctx context.Context, stores *server.Stores) error {
		a, err := server.CreateTenant(ctx, stores.Meta, name, domain)
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("a tenant with the domain %q exists already", domain)
		}
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	})
}

// outputFlags are --query and --output (-o), on every client command.
type outputFlags struct{ query, format string }

func (o *outputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.query, "query", "", "JMESPath query applied to the output")
	fs.StringVar(&o.format, "output", "json", "output format: json, tsv, table or none")
	fs.StringVar(&o.format, "o", "json", "shorthand for --output")
}

func (o *outputFlags) print(w io.Writer, v any) error { return cli.Output(w, v, o.query, o.format) }

func login(args []string, stdout, stderr io.Writer) error {
	opts := cli.LoginOptions{DataDir: server.DefaultDataDir()}
	var out outputFlags
	fs := flag.NewFlagSet("berth login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&opts.ServicePrincipal, "service-principal", false, "log in as a service principal (--username APP_ID --password SECRET --tenant TENANT)")
	fs.BoolVar(&opts.Identity, "identity", false, "log in as the machine's managed identity, with tokens from its metadata endpoint (berth imds)")
	for _, n := range []string{"username", "u"} {
		fs.StringVar(&opts.Username, n, "", "the service principal's application (client) id; with --identity, the identity's client id, object id or resource id (default: the system-assigned identity)")
	}
	for _, n := range []string{"password", "p"} {
		fs.StringVar(&opts.Password, n, "", "the service principal's client secret")
	}
	for _, n := range []string{"tenant", "t"} {
		fs.StringVar(&opts.Tenant, n, "", "the tenant id or domain")
	}
	fs.StringVar(&opts.Server, "server", "", "berth's address, https://HOST:PORT (default: the current login's, or the local server's; with --identity, $BERTH_SERVER)")
	fs.StringVar(&opts.CAFile, "ca-file", "", "the CA certificate berth's server certificate is signed by (default: the local data directory's; with --identity, $BERTH_CA_FILE)")
	fs.StringVar(&opts.DataDir, "data-dir", opts.DataDir, "the local server's data directory, for the bootstrap login and its CA")
	out.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	accounts, err := cli.Login(ctx, opts)
	if err != nil {
		return err
	}
	return out.print(stdout, accounts)
}

func account(args []string, stdout, stderr io.Writer) error {
	name, args := words(args)
	var out outputFlags
	fs := flag.NewFlagSet("berth account "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out.register(fs)
	var resource, subscription string
	var refresh bool
	switch name {
	case "show":
	case "list":
		fs.BoolVar(&refresh, "refresh", false, "fetch the subscriptions anew")
	case "set":
		stringFlag(fs, &subscription, "the subscription's id or name", "subscription", "s")
	case "get-access-token":
		fs.StringVar(&resource, "resource", cli.ManagementResource, "the resource (audience) of the token")
	default:
		fmt.Fprintln(stderr, "usage: berth account list [--refresh] | show | set --subscription ID|NAME | get-access-token [--resource URI]")
		return errUsage
	}
	if err := parseAz(fs, args); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	if name == "set" {
		if err := required("berth account set", "subscription", subscription); err != nil {
			return err
		}
	}
	p, err := cli.LoadProfile()
	if err != nil {
		return err
	}
	var v any
	switch name {
	case "show":
		v = p.ShowAccount()
	case "list":
		v, err = p.ListAccounts(ctx, refresh)
	case "set":
		return p.SetSubscription(subscription)
	case "get-access-token":
		v, err = p.AccessToken(ctx, resource)
	}
	if err != nil {
		return err
	}
	return out.print(stdout, v)
}

func loadManagement() (*cli.Management, error) {
	p, err := cli.LoadProfile()
	if err != nil {
		return nil, err
	}
	return p.Management()
}

func loadDirectory() (*cli.Directory, error) {
	p, err := cli.LoadProfile()
	if err != nil {
		return nil, err
	}
	return p.Directory()
}
