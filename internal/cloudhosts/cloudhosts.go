package cloudhosts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The public cloud's host names berth answers for in this mode.
const (
	LoginHost      = "login.microsoftonline.com"
	ManagementHost = "management.azure.com"
	DirectoryHost  = "graph.microsoft.com"
	// RegistrySuffix is the public cloud's registry suffix: registry R
	// answers at R.azurecr.io.
	RegistrySuffix = "azurecr.io"
)

// Hosts are the names a server certificate must cover in this mode.
var Hosts = []string{LoginHost, ManagementHost, DirectoryHost, "*." + RegistrySuffix}

// Served reports whether host (no port) is one of the names berth
// answers for: a fixed name, or one label under the registry suffix, as a
// wildcard certificate covers.
func Served(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	switch host {
	case LoginHost, ManagementHost, DirectoryHost:
		return true
	}
	label, ok := strings.CutSuffix(host, "."+RegistrySuffix)
	return ok && validLabel(label)
}

func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// DefaultMaxTunnels bounds a proxy's open tunnels when MaxTunnels is 0.
const DefaultMaxTunnels = 1024

// Proxy tunnels CONNECT requests for the served names to Target.
type Proxy struct {
	// Target is berth's own listener, host:port.
	Target string
	// MaxTunnels bounds the tunnels open at once; more are refused with
	// 503 (0: DefaultMaxTunnels).
	MaxTunnels int
	Log        *slog.Logger

	once sync.Once
	sem  chan struct{}
}

// dialTimeout bounds reaching berth's own listener, which is local.
const dialTimeout = 10 * time.Second

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		w.Header().Set("Allow", http.MethodConnect)
		refuse(w, http.StatusMethodNotAllowed, "berth's proxy only tunnels HTTPS (CONNECT) to the public cloud's host names berth answers for")
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || port != "443" || !Served(host) {
		p.Log.Info("proxy: destination refused", "destination", r.Host)
		refuse(w, http.StatusForbidden, fmt.Sprintf("berth's proxy does not tunnel to %s: it only reaches berth, as %s, %s, %s and <registry>.%s on port 443",
			r.Host, LoginHost, ManagementHost, DirectoryHost, RegistrySuffix))
		return
	}
	p.once.Do(func() {
		n := p.MaxTunnels
		if n <= 0 {
			n = DefaultMaxTunnels
		}
		p.sem = make(chan struct{}, n)
	})
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	default:
		refuse(w, http.StatusServiceUnavailable, "berth's proxy has too many open tunnels; try again later")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
	up, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.Target)
	cancel()
	if err != nil {
		p.Log.Warn("proxy: berth unreachable", "target", p.Target, "err", err)
		refuse(w, http.StatusBadGateway, "berth's proxy cannot reach berth")
		return
	}
	defer up.Close()
	down, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		refuse(w, http.StatusInternalServerError, "berth's proxy cannot tunnel on this connection")
		return
	}
	defer down.Close()
	// The handler's deadlines (the head's read timeout) must not end the
	// tunnel: berth's own listener bounds the connection from here on.
	down.SetDeadline(time.Time{})
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	// The client may have sent its TLS hello with the CONNECT: it sits in
	// buf's reader.
	go func() { io.Copy(up, buf.Reader); done <- struct{}{} }()
	go func() { io.Copy(down, up); done <- struct{}{} }()
	// Either side ending ends the tunnel; closing both (deferred) unblocks
	// the other copy.
	<-done
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}
