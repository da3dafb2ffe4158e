package registryauth

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/ociapi"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
)

func TestBasicGate(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.CreateTenant(ctx, store.Tenant{ID: "t", Domain: "t.example", CreatedAt: now}))
	addApp := func(objectID, appID string) {
		must(db.CreateApplication(ctx, store.Application{ObjectID: objectID, AppID: appID, TenantID: "t", CreatedAt: now}))
	}
	addSecret := func(objectID, s string, start, end time.Time) {
		salt, sum := secret.Hash(s)
		must(db.AddPasswordCredential(ctx, store.PasswordCredential{KeyID: s, AppObjectID: objectID, Hint: secret.Hint(s), Salt: salt, Hash: sum, StartDateTime: start, EndDateTime: end}))
	}
	addApp("admin-obj", "admin")
	addApp("other-obj", "other")
	valid, expired, future, others := secret.Generate(), secret.Generate(), secret.Generate(), secret.Generate()
	addSecret("admin-obj", valid, now.Add(-time.Hour), now.Add(time.Hour))
	addSecret("admin-obj", expired, now.Add(-2*time.Hour), now.Add(-time.Hour))
	addSecret("admin-obj", future, now.Add(time.Hour), now.Add(2*time.Hour))
	addSecret("other-obj", others, now.Add(-time.Hour), now.Add(time.Hour))

	g := &BasicGate{Directory: db, Administrators: map[string]bool{"admin": true}, Realm: "r.example"}
	cases := []struct {
		name, user, pass string
		ok               bool
	}{
		{"valid secret", "admin", valid, true},
		{"valid secret again, from the cache", "admin", valid, true},
		{"wrong secret", "admin", valid + "x", false},
		{"expired secret", "admin", expired, false},
		{"secret not yet valid", "admin", future, false},
		{"not an administrator", "other", others, false},
		{"no credentials", "", "", false},
	}
	for _, c := range cases {
		req, _ := http.NewRequest("GET", "https://r.example/v2/", nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		err := g.Authorize(req, "reg", ociapi.Access{Type: "repository", Name: "x", Action: ociapi.ActionPush})
		var ch *ociapi.ChallengeError
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case !c.ok && !errors.As(err, &ch):
			t.Errorf("%s: err = %v, want a challenge", c.name, err)
		case !c.ok && ch.Challenge != `Basic realm="r.example"`:
			t.Errorf("%s: challenge %q", c.name, ch.Challenge)
		}
	}
}
