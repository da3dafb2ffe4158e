package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berthhq/berth/internal/arm"
	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/cloudhosts"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/gc"
	"github.com/berthhq/berth/internal/graph"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/ociapi"
	"github.com/berthhq/berth/internal/oidcissuer"
	"github.com/berthhq/berth/internal/pki"
	"github.com/berthhq/berth/internal/portal"
	"github.com/berthhq/berth/internal/registry"
	"github.com/berthhq/berth/internal/registryauth"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/sts"
	"github.com/berthhq/berth/internal/web"
)

// MaxTokenLifetime bounds every token berth signs; a retired signing key
// stays published this long after its successor starts signing.
const MaxTokenLifetime = 24 * time.Hour

// NewLogger builds the server's structured logger.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be json or text, not %q", format)
}

// Run serves until ctx is cancelled, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish within ShutdownTimeout, and
// closes the stores. The ready line and next steps go to out; logs to log.
func Run(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	stores, err := OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer stores.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := newMetrics(reg)
	// Counted before TLS, so that a refused client costs no handshake.
	ln = newLimitListener(ln, cfg.MaxConnsPerClient, m.connsRefused.Inc)
	scheme := "https"
	if cfg.InsecureHTTP {
		scheme = "http"
	}
	url := scheme + "://" + advertised(ln.Addr(), cfg.Hosts)
	engine := &authz.Engine{Store: stores.Meta}
	// One credential check for every surface, so that one throttle counts
	// a client's wrong secrets wherever they are sent.
	clients := clientauth.NewChecker(stores.Meta)
	// One audit trail for every surface (package audit).
	trail := &audit.Trail{Store: stores.Meta, Log: log}
	cp := &controlplane.Service{Store: stores.Meta, Authz: engine, Clients: clients, RegistrySuffix: cfg.RegistrySuffix, LoginServerPort: cfg.LoginServerPort, Audit: trail}
	boot, err := ensureBootstrap(ctx, stores.Meta, cp, cfg, url, log)
	if err != nil {
		ln.Close()
		return err
	}
	if !cfg.InsecureHTTP {
		cert, err := pki.Ensure(cfg.DataDir, cfg.certHosts())
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		})
	}

	ring := &keys.Ring{Store: stores.Meta, MaxTokenLifetime: MaxTokenLifetime}
	if err := ring.Ensure(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("signing keys: %w", err)
	}

	pages, err := web.New(ctx, stores.Meta, trail, log)
	if err != nil {
		ln.Close()
		return err
	}

	issuers, err := federatedIssuers(cfg.FederationCAFile)
	if err != nil {
		return err
	}
	stsService := &sts.Service{Directory: stores.Meta, Machines: stores.Meta, Keys: ring, Clients: clients, Issuers: issuers, Lifetime: sts.DefaultLifetime}
	// berth's own tenants and the clusters' issuers berth hosts are
	// trusted without fetching their documents from berth itself.
	issuers.Known = sts.OwnIssuers{Service: stsService, Next: controlplane.KnownIssuers{Store: stores.Meta}}
	regAuth := &registryauth.Service{
		Store: stores.Meta, Authz: engine, Keys: ring, Directory: stsService, Clients: clients, Suffix: cfg.RegistrySuffix,
		AccessLifetime: cfg.RegistryAccessLifetime, RefreshLifetime: cfg.RegistryRefreshLifetime,
	}
	directory := &graph.Service{Directory: stores.Meta, Audit: trail}
	images := registry.New(stores.Meta, stores.Blobs)
	people, err := portal.New(pages, directory, cp, images, regAuth, log)
	if err != nil {
		ln.Close()
		return err
	}
	h := &handler{
		cfg:      cfg,
		meta:     stores.Meta,
		log:      log,
		metrics:  m,
		promHTTP: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		registry: &ociapi.Handler{
			Service:      images,
			Auth:         &registryauth.Gate{Service: regAuth, Throttle: &registryauth.Throttle{Rate: cfg.RegistryRate, Burst: float64(cfg.RegistryBurst)}},
			Log:          log,
			BlobRedirect: cfg.blobRedirect(),
		},
		registryTokens:  &registryauth.TokenHandler{Service: regAuth, Log: log},
		defaultRegistry: boot.Registry,
		sts: &sts.Handler{
			Service:   stsService,
			Log:       log,
			Addresses: cfg.addresses(ln.Addr()),
		},
		graph:      graph.NewHandler(directory, stsService, log),
		management: &arm.Handler{Service: cp, Verifier: stsService, Log: log, RegistrySuffix: cfg.RegistrySuffix},
		pages:      pages,
		portal:     people,
		issuers:    &oidcissuer.Handler{Store: stores.Meta, Scheme: scheme, Log: log},
		disk:       dataDisk{cfg.DataDir},
	}
	cp.RegistryDeleted = h.forgetRegistry
	h.registry.RegistryFor = h.registryFor
	h.registryTokens.RegistryFor = h.registryFor
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	var wg sync.WaitGroup
	if cfg.GCInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			collectPeriodically(ctx, &gc.Collector{Meta: stores.Meta, Blobs: stores.Blobs, Grace: cfg.GCGrace, Log: log}, cfg.GCInterval, m, log)
		}()
	}

	if cfg.DebugListen != "" {
		// Profiles show request internals, so they get their own
		// loopback listener rather than a path on the public one.
		// Bound before the ready line, so that it is there when the line
		// says the server is.
		dln, err := net.Listen("tcp", cfg.DebugListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--debug-listen: %w", err)
		}
		dbg := &http.Server{Handler: debugMux(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := dbg.Serve(dln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("debug listener", "err", err)
			}
		}()
		defer dbg.Close()
	}

	proxyURL := ""
	if cfg.CloudHostnames {
		psrv, pln, err := cloudProxy(cfg, ln.Addr(), m, log)
		if err != nil {
			ln.Close()
			return err
		}
		go func() {
			if err := psrv.Serve(pln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("proxy listener", "err", err)
			}
		}()
		defer psrv.Close()
		proxyURL = "http://" + pln.Addr().String()
	}

	wg.Add(1)
	go func() {
		defer wg.Done()
		h.disk.watch(ctx, 10*time.Second, log)
	}()

	// Said before the ready line, so that whoever waits for that line
	// has read it.
	if ro := h.disk.readOnly(); ro != "" {
		log.Warn(ro, "data_dir", cfg.DataDir)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	printReady(out, url, proxyURL, cfg, boot)
	log.Info("serving", "url", url, "proxy", proxyURL, "data_dir", cfg.DataDir, "metadata", stores.Meta.Dialect(), "default_registry", boot.LoginServer)

	select {
	case err := <-serveErr:
		wg.Wait()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("in-flight requests did not finish in time; closing them")
		err = srv.Close()
	}
	wg.Wait()
	return err
}

// cloudProxy listens for --cloud-hostnames' CONNECT proxy, which tunnels
// to berth at addr. It is bounded per client as berth's own listener is.
func cloudProxy(cfg Config, addr net.Addr, m *metrics, log *slog.Logger) (*http.Server, net.Listener, error) {
	target := addr.(*net.TCPAddr)
	ip := target.IP
	// A wildcard listener is reached on the loopback address.
	if ip.IsUnspecified() {
		ip = net.IPv6loopback
		if target.IP.To4() != nil {
			ip = net.IPv4(127, 0, 0, 1)
		}
	}
	pln, err := net.Listen("tcp", cfg.ProxyListen)
	if err != nil {
		return nil, nil, fmt.Errorf("--proxy-listen: %w", err)
	}
	pln = newLimitListener(pln, cfg.MaxConnsPerClient, m.connsRefused.Inc)
	return &http.Server{
		Handler:           &cloudhosts.Proxy{Target: net.JoinHostPort(ip.String(), strconv.Itoa(target.Port)), Log: log},
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}, pln, nil
}

// advertised is the address the ready line and bootstrap.json name: the
// listener's, but for an unspecified one (0.0.0.0, ::), which a client
// cannot dial and the certificate does not name, the first --host, else
// localhost (which the certificate always names).
func advertised(addr net.Addr, hosts []string) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	host := "localhost"
	if len(hosts) > 0 {
		host = hosts[0]
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

func printReady(out io.Writer, url, proxyURL string, cfg Config, b Bootstrap) {
	boot := filepath.Join(cfg.DataDir, BootstrapFile)
	fmt.Fprintf(out, "berth is ready at %s\n", url)
	fmt.Fprintf(out, `
Next steps:
  Trust the local CA:      %s
  Bootstrap credentials:   %s (tenant, subscription, administrator; keep it secret)
  Default registry:        %s, also at %s/v2/
  Portal:                  %[4]s/portal/ (sign in as the adminUser of %[2]s with its adminPassword)
  Try it:
    curl --cacert %[1]s -u "$(jq -r .clientId %[2]s):$(jq -r .clientSecret %[2]s)" %[4]s/v2/_catalog
`, filepath.Join(cfg.DataDir, pki.CACertFile), boot, b.LoginServer, url)
	if proxyURL != "" {
		fmt.Fprintf(out, `  The cloud's CLI, through berth's proxy at %s (see docs/cloud-cli.md):
    eval "$(berth env --data-dir %s --proxy %s)"
    az login --service-principal -u "$(jq -r .clientId %s)" -p "$(jq -r .clientSecret %[4]s)" --tenant "$(jq -r .tenantId %[4]s)"
`, proxyURL, cfg.DataDir, strings.TrimPrefix(proxyURL, "http://"), boot)
	}
}

func collectPeriodically(ctx context.Context, c *gc.Collector, every time.Duration, m *metrics, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st, err := c.Run(ctx)
			if errors.Is(err, gc.ErrRunning) {
				continue
			}
			if err != nil && ctx.Err() == nil {
				log.Error("garbage collection failed", "err", err)
				continue
			}
			m.gcBlobs.Add(float64(st.BlobsDeleted))
			m.gcBytes.Add(float64(st.BytesFreed))
		}
	}
}

