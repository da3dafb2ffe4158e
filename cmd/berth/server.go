package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/fsck"
	"github.com/berthhq/berth/internal/gc"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/server"
	"github.com/berthhq/berth/internal/store"
)

// The server and the maintenance commands that run where its stores are
// (also while it runs).
var serverCommands = []command{
	{
		words:   "serve",
		summary: "Start the server.",
		local:   true,
		examples: []example{
			{"Serve on port 8443 with the data in /var/lib/berth.", "berth serve --listen :8443 --data-dir /var/lib/berth"},
		},
		flags: func(f *flagSet) runFunc {
			cfg := server.Defaults()
			storeFlags(f, &cfg)
			f.StringVar(&cfg.Listen, "listen", "Address to listen on (HOST:PORT; port 0 picks a free one).")
			f.ListVar(&cfg.Hosts, "host", "Extra host names or IPs for the server certificate.")
			f.StringVar(&cfg.RegistrySuffix, "registry-suffix", "DNS suffix of login servers: registry R answers at R.<suffix>.")
			f.BoolVar(&cfg.InsecureHTTP, "insecure-http", "Serve plain HTTP (loopback addresses only).")
			f.BoolVar(&cfg.BlobRedirect, "blob-redirect", "Answer blob downloads with a redirect (307) to a short-lived presigned URL of the object store (needs --blob-store).")
			logger := logFlags(f, &cfg.LogFormat, &cfg.LogLevel)
			f.DurationVar(&cfg.GCInterval, "gc-interval", "Run garbage collection this often (0: never; use berth gc).")
			f.DurationVar(&cfg.GCGrace, "gc-grace", "Garbage collection spares content touched within this window.")
			f.DurationVar(&cfg.RegistryAccessLifetime, "registry-token-lifetime", "Lifetime of registry access tokens.")
			f.DurationVar(&cfg.RegistryRefreshLifetime, "registry-refresh-token-lifetime", "Lifetime of registry refresh tokens.")
			f.Float64Var(&cfg.RegistryRate, "registry-rate", "Registry requests per second allowed to each principal (0: no limit); more get 429 TOOMANYREQUESTS.")
			f.IntVar(&cfg.RegistryBurst, "registry-burst", "Requests a principal may make at once above --registry-rate.")
			f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", "How long a client may take to send a request's head.")
			f.DurationVar(&cfg.IdleTimeout, "idle-timeout", "How long a kept-alive connection may wait for its next request.")
			f.DurationVar(&cfg.BodyTimeout, "body-timeout", "How long a request body may pause before the connection is closed.")
			f.Int64Var(&cfg.BodyMinRate, "body-min-rate", "Bytes per second a request body must average after --body-timeout's grace (0: no minimum).")
			f.IntVar(&cfg.MaxConnsPerClient, "max-conns-per-client", "Connections one client address (an IPv6 /64) may hold at once (0: no limit; raise behind a proxy or NAT).")
			f.StringVar(&cfg.FederationCAFile, "federation-ca-file", "PEM certificates that federated issuers' TLS certificates may chain to, beside the system's (a cluster that serves its own issuer documents).")
			f.BoolVar(&cfg.CloudHostnames, "cloud-hostnames", "Also answer as the public cloud's host names (login.microsoftonline.com, management.azure.com, graph.microsoft.com, <registry>.azurecr.io) and serve a CONNECT proxy to them on --proxy-listen; see berth env.")
			f.StringVar(&cfg.ProxyListen, "proxy-listen", "Address of --cloud-hostnames' proxy (HOST:PORT).")
			f.StringVar(&cfg.LoginServerPort, "login-server-port", "Port to add to registries' login servers (<name>.<suffix>:<port>) when clients reach berth on a port other than 443 without the proxy.")
			f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", "How long in-flight requests may take after SIGTERM.")
			f.StringVar(&cfg.DebugListen, "debug-listen", "Serve Go's profiler (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060.")
			return func(c *call) (any, error) {
				log, err := logger(c)
				if err != nil {
					return nil, err
				}
				return nil, server.Run(c.ctx, cfg, c.stdout, log)
			}
		},
	},
	{
		words:   "gc",
		summary: "Remove unreferenced blobs and abandoned uploads.",
		examples: []example{
			{"Collect, sparing what was touched in the last 30 minutes.", "berth gc --grace 30m"},
		},
		local: true,
		flags: func(f *flagSet) runFunc {
			grace := time.Hour
			f.DurationVar(&grace, "grace", "Spare content touched within this window (pushes in progress).")
			return withStores(f, func(c *call, stores *server.Stores) error {
				log, err := server.NewLogger(c.stderr, "text", "warn")
				if err != nil {
					return err
				}
				st, err := (&gc.Collector{Meta: stores.Meta, Blobs: stores.Blobs, Grace: grace, Log: log}).Run(c.ctx)
				if errors.Is(err, gc.ErrRunning) {
					fmt.Fprintln(c.stdout, "another garbage collection is running; nothing done")
					return nil
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "deleted %d blobs (%d bytes), removed %d abandoned uploads", st.BlobsDeleted, st.BytesFreed, st.UploadsRemoved)
				if _, ok := stores.Blobs.(blob.Sweeper); ok {
					fmt.Fprintf(c.stdout, " and %d unfinished multipart uploads", st.PartialWritesRemoved)
				}
				fmt.Fprintln(c.stdout)
				return nil
			})
		},
	},
	{
		words:   "fsck",
		summary: "Verify every blob and manifest.",
		examples: []example{
			{"Check the data of a server that keeps it in /var/lib/berth.", "berth fsck --data-dir /var/lib/berth"},
		},
		local: true,
		flags: func(f *flagSet) runFunc {
			return withStores(f, func(c *call, stores *server.Stores) error {
				rep, err := fsck.Check(c.ctx, stores.Meta, stores.Blobs)
				if err != nil {
					return err
				}
				for _, p := range rep.Problems {
					fmt.Fprintln(c.stdout, "problem:", p)
				}
				fmt.Fprintf(c.stdout, "checked %d blobs and %d manifests: %d problems, %d unpublished blob records (left by interrupted uploads; gc removes them)\n",
					rep.BlobsChecked, rep.ManifestsChecked, len(rep.Problems), rep.Unpublished)
				if !rep.Clean() {
					return errors.New("fsck found problems")
				}
				return nil
			})
		},
	},
	{words: "keys", summary: "Manage the token signing keys."},
	{
		words:   "keys rotate",
		summary: "Add a token signing key; it signs once --publish-for has passed.",
		more: "Servers publish the new key at once, so that verifiers that cache the key set fetch it " +
			"before it signs; the current keys retire once their tokens have expired.",
		examples: []example{
			{"A new signing key, signing in two hours.", "berth keys rotate --publish-for 2h"},
		},
		local: true,
		flags: func(f *flagSet) runFunc {
			publishFor := time.Hour
			f.DurationVar(&publishFor, "publish-for", "How long the new key is published before it signs.")
			return withStores(f, func(c *call, stores *server.Stores) error {
				ring := &keys.Ring{Store: stores.Meta, MaxTokenLifetime: server.MaxTokenLifetime}
				id, err := ring.Rotate(c.ctx, publishFor)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "new signing key %s is published now and signs from %s; the current keys retire once their tokens have expired\n",
					id, time.Now().Add(publishFor).UTC().Format(time.RFC3339))
				return nil
			})
		},
	},
	{words: "tenant", summary: "Manage tenants."},
	{
		words:   "tenant create",
		summary: "Add a tenant with its own administrator.",
		more:    "Prints the tenant and its administrator's credentials as JSON, the secret shown this once.",
		examples: []example{
			{"A tenant, its administrator's credentials kept in a file.", "berth tenant create --display-name Fabrikam --domain fabrikam.example > fabrikam.json"},
		},
		local: true,
		flags: func(f *flagSet) runFunc {
			name := "Tenant"
			f.StringVar(&name, "display-name", "The tenant's display name.")
			domain := f.String("domain", "The tenant's domain name (default: <id prefix>.berth.localhost).")
			return withStores(f, func(c *call, stores *server.Stores) error {
				a, err := server.CreateTenant(c.ctx, stores.Meta, name, *domain)
				if errors.Is(err, store.ErrExists) {
					return fmt.Errorf("a tenant with the domain %q exists already", *domain)
				}
				if err != nil {
					return err
				}
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(a)
			})
		},
	},
}

