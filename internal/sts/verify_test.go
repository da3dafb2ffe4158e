package sts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/jws"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/testutil/stores"
)

// memKeys is an in-memory signing key table.
type memKeys struct {
	mu   sync.Mutex
	keys []store.SigningKey
}

func (m *memKeys) CreateSigningKey(_ context.Context, k store.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, k)
	return nil
}

func (m *memKeys) ListSigningKeys(context.Context) ([]store.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.SigningKey(nil), m.keys...), nil
}

func (m *memKeys) RetireSigningKey(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].ID == id {
			m.keys[i].RetireAt = at
		}
	}
	return nil
}

const verifyTenant = "9b0c5a8e-0000-4000-8000-000000000002"

func verifyClaims(now time.Time) map[string]any {
	return map[string]any{
		"aud": "https://graph.microsoft.com/", "iss": "https://berth.example:8443/" + verifyTenant + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"tid": verifyTenant, "oid": "sp-object", "appid": testClientID, "ver": "1.0",
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	ring := &keys.Ring{Store: &memKeys{}, MaxTokenLifetime: time.Hour}
	if err := ring.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	meta, _ := stores.New(t)
	now := time.Now()
	for _, tid := range []string{verifyTenant, "other-tenant"} {
		if err := meta.CreateTenant(ctx, store.Tenant{ID: tid, Domain: tid + ".example", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for oid, tid := range map[string]string{"sp-object": verifyTenant, "elsewhere": "other-tenant"} {
		if err := meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: oid, TenantID: tid, AppID: oid + "-app",
			AppOwnerTenantID: tid, Type: store.PrincipalManagedIdentity, DisplayName: oid, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{Keys: ring, Directory: meta}
	key, err := ring.Signing(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(claims map[string]any) string {
		tok, err := jws.Sign(key, nil, claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	c, err := s.Verify(ctx, sign(verifyClaims(now)), Directory)
	if err != nil {
		t.Fatal(err)
	}
	if c.TenantID != verifyTenant || c.ObjectID != "sp-object" || c.AppID != testClientID {
		t.Errorf("claims %+v", c)
	}
	v2 := verifyClaims(now)
	delete(v2, "appid")
	v2["azp"], v2["iss"], v2["aud"] = testClientID, "http://127.0.0.1:1/"+verifyTenant+"/v2.0", "api://berth/directory"
	if c, err := s.Verify(ctx, sign(v2), Directory); err != nil || c.AppID != testClientID {
		t.Errorf("v2 token: %+v %v", c, err)
	}

	bad := map[string]func(map[string]any){
		"expired":                     func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() },
		"no exp":                      func(c map[string]any) { delete(c, "exp") },
		"future":                      func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() },
		"wrong aud":                   func(c map[string]any) { c["aud"] = "https://management.azure.com" },
		"unknown aud":                 func(c map[string]any) { c["aud"] = "https://example.com" },
		"other tenant":                func(c map[string]any) { c["iss"] = "https://h/other-tenant/" },
		"issuer path":                 func(c map[string]any) { c["iss"] = "https://h/" + verifyTenant + "/x" },
		"no oid":                      func(c map[string]any) { delete(c, "oid") },
		"deleted principal":           func(c map[string]any) { c["oid"] = "deleted" },
		"principal of another tenant": func(c map[string]any) { c["oid"] = "elsewhere" },
	}
	for name, edit := range bad {
		claims := verifyClaims(now)
		edit(claims)
		if _, err := s.Verify(ctx, sign(claims), Directory); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v", name, err)
		}
	}

	good := sign(verifyClaims(now))
	parts := strings.Split(good, ".")
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	forged := verifyClaims(now)
	forged["tid"] = "attacker"
	mac := hmac.New(sha256.New, key.Certificate)
	hsInput := enc(map[string]any{"alg": "HS256", "kid": key.ID}) + "." + parts[1]
	mac.Write([]byte(hsInput))
	for name, tok := range map[string]string{
		"none":           enc(map[string]any{"alg": "none", "kid": key.ID}) + "." + parts[1] + ".",
		"HS256":          hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)),
		"changed claims": parts[0] + "." + enc(forged) + "." + parts[2],
		"unknown kid":    enc(map[string]any{"alg": "RS256", "kid": "nope"}) + "." + parts[1] + "." + parts[2],
		"garbage":        "a.b",
	} {
		if _, err := s.Verify(ctx, tok, Directory); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
