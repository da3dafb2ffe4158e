package controlplane

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

// IssuerPathPrefix is where berth serves the issuers it hosts for
// clusters: <base>/oidc/<tenant id>/<random id>/, the cloud's shape
// under berth's own address.
const IssuerPathPrefix = "/oidc/"

// Bounds of a cluster's API server issuer's CA certificates.
const (
	maxIssuerCABytes = 64 << 10
	maxIssuerCAs     = 16
)

// issuerInput is what a PUT or PATCH of a cluster says of its issuer;
// absent fields keep what the cluster has.
type issuerInput struct {
	OIDCIssuerProfile *struct {
		Enabled            *bool           `json:"enabled"`
		ServiceAccountKeys json.RawMessage `json:"serviceAccountKeys"`
		APIServerIssuer    *struct {
			URL            string `json:"url"`
			CACertificates string `json:"caCertificates"`
		} `json:"apiServerIssuer"`
	} `json:"oidcIssuerProfile"`
	SecurityProfile *struct {
		WorkloadIdentity *struct {
			Enabled *bool `json:"enabled"`
		} `json:"workloadIdentity"`
	} `json:"securityProfile"`
}

// applyIssuer applies what in says of the cluster r's issuers to p,
// whose issuers are old's (nil for a new cluster), claiming new issuer
// URLs for r. On error, what it claimed is released again and p is as
// it was.
func (s *Service) applyIssuer(ctx context.Context, tenantID string, r store.Resource, old *resourcetype.OIDCIssuerProfile, p *resourcetype.ClusterProperties, in ResourceInput) (err error) {
	var pin issuerInput
	if err := decodeInput(in.Properties, &pin); err != nil {
		return err
	}
	next := resourcetype.OIDCIssuerProfile{}
	if old != nil {
		next = *old
	}
	var claimed []string
	defer func() {
		if err != nil {
			for _, iss := range claimed {
				s.releaseIssuer(ctx, iss, r.ID)
			}
		}
	}()
	if ip := pin.OIDCIssuerProfile; ip != nil {
		if ip.Enabled != nil && !*ip.Enabled && next.Enabled {
			return fail(ErrBadRequest, "BadRequest", "The OIDC issuer of the cluster %s cannot be disabled once enabled: tokens and federated credentials name its URL.", r.Name)
		}
		if ip.Enabled != nil && *ip.Enabled && !next.Enabled {
			if in.IssuerBase == "" {
				return errors.New("controlplane: no base URL for a cluster's issuer")
			}
			next.Enabled = true
			next.IssuerURL = strings.TrimSuffix(in.IssuerBase, "/") + IssuerPathPrefix + tenantID + "/" + ids.New() + "/"
			if err := s.claimIssuer(ctx, next.IssuerURL, r.ID); err != nil {
				return err
			}
			claimed = append(claimed, next.IssuerURL)
		}
		if len(ip.ServiceAccountKeys) > 0 && string(ip.ServiceAccountKeys) != "null" {
			if !next.Enabled {
				return fail(ErrBadRequest, "BadRequest", "Service account keys are for the OIDC issuer berth hosts: enable it (oidcIssuerProfile.enabled) first or in the same request.")
			}
			if next.ServiceAccountKeys, err = serviceAccountKeys(ip.ServiceAccountKeys); err != nil {
				return err
			}
		}
		if ai := ip.APIServerIssuer; ai != nil {
			if ai.URL == "" {
				next.APIServerIssuer = nil
			} else {
				if err := checkIssuerURL(ai.URL); err != nil {
					return err
				}
				if err := checkCAs(ai.CACertificates); err != nil {
					return err
				}
				if next.APIServerIssuer == nil || next.APIServerIssuer.URL != ai.URL {
					if err := s.claimIssuer(ctx, ai.URL, r.ID); err != nil {
						return err
					}
					claimed = append(claimed, ai.URL)
				}
				next.APIServerIssuer = &resourcetype.APIServerIssuer{URL: ai.URL, CACertificates: ai.CACertificates}
			}
		}
	}
	wi := p.SecurityProfile != nil && p.SecurityProfile.WorkloadIdentity != nil && p.SecurityProfile.WorkloadIdentity.Enabled
	if sp := pin.SecurityProfile; sp != nil && sp.WorkloadIdentity != nil && sp.WorkloadIdentity.Enabled != nil {
		wi = *sp.WorkloadIdentity.Enabled
	}
	if wi && !next.Enabled {
		return fail(ErrBadRequest, "BadRequest", "Enabling workload identity requires enabling OIDC issuer (oidcIssuerProfile.enabled; berth aks update --enable-oidc-issuer).")
	}
	// The API server issuer the cluster no longer names is released
	// last, when nothing can fail any more.
	if old != nil && old.APIServerIssuer != nil && (next.APIServerIssuer == nil || next.APIServerIssuer.URL != old.APIServerIssuer.URL) {
		s.releaseIssuer(ctx, old.APIServerIssuer.URL, r.ID)
	}
	if next.Enabled || next.APIServerIssuer != nil {
		p.OIDCIssuerProfile = &next
	}
	if wi || p.SecurityProfile != nil {
		p.SecurityProfile = &resourcetype.SecurityProfile{WorkloadIdentity: &resourcetype.WorkloadIdentity{Enabled: wi}}
	}
	return nil
}

