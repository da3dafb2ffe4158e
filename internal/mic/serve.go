package mic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berthhq/berth/internal/cli"
)

// ServeOptions are berth mic's flags.
type ServeOptions struct {
	Kubeconfig string // empty: the pod's in-cluster configuration
	NodeFile   string
	// MetricsListen is where /metrics is served; empty: nowhere.
	MetricsListen string
	Options
}

// Serve is berth mic: MIC with the node file's identity, until ctx ends.
func Serve(ctx context.Context, o ServeOptions, stdout io.Writer, log *slog.Logger) error {
	node, err := cli.LoadNodeConfig(o.NodeFile)
	if err != nil {
		return err
	}
	if o.Machines, err = NewARM(node); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("the API server's configuration: %w", err)
	}
	reg := prometheus.NewRegistry()
	o.Registerer, o.Log = reg, log
	if o.MetricsListen != "" {
		ln, err := net.Listen("tcp", o.MetricsListen)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		fmt.Fprintf(stdout, "berth mic serves metrics at http://%s/metrics\n", ln.Addr())
	}
	log.Info("mic started", "api_server", cfg.Host, "berth", node.BerthServer, "namespaced", o.Namespaced)
	err = Run(ctx, cfg, o.Options)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