// handler is the top-level router.
type handler struct {
	cfg             Config
	meta            store.Store
	log             *slog.Logger
	metrics         *metrics
	promHTTP        http.Handler
	registry        *ociapi.Handler
	registryTokens  *registryauth.TokenHandler
	sts             *sts.Handler
	graph           *graph.Handler
	management      *arm.Handler
	pages           *web.Handler
	portal          *portal.Handler
	issuers         *oidcissuer.Handler
	disk            dataDisk
	defaultRegistry string
	// known holds registry names seen to exist, each until a time: a
	// registry deleted on another replica stops being served within
	// knownFor; one deleted here, at once.
	known sync.Map
}

const knownFor = 5 * time.Second

func (h *handler) forgetRegistry(name string) { h.known.Delete(name) }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	watchBody(w, r, h.cfg.BodyTimeout, h.cfg.BodyMinRate, h.metrics.bodyTimeouts.Inc)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	surface := h.route(rec, r)
	h.metrics.observe(surface, r.Method, rec.status, time.Since(start))
	h.log.Debug("request", "surface", surface, "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
}

func (h *handler) route(w http.ResponseWriter, r *http.Request) string {
	w.Header().Set("X-Ms-Correlation-Request-Id", ids.New())
	switch p := r.URL.Path; {
	case p == "/healthz":
		io.WriteString(w, "ok\n")
		return "health"
	case p == "/readyz":
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := h.meta.Ping(ctx); err != nil {
			http.Error(w, "metadata store unavailable", http.StatusServiceUnavailable)
		} else if ro := h.disk.readOnly(); ro != "" {
			// Ready on a full disk too: pulls are served.
			io.WriteString(w, "ok, "+ro+"\n")
		} else {
			io.WriteString(w, "ok\n")
		}
		return "health"
	case p == "/metrics":
		h.promHTTP.ServeHTTP(w, r)
		return "metrics"
	case p == "/v2" || strings.HasPrefix(p, "/v2/") || strings.HasPrefix(p, ociapi.ACRPrefix):
		h.registry.ServeHTTP(w, r)
		return "registry"
	case registryauth.Match(p):
		h.registryTokens.ServeHTTP(w, r)
		return "registry-token"
	case strings.HasPrefix(p, graph.Prefix):
		h.graph.ServeHTTP(w, r)
		return "directory"
	case sts.Match(p):
		h.sts.ServeHTTP(w, r)
		return "sts"
	case arm.Match(p):
		h.management.ServeHTTP(w, r)
		return "management"
	case oidcissuer.Match(p):
		h.issuers.ServeHTTP(w, r)
		return "oidc-issuer"
	case portal.Match(p):
		h.portal.ServeHTTP(w, r)
		return "portal"
	case web.Match(p):
		h.pages.ServeHTTP(w, r)
		return "web"
	case p == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		// People who open berth's address get the portal.
		http.Redirect(w, r, portal.Prefix+"/", http.StatusFound)
		return "portal"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, `{"error":{"code":"NotFound","message":"no such endpoint"}}`+"\n")
	return "other"
}