// serviceAccountKeys reads uploaded keys: a key set, or a string of PEM
// public keys or of a key set's JSON. They are kept as the key set berth
// serves.
func serviceAccountKeys(raw json.RawMessage) (json.RawMessage, error) {
	data := []byte(raw)
	var text string
	if json.Unmarshal(raw, &text) == nil {
		data = []byte(text)
	}
	set, err := federation.ParseKeys(data)
	if err != nil {
		return nil, fail(ErrBadRequest, "InvalidParameter", "oidcIssuerProfile.serviceAccountKeys: %s.", strings.TrimPrefix(err.Error(), federation.ErrBadKeys.Error()+": "))
	}
	return json.Marshal(set)
}

func checkIssuerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || len(s) > 600 {
		return fail(ErrBadRequest, "InvalidParameter", "oidcIssuerProfile.apiServerIssuer.url '%s' is not an issuer: an https URL without query or fragment, as the API server's --service-account-issuer.", s)
	}
	return nil
}

// checkCAs reads the CA certificates a cluster names for its API
// server's issuer: PEM certificates, bounded, or none.
func checkCAs(p string) error {
	_, err := issuerCAs(p)
	return err
}

// issuerCAs parses the CA certificates of an API server issuer.
func issuerCAs(p string) ([]*x509.Certificate, error) {
	bad := func(format string, args ...any) error {
		return fail(ErrBadRequest, "InvalidParameter", "oidcIssuerProfile.apiServerIssuer.caCertificates: "+format, args...)
	}
	if len(p) > maxIssuerCABytes {
		return nil, bad("larger than %d bytes.", maxIssuerCABytes)
	}
	var certs []*x509.Certificate
	for rest := []byte(p); len(strings.TrimSpace(string(rest))) > 0; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, bad("not PEM certificates.")
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, bad("%v.", err)
		}
		if certs = append(certs, c); len(certs) > maxIssuerCAs {
			return nil, bad("more than %d certificates.", maxIssuerCAs)
		}
	}
	return certs, nil
}

// claimIssuer makes iss the cluster id's. An issuer another cluster
// names is refused; one whose cluster no longer names it (left behind
// by a change that failed) is taken over.
func (s *Service) claimIssuer(ctx context.Context, iss, id string) error {
	err := s.Store.CreateClusterIssuer(ctx, store.ClusterIssuer{Issuer: iss, ResourceID: id, CreatedAt: time.Now().UTC()})
	if !errors.Is(err, store.ErrExists) {
		return err
	}
	cur, err := s.Store.GetClusterIssuer(ctx, iss)
	if err != nil {
		return err
	}
	if strings.EqualFold(cur.ResourceID, id) {
		return nil
	}
	if _, named, err := ClusterIssuer(ctx, s.Store, iss); err != nil || named != nil {
		if err == nil {
			err = fail(ErrConflict, "Conflict", "The issuer %s is another cluster's.", iss)
		}
		return err
	}
	if err := s.Store.DeleteClusterIssuer(ctx, iss); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return s.claimIssuer(ctx, iss, id)
}

