package imds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// fetchBudget bounds one fetch of a token. Coalesced callers share the
// fetch, so it runs on its own context, not a client's.
const fetchBudget = 30 * time.Second

// retryAfterFailure spaces the background refreshes of an entry while the
// token source fails, so a busy machine does not hammer a server that is
// down.
const retryAfterFailure = 5 * time.Second

// Token is a cached token: what the metadata answers are made of.
type Token struct {
	AccessToken string
	ClientID    string
	Resource    string
	ExpiresOn   time.Time
	NotBefore   time.Time
	// refreshAt is when the cache asks for a new one while still handing
	// this one out: half way through its life.
	refreshAt time.Time
}

// ParseToken reads a token answer of the token service or of a metadata
// endpoint: both carry expires_on and not_before as strings of seconds.
func ParseToken(body []byte) (Token, error) {
	var v struct {
		AccessToken string `json:"access_token"`
		ClientID    string `json:"client_id"`
		Resource    string `json:"resource"`
		ExpiresOn   string `json:"expires_on"`
		NotBefore   string `json:"not_before"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.AccessToken == "" {
		return Token{}, &Error{Status: http.StatusBadGateway, Code: "service_unavailable", Description: "the token service's answer is not a token"}
	}
	exp, err1 := strconv.ParseInt(v.ExpiresOn, 10, 64)
	nbf, err2 := strconv.ParseInt(v.NotBefore, 10, 64)
	if err1 != nil || err2 != nil || exp <= nbf {
		return Token{}, &Error{Status: http.StatusBadGateway, Code: "service_unavailable", Description: "the token service's answer has no valid expires_on and not_before"}
	}
	return Token{AccessToken: v.AccessToken, ClientID: v.ClientID, Resource: v.Resource,
		ExpiresOn: time.Unix(exp, 0), NotBefore: time.Unix(nbf, 0)}, nil
}

// Cache holds tokens by key. The zero Cache is ready to use.
type Cache struct {
	// skew moves the clock that decides freshness, so tests can reach a
	// token's refresh point and expiry without waiting an hour; it is
	// atomic because requests read it while tests set it.
	skew atomic.Int64

	mu     sync.Mutex
	cache  map[string]*entry
	flight singleflight.Group
}

type entry struct {
	tok        Token
	retryAfter time.Time
}

func (c *Cache) now() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) }

// Get returns the token under key: from the cache while it is fresh; a
// cached token past its refresh point (half its life) is still returned,
// and a new one fetched in the background; a missing or expired one is
// fetched, once for all who ask at the same time. A fetch failing with
// an *Error below 500 (the identity is not there any more) drops the
// entry; any other failure keeps it, to serve until it expires.
func (c *Cache) Get(ctx context.Context, key string, fetch func(context.Context) (Token, error)) (Token, error) {
	now := c.now()
	c.mu.Lock()
	e := c.cache[key]
	var tok Token
	if e != nil {
		tok = e.tok
	}
	c.mu.Unlock()
	if e != nil && now.Before(tok.ExpiresOn) {
		if !now.Before(tok.refreshAt) && !now.Before(e.retryAfter) {
			c.flight.DoChan(key, func() (any, error) { return c.refresh(key, fetch) })
		}
		return tok, nil
	}
	ch := c.flight.DoChan(key, func() (any, error) { return c.refresh(key, fetch) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return Token{}, r.Err
		}
		return r.Val.(Token), nil
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

func (c *Cache) refresh(key string, fetch func(context.Context) (Token, error)) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchBudget)
	defer cancel()
	tok, err := fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = map[string]*entry{}
	}
	if err == nil {
		tok.refreshAt = tok.NotBefore.Add(tok.ExpiresOn.Sub(tok.NotBefore) / 2)
		c.cache[key] = &entry{tok: tok}
		return tok, nil
	}
	var ierr *Error
	if errors.As(err, &ierr) && ierr.Status < 500 {
		delete(c.cache, key)
		return nil, err
	}
	now := c.now()
	e := c.cache[key]
	if e != nil && now.Before(e.tok.ExpiresOn) {
		e.retryAfter = now.Add(retryAfterFailure)
		return e.tok, nil
	}
	if e != nil {
		err = &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
			Description: fmt.Sprintf("The cached token expired at %s and a new one could not be obtained: %s", e.tok.ExpiresOn.UTC().Format(time.RFC3339), describe(err))}
		delete(c.cache, key)
	}
	return nil, err
}