// registryFor picks the registry from the Host header.
func (h *handler) registryFor(r *http.Request) (string, error) {
	host := strings.ToLower(r.Host)
	if hp, _, err := net.SplitHostPort(host); err == nil {
		host = hp
	}
	name, ok := strings.CutSuffix(host, "."+h.cfg.RegistrySuffix)
	if !ok {
		return h.defaultRegistry, nil
	}
	if until, seen := h.known.Load(name); seen && time.Now().Before(until.(time.Time)) {
		return name, nil
	}
	if _, err := h.meta.GetRegistry(r.Context(), name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", registry.ErrRegistryUnknown
		}
		return "", err
	}
	h.known.Store(name, time.Now().Add(knownFor))
	return name, nil
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines) through the recorder.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ReadFrom keeps io.Copy's sendfile path on plain HTTP.
func (s *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	s.wroteHeader = true
	return io.Copy(s.ResponseWriter, r)
}

func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// federatedIssuers trusts the system's roots and, if caFile is set, the
// authorities it holds, for fetching federated issuers' documents.
func federatedIssuers(caFile string) (*federation.Issuers, error) {
	if caFile == "" {
		return &federation.Issuers{}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := pki.SystemRootsAnd(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caFile, err)
	}
	return &federation.Issuers{Roots: pool}, nil
}