// releaseIssuer removes iss if it is the cluster id's; failing, it is
// left behind to be taken over (claimIssuer).
func (s *Service) releaseIssuer(ctx context.Context, iss, id string) {
	if cur, err := s.Store.GetClusterIssuer(ctx, iss); err == nil && strings.EqualFold(cur.ResourceID, id) {
		s.Store.DeleteClusterIssuer(ctx, iss)
	}
}

// releaseIssuers removes the issuers the cluster id names.
func (s *Service) releaseIssuers(ctx context.Context, id string, p resourcetype.ClusterProperties) {
	if ip := p.OIDCIssuerProfile; ip != nil {
		if ip.IssuerURL != "" {
			s.releaseIssuer(ctx, ip.IssuerURL, id)
		}
		if ip.APIServerIssuer != nil {
			s.releaseIssuer(ctx, ip.APIServerIssuer.URL, id)
		}
	}
}

// IssuerStore is what ClusterIssuer reads.
type IssuerStore interface {
	store.ClusterIssuers
	GetResource(ctx context.Context, id string) (store.Resource, error)
	GetSubscription(ctx context.Context, id string) (store.Subscription, error)
}

// ClusterIssuer finds the cluster whose issuer iss is: the issuer berth
// hosts for it (hosted true) or the one its API server serves. The
// cluster's profile is nil when no cluster names iss.
func ClusterIssuer(ctx context.Context, st IssuerStore, iss string) (hosted bool, _ *resourcetype.OIDCIssuerProfile, _ error) {
	hosted, ip, _, err := clusterIssuer(ctx, st, iss)
	return hosted, ip, err
}

// clusterIssuer is ClusterIssuer with the cluster's record.
func clusterIssuer(ctx context.Context, st IssuerStore, iss string) (hosted bool, _ *resourcetype.OIDCIssuerProfile, cluster store.Resource, _ error) {
	ci, err := st.GetClusterIssuer(ctx, iss)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil, cluster, nil
	}
	if err != nil {
		return false, nil, cluster, err
	}
	r, err := st.GetResource(ctx, ci.ResourceID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil, cluster, nil
	}
	if err != nil {
		return false, nil, cluster, err
	}
	var p resourcetype.ClusterProperties
	if err := json.Unmarshal(r.Properties, &p); err != nil {
		return false, nil, cluster, err
	}
	// The record says whose issuer it is; the cluster's properties, what
	// the cluster says now.
	switch ip := p.OIDCIssuerProfile; {
	case ip == nil:
		return false, nil, cluster, nil
	case ip.Enabled && ip.IssuerURL == iss:
		return true, ip, r, nil
	case ip.APIServerIssuer != nil && ip.APIServerIssuer.URL == iss:
		return false, ip, r, nil
	}
	return false, nil, cluster, nil
}

// KnownIssuers tells the token service what berth knows of clusters'
// issuers (federation.Known).
type KnownIssuers struct {
	Store IssuerStore
}

// KnownIssuer is the keys of an issuer berth hosts, or the CA a cluster
// named for its API server's issuer.
func (k KnownIssuers) KnownIssuer(ctx context.Context, iss string) (federation.KnownIssuer, bool, error) {
	hosted, ip, cluster, err := clusterIssuer(ctx, k.Store, iss)
	if err != nil || ip == nil {
		return federation.KnownIssuer{}, false, err
	}
	if hosted {
		var set federation.KeySet
		if len(ip.ServiceAccountKeys) > 0 {
			if err := json.Unmarshal(ip.ServiceAccountKeys, &set); err != nil {
				return federation.KnownIssuer{}, false, err
			}
		}
		return federation.KnownIssuer{Hosted: true, Keys: set}, true, nil
	}
	cas, err := issuerCAs(ip.APIServerIssuer.CACertificates)
	if err != nil {
		return federation.KnownIssuer{}, false, err
	}
	sub, err := k.Store.GetSubscription(ctx, cluster.SubscriptionID)
	if err != nil {
		return federation.KnownIssuer{}, false, err
	}
	return federation.KnownIssuer{CAs: cas, TenantID: sub.TenantID}, true, nil
}
