package imds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// DefaultAddress is where clients with the address compiled in look for
// the metadata endpoint.
const DefaultAddress = "169.254.169.254:80"

// Options configure Serve.
type Options struct {
	// VM is the machine's resource id; it must be the credential's, so an
	// agent started with another machine's file says so at once.
	VM         string
	Credential *CredentialFile
	// Listen is HOST:PORT; empty means DefaultAddress, if that address is
	// one of this machine's.
	Listen         string
	IdentityHeader string
}

// Serve runs the agent until ctx is done. It prints "berth imds is
// serving at http://ADDR" on stdout once it listens.
func Serve(ctx context.Context, o Options, stdout io.Writer, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !strings.EqualFold(o.VM, o.Credential.ResourceID) {
		return fmt.Errorf("--vm %s is not the machine of the credential file (%s)", o.VM, o.Credential.ResourceID)
	}
	listen := o.Listen
	if listen == "" {
		local, err := isLocal(DefaultAddress)
		if err != nil {
			return err
		}
		if !local {
			return errors.New("169.254.169.254 is not an address of this machine; add it (ip addr add 169.254.169.254/32 dev lo) or give --listen HOST:PORT")
		}
		listen = DefaultAddress
	}
	agent, err := NewAgent(o.Credential, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: Handler(agent, o.IdentityHeader), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(stdout, "berth imds is serving at http://%s\n", ln.Addr())
	log.Info("metadata agent started", "vm", o.Credential.ResourceID, "listen", ln.Addr().String(),
		"server", o.Credential.Server, "app_service_form", o.IdentityHeader != "")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}

func isLocal(hostport string) (bool, error) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false, err
	}
	want := net.ParseIP(host)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(want) {
			return true, nil
		}
	}
	return false, nil
}
