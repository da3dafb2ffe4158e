package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// closeBound is how long a test waits for the server to close a
// connection it must close. It is a bound on a hang, far above the
// timeouts the servers here run with, not a measurement.
const closeBound = 30 * time.Second

// rawTLS opens an HTTP/1.1 connection without a client library, so that a
// test can send a request's head and then as much of its body as it likes.
func rawTLS(t *testing.T, s *berthtest.Server) (*tls.Conn, error) {
	t.Helper()
	cfg := s.TLSConfig()
	cfg.NextProtos = []string{"http/1.1"}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.Host, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// startUpload sends the head of a monolithic blob upload announcing size
// bytes, with the bootstrap administrator's credentials unless anonymous.
func startUpload(t *testing.T, s *berthtest.Server, repo string, size int, anonymous bool) *tls.Conn {
	t.Helper()
	c, err := rawTLS(t, s)
	if err != nil {
		t.Fatal(err)
	}
	auth := ""
	if !anonymous {
		auth = "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(s.Boot.ClientID+":"+s.Boot.ClientSecret)) + "\r\n"
	}
	d := oci.FromBytes(oci.SHA256, bytes.Repeat([]byte{'x'}, size))
	head := fmt.Sprintf("POST /v2/%s/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		repo, d, s.Host, auth, size)
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedByServer reads what the server sends until it closes the
// connection, and reports whether it did within closeBound, with the
// status line of any answer.
func closedByServer(c *tls.Conn) (bool, string) {
	c.SetReadDeadline(time.Now().Add(closeBound))
	r := bufio.NewReader(c)
	status, _ := r.ReadString('\n')
	_, err := io.Copy(io.Discard, r)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false, strings.TrimSpace(status)
	}
	return true, strings.TrimSpace(status)
}

// TestServeSlowClients: a request that announces a body and then sends
// nothing, or trickles it below the minimum rate, loses its connection
// after --body-timeout; an upload that keeps making progress succeeds,
// however long it takes. Over HTTP/2 a stalled body loses its stream. A
// request head left unfinished and a kept-alive connection left idle are
// closed too.
func TestServeSlowClients(t *testing.T) {
	s := berthtest.Start(t, "--body-timeout", "2s", "--body-min-rate", "1024", "--max-conns-per-client", "64",
		"--read-header-timeout", "2s", "--idle-timeout", "2s")

	t.Run("slow head", func(t *testing.T) {
		c, err := rawTLS(t, s)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n", s.Host)
		if closed, _ := closedByServer(c); !closed {
			t.Fatalf("a request head left unfinished still open after %s (--read-header-timeout 2s)", closeBound)
		}
	})

	t.Run("idle keep-alive connection", func(t *testing.T) {
		c, err := rawTLS(t, s)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", s.Host)
		if closed, status := closedByServer(c); !closed || !strings.Contains(status, " 200 ") {
			t.Fatalf("closed %v, status %q; want a 200, then the connection closed when idle (--idle-timeout 2s)", closed, status)
		}
	})

	t.Run("silent bodies", func(t *testing.T) {
		// Twenty uploads that stop after their head, authenticated and
		// not: none may hold its connection.
		var conns []*tls.Conn
		for i := range 20 {
			conns = append(conns, startUpload(t, s, "silent", 1<<20, i%2 == 1))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		open := 0
		for _, c := range conns {
			wg.Go(func() {
				if closed, _ := closedByServer(c); !closed {
					mu.Lock()
					open++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if open > 0 {
			t.Fatalf("%d of %d connections with a silent body still open after %s (--body-timeout 2s)", open, len(conns), closeBound)
		}
	})

	t.Run("small silent body", func(t *testing.T) {
		// Refused without reading the body (no credentials), the server
		// would read a small rest to keep the connection: that read is
		// bounded too.
		c := startUpload(t, s, "small", 100, true)
		if closed, status := closedByServer(c); !closed || !strings.Contains(status, " 401 ") {
			t.Fatalf("closed %v, status %q; want a 401, then the connection closed", closed, status)
		}
	})

	t.Run("trickle below the minimum rate", func(t *testing.T) {
		// A byte a second: never silent for --body-timeout, but far below
		// --body-min-rate.
		c := startUpload(t, s, "trickle", 1<<20, false)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
					if _, err := c.Write([]byte{'x'}); err != nil {
						return
					}
				}
			}
		}()
		if closed, status := closedByServer(c); !closed || !strings.Contains(status, " 408 ") {
			t.Fatalf("trickling upload: closed %v, status %q; want 408 and the connection closed", closed, status)
		}
	})

	t.Run("slow upload that makes progress", func(t *testing.T) {
		// 256 KiB in 8 KiB pieces every 100 ms, with a pause shorter than
		// --body-timeout: over three seconds in all, above the minimum
		// rate throughout.
		content := bytes.Repeat([]byte("slow but moving "), 16<<10)
		d := oci.FromBytes(oci.SHA256, content)
		pr, pw := io.Pipe()
		go func() {
			for i := 0; i < len(content); i += 8 << 10 {
				if i == len(content)/2 {
					time.Sleep(time.Second)
				}
				if _, err := pw.Write(content[i : i+8<<10]); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			pw.Close()
		}()
		resp, err := s.Do(context.Background(), "POST", "/v2/moving/blobs/uploads/?digest="+d.String(), pr, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("slow upload: %d", resp.StatusCode)
		}
		if code, body := get(t, s, "/v2/moving/blobs/"+d.String()); code != 200 || body != string(content) {
			t.Fatalf("slow upload's blob: %d, %d bytes", code, len(body))
		}
	})

	t.Run("HTTP/2 stream with a stalled body", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		go pw.Write([]byte("a start, then nothing"))
		ctx, cancel := context.WithTimeout(context.Background(), closeBound)
		defer cancel()
		resp, err := s.Do(ctx, "POST", "/v2/stalled/blobs/uploads/?digest=sha256:"+strings.Repeat("0", 64), pr, nil)
		if ctx.Err() != nil {
			t.Fatalf("HTTP/2 request with a stalled body still waiting after %s", closeBound)
		}
		if err == nil {
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("stalled HTTP/%d body: %d, want 408", resp.ProtoMajor, resp.StatusCode)
			}
		}
		// The connection still serves other requests.
		if code, _ := get(t, s, "/v2/"); code != 200 {
			t.Fatalf("after a stalled stream: %d", code)
		}
	})
}

// TestServeConnectionsPerClient: one client address holds at most
// --max-conns-per-client connections; more are closed at once, and a
// closed one makes room.
func TestServeConnectionsPerClient(t *testing.T) {
	s := berthtest.Start(t, "--max-conns-per-client", "4")
	var held []*tls.Conn
	for i := range 4 {
		c, err := rawTLS(t, s)
		if err != nil {
			t.Fatalf("connection %d of 4: %v", i+1, err)
		}
		held = append(held, c)
	}
	c, err := rawTLS(t, s)
	if err == nil {
		// The handshake can complete before the server closes; then the
		// first read says so.
		c.SetReadDeadline(time.Now().Add(closeBound))
		_, err = c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a fifth connection from the same address stayed open")
		}
	}
	if err == nil {
		t.Fatal("a fifth connection from the same address was served")
	}
	held[0].Close()
	deadline := time.Now().Add(closeBound)
	for {
		c, err := rawTLS(t, s)
		if err == nil {
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", s.Host)
			if _, status := closedByServer(c); strings.Contains(status, " 200 ") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after closing a connection: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The metrics come on yet another connection: make room for it (the
	// server may count the connection it just closed a moment longer).
	for _, c := range held[1:] {
		c.Close()
	}
	var resp *http.Response
	for deadline := time.Now().Add(closeBound); ; time.Sleep(50 * time.Millisecond) {
		if resp, err = s.Client().Get(s.URL + "/metrics"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	// At least the fifth; a retry above may have been refused too.
	var refused float64
	for _, line := range strings.Split(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(line, "berth_http_connections_refused_total "); ok {
			refused, _ = strconv.ParseFloat(v, 64)
		}
	}
	if refused < 1 {
		t.Errorf("refused connections counted: %v", refused)
	}
}
