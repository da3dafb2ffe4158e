package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/cloudhosts"
)

// Config is everything `berth serve` can be told.
type Config struct {
	DataDir string
	Listen  string
	// Database is a PostgreSQL URL; empty means SQLite in the data dir.
	Database string
	// BlobStore is an object store URL (s3://BUCKET/PREFIX?...); empty
	// means blobs on the local disk, in the data dir.
	BlobStore string
	// BlobRedirect answers blob GETs with a redirect to a presigned URL
	// of the object store instead of carrying the bytes.
	BlobRedirect bool
	// Hosts are extra names the server certificate must cover.
	Hosts          []string
	RegistrySuffix string
	// InsecureHTTP serves plain HTTP; only allowed on loopback.
	InsecureHTTP    bool
	LogFormat       string
	LogLevel        string
	GCInterval      time.Duration
	GCGrace         time.Duration
	ShutdownTimeout time.Duration
	// FederationCAFile names PEM certificates of authorities that
	// federated issuers' TLS certificates may chain to, beside the
	// system's: a cluster's own CA, when it serves its issuer documents
	// itself.
	FederationCAFile string
	// DebugListen serves Go's profiler (net/http/pprof) on a separate,
	// loopback-only address; empty: off.
	DebugListen string
	// RegistryAccessLifetime and RegistryRefreshLifetime are the
	// lifetimes of registry access and refresh tokens.
	RegistryAccessLifetime  time.Duration
	RegistryRefreshLifetime time.Duration
	// RegistryRate limits each principal's registry requests per second
	// (bursts of RegistryBurst); 0: no limit.
	RegistryRate  float64
	RegistryBurst int
	// Slow clients. ReadHeaderTimeout bounds a request's head,
	// IdleTimeout a kept-alive connection between requests. A request
	// body may pause at most BodyTimeout, and must arrive at BodyMinRate
	// bytes a second on average after that grace (0: no minimum).
	// MaxConnsPerClient bounds the connections one client address (an
	// IPv6 /64) holds at once (0: no bound).
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	BodyTimeout       time.Duration
	BodyMinRate       int64
	MaxConnsPerClient int
	// CloudHostnames also answers as the public cloud's host names
	// (package cloudhosts), with the registry suffix azurecr.io, and
	// serves the CONNECT proxy that reaches them on ProxyListen.
	CloudHostnames bool
	ProxyListen    string
	// LoginServerPort is added to registries' loginServer property
	// (<name>.<suffix>:<port>) for clients that reach berth on a port
	// other than 443 without a proxy; empty: none.
	LoginServerPort string
}

// DefaultProxyListen is where --cloud-hostnames' proxy listens unless
// told otherwise; `berth env` names it by default.
const DefaultProxyListen = "127.0.0.1:8444"

// DefaultRegistryName is the registry bootstrap creates.
const DefaultRegistryName = "default"

// DefaultDataDir is $XDG_DATA_HOME/berth, or ~/.local/share/berth.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "berth")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "berth-data"
	}
	return filepath.Join(home, ".local", "share", "berth")
}

// Defaults returns the configuration of a plain `berth serve`.
func Defaults() Config {
	return Config{
		DataDir:         DefaultDataDir(),
		Listen:          "127.0.0.1:8443",
		RegistrySuffix:  "cr.localhost",
		LogFormat:       "text",
		LogLevel:        "info",
		GCGrace:         time.Hour,
		ShutdownTimeout: 30 * time.Second,

		RegistryAccessLifetime:  75 * time.Minute,
		RegistryRefreshLifetime: 3 * time.Hour,
		RegistryBurst:           100,

		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BodyTimeout:       time.Minute,
		BodyMinRate:       1024,
		MaxConnsPerClient: 256,

		ProxyListen: DefaultProxyListen,
	}
}

