package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// A client that announces a body and then sends nothing, or trickles it,
// would hold its connection (and a file descriptor) for as long as it
// likes: net/http bounds a request's head but not its body, and a
// whole-request ReadTimeout would cut off large pushes on slow links and,
// on HTTP/1, cancel the context of long downloads. So a body gets its own
// read deadline, moved on as bytes arrive (watchBody), and one client
// address may hold only so many connections (limitListener).

// errBodyTooSlow is what a handler reads from a body that stalled or
// trickled; it wraps os.ErrDeadlineExceeded, which surfaces map to their
// request-timeout answer.
type errBodyTooSlow struct {
	idle    time.Duration
	minRate int64
}

func (e *errBodyTooSlow) Error() string {
	return fmt.Sprintf("request body too slow: it paused for %s or arrived at under %d bytes/s", e.idle, e.minRate)
}

func (e *errBodyTooSlow) Unwrap() error { return os.ErrDeadlineExceeded }

// watchBody puts r's body under a read deadline: it may pause at most
// idle, and after that grace it must average minRate bytes a second
// (0: no minimum). The deadline only ever moves later, by whole seconds,
// so a fast body costs a deadline update a second at most.
func watchBody(w http.ResponseWriter, r *http.Request, idle time.Duration, minRate int64, tripped func()) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(w)
	now := time.Now()
	b := &watchedBody{ReadCloser: r.Body, rc: rc, idle: idle, minRate: minRate, start: now, deadline: now.Add(idle), tripped: tripped}
	if rc.SetReadDeadline(b.deadline) != nil {
		return
	}
	r.Body = b
}

type watchedBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	idle     time.Duration
	minRate  int64
	start    time.Time
	read     int64
	deadline time.Time
	tripped  func()
	once     sync.Once
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.once.Do(b.tripped)
		return n, &errBodyTooSlow{idle: b.idle, minRate: b.minRate}
	case err == io.EOF:
		// The whole body is in: on HTTP/1 the server now reads ahead
		// to notice the client leaving, and a deadline passing there
		// would cancel the request as it is being answered.
		b.rc.SetReadDeadline(time.Time{})
	case n > 0:
		b.extend(time.Now())
	}
	return n, err
}

// extend moves the deadline to idle from now, or, when that is later, to
// where the body falls below the minimum rate.
func (b *watchedBody) extend(now time.Time) {
	d := now.Add(b.idle)
	if b.minRate > 0 {
		// Whole seconds of credit, capped so that no body can overflow
		// a Duration.
		credit := time.Duration(min(b.read/b.minRate, 1<<32)) * time.Second
		if rated := b.start.Add(b.idle + credit); rated.Before(d) {
			d = rated
		}
	}
	if d.Sub(b.deadline) >= time.Second {
		b.deadline = d
		b.rc.SetReadDeadline(d)
	}
}

// limitListener closes, as soon as it accepts them, connections from a
// client that already holds max. Clients are IPv4 addresses and IPv6 /64
// prefixes: one host usually has a whole /64.
type limitListener struct {
	net.Listener
	max     int
	refused func()

	mu   sync.Mutex
	open map[string]int
}

func newLimitListener(ln net.Listener, max int, refused func()) net.Listener {
	if max <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, max: max, refused: refused, open: map[string]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		l.mu.Lock()
		full := l.open[key] >= l.max
		if !full {
			l.open[key]++
		}
		l.mu.Unlock()
		if !full {
			return &limitedConn{Conn: c, l: l, key: key}, nil
		}
		c.Close()
		l.refused()
	}
}

func (l *limitListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

func clientKey(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ip4 := tcp.IP.To4(); ip4 != nil {
		return ip4.String()
	}
	return tcp.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

type limitedConn struct {
	net.Conn
	l    *limitListener
	key  string
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.key) })
	return c.Conn.Close()
}