// storeFlags are the flags of every command that opens the stores.
func storeFlags(f *flagSet, cfg *server.Config) {
	f.StringVar(&cfg.DataDir, "data-dir", "Data directory (certificates, bootstrap credentials, SQLite database, blobs).")
	f.StringVar(&cfg.Database, "database", "PostgreSQL URL (postgres://...) for the metadata store; default: SQLite in the data directory.")
	f.StringVar(&cfg.BlobStore, "blob-store", "Object store for blobs: s3://BUCKET/PREFIX?endpoint=URL&region=REGION, with credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; default: the data directory.")
}

// withStores declares the store flags and runs fn with the stores they
// name, open until it returns.
func withStores(f *flagSet, fn func(*call, *server.Stores) error) runFunc {
	cfg := server.Defaults()
	storeFlags(f, &cfg)
	return func(c *call) (any, error) {
		stores, err := server.OpenStores(c.ctx, cfg)
		if err != nil {
			return nil, err
		}
		defer stores.Close()
		return nil, fn(c, stores)
	}
}

// logFlags are --log-format and --log-level of the commands that serve;
// the logger they make writes to the command's stderr.
func logFlags(f *flagSet, format, level *string) func(c *call) (*slog.Logger, error) {
	*format, *level = "text", "info"
	f.StringVar(format, "log-format", "Log format: text or json.")
	f.StringVar(level, "log-level", "Log level: debug, info, warn, error.")
	return func(c *call) (*slog.Logger, error) { return server.NewLogger(c.stderr, *format, *level) }
}

// serving is the run of a command that serves until its context ends,
// with its own log flags.
func serving(f *flagSet, serve func(c *call, log *slog.Logger) error) runFunc {
	var format, level string
	logger := logFlags(f, &format, &level)
	return func(c *call) (any, error) {
		log, err := logger(c)
		if err != nil {
			return nil, err
		}
		return nil, serve(c, log)
	}
}
