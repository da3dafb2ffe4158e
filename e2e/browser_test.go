package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// lookChromium returns Chromium's path, or "" when it is not installed. It
// fails instead when BERTH_REQUIRE_TOOLS=1, as in CI, so that the browser
// tests cannot pass there by being skipped.
func lookChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if os.Getenv("BERTH_REQUIRE_TOOLS") == "1" {
		return "", errors.New("chromium is required (BERTH_REQUIRE_TOOLS=1)")
	}
	return "", nil
}

func findChromium(t *testing.T) string {
	t.Helper()
	p, err := lookChromium()
	if err != nil {
		t.Fatal(err)
	}
	if p == "" {
		t.Skip("chromium not installed")
	}
	return p
}

// serverSPKI is the base64 SHA-256 of the server certificate's public
// key, the form --ignore-certificate-errors-spki-list takes.
func serverSPKI(s *berthtest.Server) (string, error) {
	conn, err := tls.Dial("tcp", s.Host, s.TLSConfig())
	if err != nil {
		return "", err
	}
	defer conn.Close()
	spki := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(spki[:]), nil
}

// startBrowser starts headless Chromium with its profile in the empty
// directory profile, so that no cookies carry over from another browser,
// and returns its tab's context, which ends after 90 seconds or at stop.
//
// Chromium trusts berth's certificate by its public key only (spki, see
// serverSPKI), so that the tests need no NSS database for berth's CA and
// every other certificate is still checked. It runs with --no-sandbox
// because CI runs as root, where Chromium's sandbox refuses to start.
func startBrowser(chromium, spki, profile string) (ctx context.Context, stop func()) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(900, 760),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	return ctx, func() { cancelTimeout(); cancel(); cancelAlloc() }
}

// newBrowser returns a func that starts a fresh headless Chromium (see
// startBrowser), stopping the one before, and gives its tab's context.
func newBrowser(t *testing.T, chromium string, s *berthtest.Server) func() context.Context {
	t.Helper()
	spki, err := serverSPKI(s)
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {}
	t.Cleanup(func() { stop() })
	return func() context.Context {
		t.Helper()
		stop() // one browser at a time
		var ctx context.Context
		ctx, stop = startBrowser(chromium, spki, t.TempDir())
		return ctx
	}
}

// browserCommand is the scenario scripts' person at a browser:
//
//	browser consent URL USER PASSWORD
//
// opens a consent URL (any of the three forms in docs/wire.md) in a fresh
// headless Chromium, signs in as USER, ticks "consent on behalf of your
// organization" and accepts, as step 2 of scenario S3
// (testdata/scenarios/s3_cross_tenant_cluster.txtar) has tenant B's
// administrator do, and prints the query of the redirect URI the browser
// was sent to, one key=value a line in key order. It fails, with the
// page's heading, when no consent page follows the sign-in, and when the
// redirect carries an error. Scripts that use it start with
// `[!chromium] skip`, since a command cannot skip its script.
func browserCommand(ts *testscript.TestScript, chromium, spki string, args []string) error {
	if len(args) != 4 || args[0] != "consent" {
		return errors.New("usage: browser consent URL USER PASSWORD")
	}
	if chromium == "" {
		return errors.New("chromium not installed: start the script with [!chromium] skip")
	}
	profile, err := os.MkdirTemp("", "berth-chromium-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	ctx, stop := startBrowser(chromium, spki, profile)
	defer stop()
	redirect, err := consentInBrowser(ctx, args[1], args[2], args[3])
	if redirect != nil {
		for _, k := range slices.Sorted(maps.Keys(redirect)) {
			for _, v := range redirect[k] {
				fmt.Fprintf(ts.Stdout(), "%s=%s\n", k, v)
			}
		}
	}
	return err
}

// consentInBrowser drives the tab through the sign-in and consent pages
// of consentURL and returns the query of the redirect the consent ended
// in. The registered redirect URI need not be reachable: the browser's
// navigation to it is intercepted (DevTools Fetch domain), recorded and
// answered with a blank page, so nothing leaves the machine and the load
// ends at once.
func consentInBrowser(ctx context.Context, consentURL, user, password string) (url.Values, error) {
	u, err := url.Parse(consentURL)
	if err != nil {
		return nil, err
	}
	want, err := url.Parse(u.Query().Get("redirect_uri"))
	if err != nil || want.Host == "" {
		return nil, fmt.Errorf("%s names no redirect_uri", consentURL)
	}
	origin := u.Scheme + "://" + u.Host + "/"

	sent := make(chan string, 1)
	intercepted := make(chan error, 1)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	go func() {
		intercepted <- func() error {
			for ev, err := range paused {
				if err != nil {
					return err
				}
				if strings.HasPrefix(ev.Request.URL, origin) {
					if _, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID}); err != nil {
						return err
					}
					continue
				}
				select {
				case sent <- ev.Request.URL:
				default:
					return fmt.Errorf("a second navigation away from berth, to %s", ev.Request.URL)
				}
				if _, err := chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
					RequestID: ev.RequestID, ResponseCode: 200,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}},
					Body:            []byte("<!DOCTYPE html><title>redirect recorded</title>"),
				}); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	// failed reports the page's heading, which names what went wrong, with
	// an interception error first since it would explain a stuck page.
	failed := func(what string, err error) error {
		select {
		case ierr := <-intercepted:
			if ierr != nil {
				return fmt.Errorf("%s: intercepting navigations: %v", what, ierr)
			}
		default:
		}
		if err != nil {
			return fmt.Errorf("%s: %v", what, err)
		}
		h1, herr := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
		if herr != nil {
			return fmt.Errorf("%s: no heading: %v", what, herr)
		}
		return fmt.Errorf("%s: %s", what, h1)
	}
	hasElement := func(id string) bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("`+id+`") !== null`))
		return err == nil && ok
	}

	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{
		Patterns: []*fetch.RequestPattern{{URLPattern: "*", ResourceType: network.ResourceTypeDocument}},
	}); err != nil {
		return nil, err
	}
	if resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(consentURL)); err != nil || resp.Status != 200 || !hasElement("username") {
		return nil, failed("no sign-in page", err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password+kb.Enter)); err != nil || !hasElement("consent_org") {
		return nil, failed("no consent page after signing in as "+user, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("consent_org"))); err != nil {
		return nil, failed("ticking the box", err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[value=accept]`))); err != nil {
		return nil, failed("accepting", err)
	}
	var got *url.URL
	select {
	case to := <-sent:
		if got, err = url.Parse(to); err != nil {
			return nil, err
		}
	default:
		return nil, failed("no redirect after accepting", nil)
	}
	if want.Path == "" {
		want.Path = "/" // as the browser writes it
	}
	if got.Scheme != want.Scheme || got.Host != want.Host || got.Path != want.Path {
		return nil, fmt.Errorf("sent to %s, not to the redirect URI %s", got, want)
	}
	q := got.Query()
	if q.Has("error") {
		return q, fmt.Errorf("the consent ended in error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	return q, nil
}
