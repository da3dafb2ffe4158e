package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// clientToken gets a v1 management token with the bootstrap credentials.
func clientToken(t *testing.T, s *berthtest.Server) string {
	t.Helper()
	resp, err := s.Client().PostForm(s.URL+"/"+s.Boot.TenantID+"/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {s.Boot.ClientID}, "client_secret": {s.Boot.ClientSecret},
		"resource": {"https://management.core.windows.net/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	json.Unmarshal(b, &h)
	return h.Kid
}

// TestKeyRotation: a rotated-in key is published at once but does not sign
// until its publication window has passed, and a token signed before the
// rotation still verifies after it.
func TestKeyRotation(t *testing.T) {
	s := berthtest.Start(t)
	ctx := context.Background()
	before := clientToken(t, s)
	out, err := operator(t, s, "keys", "rotate", "--publish-for", "1h")
	if err != nil || !strings.Contains(out, "new signing key") {
		t.Fatalf("berth keys rotate: %v\n%s", err, out)
	}
	var jwks struct {
		Keys []struct{ Kid string } `json:"keys"`
	}
	getJSON(t, s, "/common/discovery/keys", &jwks)
	if len(jwks.Keys) != 2 {
		t.Fatalf("%d keys published right after the rotation, want the old and the new", len(jwks.Keys))
	}
	after := clientToken(t, s)
	if kidOf(t, after) != kidOf(t, before) {
		t.Fatal("the new key signs before its publication window has passed")
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, s.Client()), s.URL+"/"+s.Boot.TenantID+"/")
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "https://management.core.windows.net/"})
	if _, err := verifier.Verify(oidc.ClientContext(ctx, s.Client()), before); err != nil {
		t.Fatalf("a token signed before the rotation does not verify after it: %v", err)
	}
	if out, err := operator(t, s, "keys", "spin"); err == nil {
		t.Fatalf("berth keys spin succeeded: %s", out)
	}
}
