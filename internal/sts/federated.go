package sts

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/store"
)

// checkFederated authenticates an application with a token of another
// issuer (a cluster's service account token, say) through one of its
// federated identity credentials: issuer, subject and one audience must
// match exactly, as the cloud compares them, before the issuer's keys are
// fetched to verify the token. A token naming an issuer no credential
// trusts never makes berth fetch anything.
func (s *Service) checkFederated(ctx context.Context, tenantID string, app store.Application, assertion string, c federation.Claims, now time.Time) error {
	creds, err := s.Directory.ListFederatedCredentials(ctx, app.ObjectID)
	if err != nil {
		return err
	}
	var byIssuer, bySubject []store.FederatedCredential
	for _, fc := range creds {
		if fc.Issuer == c.Issuer {
			byIssuer = append(byIssuer, fc)
		}
	}
	for _, fc := range byIssuer {
		if fc.Subject == c.Subject {
			bySubject = append(bySubject, fc)
		}
	}
	matched := false
	for _, fc := range bySubject {
		for _, a := range fc.Audiences {
			matched = matched || slices.Contains(c.Audience, a)
		}
	}
	switch {
	case len(byIssuer) == 0:
		return rejectAssertion(ErrAssertionIssuer, "%s", c.Issuer)
	case len(bySubject) == 0:
		return rejectAssertion(ErrAssertionSubject, "%s", c.Subject)
	case !matched:
		return rejectAssertion(ErrAssertionAudience, "%s", strings.Join(c.Audience, ", "))
	}
	_, err = s.Issuers.Verify(ctx, assertion, tenantID, now)
	switch {
	case errors.Is(err, federation.ErrIssuerUnreachable):
		return rejectAssertion(ErrExternalOIDC, "%v", err)
	case errors.Is(err, federation.ErrTimeRange):
		return rejectAssertion(ErrAssertionTimeRange, "%v", err)
	case errors.Is(err, federation.ErrSignature):
		return rejectAssertion(ErrAssertionSignature, "%v", err)
	case errors.Is(err, federation.ErrMalformed):
		return rejectAssertion(ErrAssertionMalformed, "%v", err)
	}
	return err
}
