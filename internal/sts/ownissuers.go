package sts

import (
	"context"
	"crypto"
	"errors"
	"time"

	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/store"
)

// OwnIssuers knows berth's own tenants as issuers of federated tokens: a
// token a tenant's managed identity got for the token exchange audience
// (issuer <berth>/<tenant>/v2.0, subject the identity's object id) is what
// an application's federated credential trusts to let the identity act as
// the application, in any tenant that consented to it. Such tokens verify
// with berth's own published keys: nothing is fetched, from berth or
// elsewhere. Other issuers are Next's to know.
type OwnIssuers struct {
	Service *Service
	Next    federation.Known
}

// KnownIssuer recognizes <scheme://host>/<tenant id>/v2.0 for a tenant of
// berth's directory. The host is not checked: a token verifies only if
// berth signed it, and berth signs only for its own principals, so the
// subject a credential names is what decides.
func (o OwnIssuers) KnownIssuer(ctx context.Context, iss string) (federation.KnownIssuer, bool, error) {
	if tenantID, ok := federation.OwnIssuerTenant(iss); ok {
		_, err := o.Service.Directory.GetTenant(ctx, tenantID)
		if err == nil {
			set, err := o.publishedKeys(ctx)
			return federation.KnownIssuer{Hosted: true, Keys: set}, err == nil, err
		}
		if !errors.Is(err, store.ErrNotFound) {
			return federation.KnownIssuer{}, false, err
		}
	}
	if o.Next == nil {
		return federation.KnownIssuer{}, false, nil
	}
	return o.Next.KnownIssuer(ctx, iss)
}

func (o OwnIssuers) publishedKeys(ctx context.Context) (federation.KeySet, error) {
	keys, err := o.Service.Keys.Published(ctx, time.Now())
	if err != nil {
		return federation.KeySet{}, err
	}
	pubs := make(map[string]crypto.PublicKey, len(keys))
	for _, k := range keys {
		pubs[k.ID] = &k.Private.PublicKey
	}
	return federation.KeySetOf(pubs)
}
