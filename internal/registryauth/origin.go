package registryauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/store"
)

// A refresh token must not outlive what it was minted from. It carries
// its origin, checked on every use:
//
//	secret:<application object id>/<key id>   a client secret: it must still be the application's, and current
//	admin:<password name>:<fingerprint>        an admin password: the admin user enabled, and that password not renewed
//	directory                                  a directory token: its principal must still exist in the registry's tenant
//
// Every principal's token also needs its service principal in the
// registry's tenant (deleting it withdraws consent), and role assignments
// are read on every use in any case. Renewal never extends a chain (see
// Token), so a chain ends at most the refresh lifetime after the
// credential was last presented.
const directoryOrigin = "directory"

func secretOrigin(appObjectID, keyID string) string { return "secret:" + appObjectID + "/" + keyID }

// adminOrigin names one admin password by its name and a fingerprint of
// its stored hash: a renewal gives the name a new hash.
func adminOrigin(p store.RegistryPassword) string {
	sum := sha256.Sum256(p.Hash)
	return "admin:" + p.Name + ":" + base64.RawURLEncoding.EncodeToString(sum[:12])
}

var errOriginGone = fail(ErrUnauthorized, "the credential this refresh token was minted from is no longer valid")

// verifyRefresh verifies a refresh token and that what it was minted from
// still stands.
func (s *Service) verifyRefresh(ctx context.Context, reg Registry, token string) (claims, error) {
	c, err := s.verify(ctx, reg, token, grantRefresh)
	if err != nil {
		return c, err
	}
	return c, s.checkOrigin(ctx, reg, c, time.Now())
}

func (s *Service) checkOrigin(ctx context.Context, reg Registry, c claims, now time.Time) error {
	if c.Kind == KindPrincipal {
		sp, err := s.Store.GetServicePrincipal(ctx, c.Subject)
		if errors.Is(err, store.ErrNotFound) || err == nil && sp.TenantID != reg.TenantID {
			return fail(ErrUnauthorized, "the principal %s no longer exists in the registry's tenant", c.Subject)
		}
		if err != nil {
			return err
		}
	}
	kind, rest, _ := strings.Cut(c.Origin, ":")
	switch kind {
	case "secret":
		app, keyID, _ := strings.Cut(rest, "/")
		ok, err := s.Clients.SecretCurrent(ctx, app, keyID, now)
		if err != nil {
			return err
		}
		if !ok {
			return errOriginGone
		}
	case "admin":
		if c.Kind != KindAdmin || !reg.AdminUserEnabled {
			return errOriginGone
		}
		pws, err := s.Store.ListRegistryPasswords(ctx, reg.Name)
		if err != nil {
			return err
		}
		for _, p := range pws {
			if adminOrigin(p) == c.Origin {
				return nil
			}
		}
		return errOriginGone
	case directoryOrigin:
		if c.Kind != KindPrincipal {
			return errOriginGone
		}
	default:
		// Tokens minted before origins were recorded carry none; they
		// expire within the refresh lifetime and renewals keep that end.
		if c.Kind == KindAdmin && !reg.AdminUserEnabled {
			return errOriginGone
		}
	}
	return nil
}
