package nmi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/berthhq/berth/internal/cli"
)

// DefaultListen is NMI's address: every address of the node, port 2579
// as the original's, so that the node reaches HostTokenPath on loopback.
const DefaultListen = "0.0.0.0:2579"

// checkEvery is how often the pod interfaces' filtering is checked (and
// new interfaces made strict, which "default" already makes them).
const checkEvery = time.Second

// ServeOptions are berth nmi's flags.
type ServeOptions struct {
	Kubeconfig string // empty: the pod's in-cluster configuration
	// NodeFile, if set, says where berth's token service is, for
	// service principal identities.
	NodeFile string
	Listen   string
	// HostIP is the node's address the pods' requests are sent to; it
	// must be one of the node's, not loopback.
	HostIP string
	Config
}

// Serve is berth nmi until ctx ends: it installs its iptables rules, keeps
// the pod interfaces' reverse-path filtering strict, serves, and removes
// its rules when it stops. It prints "berth nmi is serving at
// http://ADDR" on stdout once pods' requests reach it.
func Serve(ctx context.Context, o ServeOptions, stdout io.Writer, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o.Log = log
	host := net.ParseIP(o.HostIP)
	if host == nil || host.To4() == nil || host.IsLoopback() || host.IsUnspecified() {
		return fmt.Errorf("--host-ip %q is not an IPv4 address of the node (not loopback)", o.HostIP)
	}
	if len(o.InterfacePrefixes) == 0 {
		return errors.New("no --interface-prefix: NMI would intercept no pod")
	}
	if o.NodeFile != "" {
		n, err := cli.LoadNodeConfig(o.NodeFile)
		if err != nil {
			return err
		}
		o.Berth, o.BerthCA = n.BerthServer, n.BerthCA
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("the API server's configuration: %w", err)
	}
	s, err := New(cfg, o.Config)
	if err != nil {
		return err
	}
	if err := s.guard.prepare(); err != nil {
		return err
	}
	listen := o.Listen
	if listen == "" {
		listen = DefaultListen
	}
	// IPv4 only: the rules that say who may reach NMI are IPv4's.
	ln, err := net.Listen("tcp4", listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	r := &rules{prefixes: o.InterfacePrefixes, to: net.JoinHostPort(o.HostIP, port), port: port}
	if err := r.install(); err != nil {
		r.remove()
		return err
	}
	defer func() {
		if err := r.remove(); err != nil {
			log.Error("removing NMI's iptables rules", "err", err)
		}
	}()
	go func() {
		t := time.NewTicker(checkEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.guard.check()
			}
		}
	}()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	// The pods' requests come to NMI from here on, and get 503 until it
	// knows the pods: never the node's identities.
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if err := s.Start(ctx); err != nil {
		srv.Close()
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	fmt.Fprintf(stdout, "berth nmi is serving at http://%s\n", ln.Addr())
	log.Info("nmi started", "node", o.NodeName, "listen", ln.Addr().String(), "host_ip", o.HostIP,
		"metadata_agent", o.MetadataAgent, "interfaces", o.InterfacePrefixes, "service_principals", o.Berth != "")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}
