package redirecturi

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Limits of the cloud's application model.
const (
	MaxLength = 256
	MaxCount  = 256
)

// ErrInvalid is wrapped by every refusal.
var ErrInvalid = errors.New("invalid redirect URI")

// refused are characters no redirect URI may hold besides spaces,
// controls and non-ASCII (write international names in punycode): the
// cloud refuses ! $ ' ( ) , ; and browsers read a backslash as a slash,
// where net/url does not.
const refused = "!$'(),;\\"

// uri is a redirect URI that passed Check.
type uri struct {
	raw      string
	u        *url.URL
	loopback bool // http on a loopback host
}

func parse(raw string) (uri, error) {
	bad := func(why string) (uri, error) { return uri{}, fmt.Errorf("%w %q: %s", ErrInvalid, raw, why) }
	if len(raw) > MaxLength {
		return bad(fmt.Sprintf("longer than %d characters", MaxLength))
	}
	for _, c := range raw {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(refused, c) {
			return bad(fmt.Sprintf("the character %q is not allowed", c))
		}
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return bad("not a URI")
	case u.Scheme != "https" && u.Scheme != "http":
		return bad("the scheme must be https, or http on a loopback host")
	case u.Opaque != "" || u.Host == "":
		return bad("not an absolute URI with a host")
	case u.User != nil:
		return bad("user information is not allowed")
	case strings.Contains(raw, "#"):
		return bad("a fragment is not allowed")
	}
	loopback := isLoopback(u.Hostname())
	if u.Scheme == "http" && !loopback {
		return bad("http is allowed only on a loopback host (localhost, 127.0.0.0/8, [::1])")
	}
	return uri{raw: raw, u: u, loopback: u.Scheme == "http"}, nil
}

// isLoopback reports whether host names this machine: localhost, or an
// IP literal of 127.0.0.0/8 or ::1. Nothing else is resolved.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Check reports whether raw may be registered on an application.
func Check(raw string) error {
	_, err := parse(raw)
	return err
}

// CheckAll checks an application's whole list.
func CheckAll(uris []string) error {
	if len(uris) > MaxCount {
		return fmt.Errorf("%w: more than %d redirect URIs", ErrInvalid, MaxCount)
	}
	for _, u := range uris {
		if err := Check(u); err != nil {
			return err
		}
	}
	return nil
}

// Match returns where a browser may be sent for a request that names
// requested, given an application's registered URIs: requested itself,
// if it equals one that passes Check or, for an http loopback URI,
// differs from one only in its port.
func Match(registered []string, requested string) (string, bool) {
	q, err := parse(requested)
	if err != nil {
		return "", false
	}
	for _, raw := range registered {
		r, err := parse(raw)
		if err != nil {
			continue
		}
		if r.raw == q.raw || (r.loopback && q.loopback && samePortless(r.u, q.u)) {
			return requested, true
		}
	}
	return "", false
}

// samePortless compares two loopback URIs without their ports.
func samePortless(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && a.Scheme == b.Scheme &&
		a.EscapedPath() == b.EscapedPath() && a.RawQuery == b.RawQuery && a.ForceQuery == b.ForceQuery
}