// Validate checks the combination of settings.
func (c *Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", c.Listen, err)
	}
	if c.InsecureHTTP {
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("--insecure-http is only allowed on a loopback address")
		}
	}
	if c.DebugListen != "" {
		dh, _, err := net.SplitHostPort(c.DebugListen)
		if ip := net.ParseIP(dh); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("--debug-listen %q: must be a loopback IP address and port", c.DebugListen)
		}
	}
	c.RegistrySuffix = strings.Trim(strings.ToLower(c.RegistrySuffix), ".")
	if c.RegistrySuffix == "" {
		return errors.New("--registry-suffix must not be empty")
	}
	if c.CloudHostnames {
		// The cloud's clients find registries at <name>.azurecr.io, on
		// port 443 through the proxy.
		if c.RegistrySuffix != Defaults().RegistrySuffix && c.RegistrySuffix != cloudhosts.RegistrySuffix {
			return fmt.Errorf("--cloud-hostnames serves registries at <name>.%s; drop --registry-suffix", cloudhosts.RegistrySuffix)
		}
		if c.LoginServerPort != "" {
			return errors.New("--cloud-hostnames serves login servers on port 443 (through its proxy); drop --login-server-port")
		}
		if c.InsecureHTTP {
			return errors.New("--cloud-hostnames needs HTTPS; drop --insecure-http")
		}
		c.RegistrySuffix = cloudhosts.RegistrySuffix
		if _, _, err := net.SplitHostPort(c.ProxyListen); err != nil {
			return fmt.Errorf("--proxy-listen %q: %w", c.ProxyListen, err)
		}
	}
	if c.LoginServerPort != "" {
		if p, err := strconv.Atoi(c.LoginServerPort); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("--login-server-port %q: must be a port number", c.LoginServerPort)
		}
	}
	if c.BlobRedirect && c.BlobStore == "" {
		return errors.New("--blob-redirect needs an object store (--blob-store s3://...): a local disk has no URLs to redirect to")
	}
	if c.GCGrace < time.Minute && c.GCInterval > 0 {
		return errors.New("--gc-grace must be at least a minute")
	}
	for name, d := range map[string]time.Duration{"--registry-token-lifetime": c.RegistryAccessLifetime, "--registry-refresh-token-lifetime": c.RegistryRefreshLifetime} {
		// Signing keys outlive their last token by MaxTokenLifetime.
		if d < time.Minute || d > MaxTokenLifetime {
			return fmt.Errorf("%s must be between 1m and %s", name, MaxTokenLifetime)
		}
	}
	if c.RegistryRate < 0 || c.RegistryBurst < 1 {
		return errors.New("--registry-rate must not be negative and --registry-burst must be at least 1")
	}
	for name, d := range map[string]time.Duration{"--read-header-timeout": c.ReadHeaderTimeout, "--idle-timeout": c.IdleTimeout, "--body-timeout": c.BodyTimeout} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive", name)
		}
	}
	if c.BodyMinRate < 0 || c.MaxConnsPerClient < 0 {
		return errors.New("--body-min-rate and --max-conns-per-client must not be negative")
	}
	return nil
}

// BlobRedirectLifetime is how long a blob redirect's URL is valid: long
// enough for a client to follow it at once, short enough that a URL that
// leaks (logs, proxies) soon reads nothing. A download that has started
// runs to its end however long it takes.
const BlobRedirectLifetime = 10 * time.Minute

func (c *Config) blobRedirect() time.Duration {
	if c.BlobRedirect {
		return BlobRedirectLifetime
	}
	return 0
}

// addresses maps each name and address the server certificate covers
// (wildcards aside) to that name with the port of addr, berth's listener.
func (c *Config) addresses(addr net.Addr) map[string]string {
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, h := range c.certHosts() {
		if !strings.HasPrefix(h, "*.") {
			m[strings.ToLower(h)] = net.JoinHostPort(h, port)
		}
	}
	return m
}

// certHosts are the names the server certificate covers.
func (c *Config) certHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1", "*." + c.RegistrySuffix}
	if host, _, err := net.SplitHostPort(c.Listen); err == nil && host != "" && host != "0.0.0.0" && host != "::" {
		hosts = append(hosts, host)
	}
	hosts = append(hosts, c.Hosts...)
	if c.CloudHostnames {
		hosts = append(hosts, cloudhosts.Hosts...)
	}
	seen := map[string]bool{}
	out := hosts[:0]
	for _, h := range hosts {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}
