package web

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
)

// Style is a stylesheet inlined in pages and allowed by its hash in their
// Content-Security-Policy, so that no other style, script or resource of
// any kind can load.
type Style struct {
	CSS template.CSS
	csp string
}

// NewStyle is the sign-in pages' stylesheet followed by extra, the rules
// of another surface's pages (the portal's), so that they look alike.
func NewStyle(extra []byte) (Style, error) {
	css, err := templateFS.ReadFile("templates/style.css")
	if err != nil {
		return Style{}, err
	}
	css = append(css, extra...)
	sum := sha256.Sum256(css)
	return Style{
		CSS: template.CSS(css),
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
	}, nil
}

// CSP is the pages' Content-Security-Policy.
func (s Style) CSP() string { return s.csp }

// SetHeaders sets the headers every page is sent with: the policy, no
// framing, no referrer, no caching (pages may show a secret once), no
// content sniffing.
func (s Style) SetHeaders(h http.Header) {
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}
