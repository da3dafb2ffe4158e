package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// portalTab is headless Chromium on s's portal, signed in as the
// bootstrap tenant's first user: the start of every portal browser test.
type portalTab struct {
	t       *testing.T
	ctx     context.Context
	browser func() context.Context
}

func signedInPortal(t *testing.T, s *berthtest.Server) *portalTab {
	t.Helper()
	p := &portalTab{t: t, browser: newBrowser(t, findChromium(t), s)}
	p.ctx = p.browser()
	p.load("berth's address", 200, chromedp.Navigate(s.URL+"/portal/"))
	p.load("sign in", 200, chromedp.SendKeys(chromedp.ID("username"), s.Boot.AdminUser), chromedp.SendKeys(chromedp.ID("password"), s.Boot.AdminPassword),
		chromedp.Submit(chromedp.ID("password")))
	return p
}

// load runs steps that load a page and fails the test unless the page
// answered want, naming it by what and its heading.
func (p *portalTab) load(what string, want int64, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	resp, err := chromedp.RunResponse(p.ctx, steps...)
	if err != nil || resp.Status != want {
		h1, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("h1")))
		p.t.Fatalf("%s: %v %v (want %d), page %q", what, resp, err, want, h1)
	}
}

// text is the trimmed text of the element sel selects.
func (p *portalTab) text(sel string) string {
	p.t.Helper()
	got, err := chromedp.Run(p.ctx, chromedp.Text(sel))
	if err != nil {
		p.t.Fatalf("%s: %v", sel, err)
	}
	return strings.TrimSpace(got)
}
