package sts

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/jws"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/testutil/stores"
)

type nextKnown map[string]federation.KnownIssuer

func (n nextKnown) KnownIssuer(_ context.Context, iss string) (federation.KnownIssuer, bool, error) {
	k, ok := n[iss]
	return k, ok, nil
}

// A token berth signed for its own tenant's issuer verifies with berth's
// keys, with nothing fetched (the issuer's host answers nothing here);
// another tenant id or another form of URL is the next Known's.
func TestOwnIssuers(t *testing.T) {
	ctx := context.Background()
	ring := &keys.Ring{Store: &memKeys{}, MaxTokenLifetime: time.Hour}
	if err := ring.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	meta, _ := stores.New(t)
	now := time.Now()
	if err := meta.CreateTenant(ctx, store.Tenant{ID: verifyTenant, Domain: "a.example", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	iss := "https://127.0.0.1:1/" + verifyTenant + "/v2.0"
	cluster := "https://127.0.0.1:1/oidc/" + verifyTenant + "/guid/"
	own := OwnIssuers{Service: &Service{Keys: ring, Directory: meta}, Next: nextKnown{cluster: {Hosted: true}}}
	issuers := &federation.Issuers{Known: own}
	key, err := ring.Signing(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(iss string) string {
		tok, err := jws.Sign(key, map[string]any{"kid": key.ID}, map[string]any{
			"iss": iss, "sub": "identity-object-id", "aud": TokenExchangeURI, "exp": now.Add(time.Hour).Unix(), "nbf": now.Unix(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if c, err := issuers.Verify(ctx, sign(iss), verifyTenant, now); err != nil || c.Subject != "identity-object-id" {
		t.Fatalf("berth's own tenant's token: %+v %v", c, err)
	}
	// A token for the token exchange audience is a federated assertion
	// and nothing else: no surface's check accepts it.
	for _, want := range []Resource{Management, Directory, Registry} {
		if _, err := own.Service.Verify(ctx, sign(iss), want); err == nil {
			t.Errorf("a token exchange token verified as a %s token", want.Name)
		}
	}
	if _, err := issuers.Verify(ctx, sign("https://127.0.0.1:1/no-such-tenant/v2.0"), verifyTenant, now); !errors.Is(err, federation.ErrIssuerUnreachable) {
		t.Errorf("a tenant berth does not have: %v, want it fetched (and unreachable)", err)
	}
	for _, tc := range []struct {
		iss   string
		known bool
	}{
		{iss, true},
		{"https://127.0.0.1:1/" + verifyTenant + "/", false},
		{"http://127.0.0.1:1/" + verifyTenant + "/v2.0", false},
		{"https://127.0.0.1:1/x/" + verifyTenant + "/v2.0", false},
		{cluster, true},
	} {
		if _, found, err := own.KnownIssuer(ctx, tc.iss); err != nil || found != tc.known {
			t.Errorf("KnownIssuer(%s) = %v, %v; want %v", tc.iss, found, err, tc.known)
		}
	}
}
