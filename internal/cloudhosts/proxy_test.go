package cloudhosts

import (
	"bufio"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// startProxy serves a Proxy to a real TLS server that answers with the
// Host it was asked for.
func startProxy(t *testing.T, maxTunnels int) (proxy string, target *httptest.Server) {
	t.Helper()
	target = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "berth as "+r.Host)
	}))
	t.Cleanup(target.Close)
	p := &Proxy{Target: target.Listener.Addr().String(), MaxTunnels: maxTunnels, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ps := httptest.NewServer(p)
	t.Cleanup(ps.Close)
	return ps.Listener.Addr().String(), target
}

func rawConnect(t *testing.T, proxy, target string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return c, strings.TrimSpace(line)
}

// TestProxyTunnelsToBerth: a client asking for a served name reaches the
// target, whatever the name, over TLS end to end; the proxy sees only the
// CONNECT.
func TestProxyTunnelsToBerth(t *testing.T) {
	proxy, target := startProxy(t, 0)
	tr := target.Client().Transport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: proxy})
	// The test server's certificate names example.com; the name asked is
	// berth's, so the check is on the chain alone here.
	tr.TLSClientConfig = &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, ServerName: "example.com"}
	resp, err := (&http.Client{Transport: tr}).Get("https://management.azure.com/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "berth as management.azure.com" {
		t.Fatalf("through the proxy: %s", b)
	}
}

// TestProxyRefuses: other destinations and methods get a clear refusal,
// and tunnels beyond the bound get 503.
func TestProxyRefuses(t *testing.T) {
	proxy, target := startProxy(t, 1)
	for _, dest := range []string{"example.com:443", target.Listener.Addr().String(), "graph.microsoft.com:8443", "x.y.azurecr.io:443"} {
		c, got := rawConnect(t, proxy, dest)
		c.Close()
		if !strings.HasPrefix(got, "HTTP/1.1 403") {
			t.Errorf("CONNECT %s: %s", dest, got)
		}
	}
	resp, err := http.Get("http://" + proxy + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "CONNECT" {
		t.Errorf("GET: %d %v", resp.StatusCode, resp.Header)
	}
	first, got := rawConnect(t, proxy, "myregistry.azurecr.io:443")
	defer first.Close()
	if got != "HTTP/1.1 200 Connection established" {
		t.Fatalf("first tunnel: %s", got)
	}
	second, got := rawConnect(t, proxy, "myregistry.azurecr.io:443")
	second.Close()
	if !strings.HasPrefix(got, "HTTP/1.1 503") {
		t.Fatalf("a tunnel beyond the bound: %s", got)
	}
}
