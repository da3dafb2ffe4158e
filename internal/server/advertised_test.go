package server

import (
	"net"
	"testing"
)

// An unspecified listen address is not what clients are told to dial:
// they get a name the server certificate covers.
func TestAdvertised(t *testing.T) {
	for _, c := range []struct {
		addr  net.Addr
		hosts []string
		want  string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, nil, "127.0.0.1:8443"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8443}, nil, "localhost:8443"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8443}, []string{"registry.example.com", "10.0.0.5"}, "registry.example.com:8443"},
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 443}, []string{"registry.example.com"}, "10.0.0.5:443"},
	} {
		if got := advertised(c.addr, c.hosts); got != c.want {
			t.Errorf("advertised(%v, %v) = %q, want %q", c.addr, c.hosts, got, c.want)
		}
	}
}
