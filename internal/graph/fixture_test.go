package graph

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/sts"
	"github.com/berthhq/berth/internal/testutil/stores"
)

// caller is a service principal the handler tests call as: its object id
// is also its test token (see tokens), in tenant "t" unless it names
// another, which is then created with the domain "<tenant>.example".
type caller struct {
	id, tenant string
	roles      []string
}

// fixture is the directory API over real stores, with its callers.
type fixture struct {
	t    *testing.T
	meta *sqlstore.DB
	h    *Handler
}

func newFixture(t *testing.T, callers ...caller) *fixture {
	t.Helper()
	meta, _ := stores.New(t)
	ctx := context.Background()
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	toks := tokens{}
	tenants := map[string]bool{"t": true}
	for _, c := range callers {
		if c.tenant == "" {
			c.tenant = "t"
		}
		if !tenants[c.tenant] {
			must(meta.CreateTenant(ctx, store.Tenant{ID: c.tenant, Domain: c.tenant + ".example", CreatedAt: now}))
			tenants[c.tenant] = true
		}
		must(meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: c.id, TenantID: c.tenant, AppID: "app-" + c.id, Type: store.PrincipalApplication, DisplayName: c.id, CreatedAt: now}))
		for _, r := range c.roles {
			must(meta.AddDirectoryRole(ctx, c.tenant, c.id, r))
		}
		toks[c.id] = sts.Claims{TenantID: c.tenant, ObjectID: c.id}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &fixture{t: t, meta: meta, h: NewHandler(&Service{Directory: meta, Audit: &audit.Trail{Store: meta, Log: log}}, toks, log)}
}

// do sends a request as token ("" sends none) and returns the decoded
// answer and its raw body.
func (f *fixture) do(token, method, path, body string) (call, string) {
	f.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	c := call{status: w.Code}
	json.Unmarshal(w.Body.Bytes(), &c.body)
	return c, w.Body.String()
}

// errorCode is the graph error code of an answer.
func errorCode(c call) string {
	e, _ := c.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
