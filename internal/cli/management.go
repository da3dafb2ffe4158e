package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berthhq/berth/internal/resourcetype"
)

// API versions sent to the management API, those of the cloud CLI's
// clients for each resource provider.
const (
	subscriptionsAPI = "2020-01-01"
	resourcesAPI     = "2021-04-01"
	authorizationAPI = "2022-04-01"
)

// The versions sent for berth's own resource types: the newest stable
// one each, as the cloud CLI sends.
var (
	registryAPI = resourcetype.StableAPIVersion(resourcetype.Registry)
	identityAPI = resourcetype.StableAPIVersion(resourcetype.Identity)
	clusterAPI  = resourcetype.StableAPIVersion(resourcetype.ManagedCluster)
	vmAPI       = resourcetype.StableAPIVersion(resourcetype.VirtualMachine)
)

// Management calls the management API (the resource manager shape) as the
// logged-in principal, in the current subscription.
type Management struct {
	p      *Profile
	client *http.Client
}

// Management is a management API client as p.
func (p *Profile) Management() (*Management, error) {
	client, err := p.HTTPClient()
	if err != nil {
		return nil, err
	}
	return &Management{p: p, client: client}, nil
}

// ARMError is the management API's error body, printed as the cloud CLI
// prints it: the code in parentheses, then the message.
type ARMError struct {
	Status  int
	Code    string
	Message string
}

func (e *ARMError) Error() string { return "(" + e.Code + ") " + e.Message }

// Subscription returns the current subscription's id.
func (m *Management) Subscription() (string, error) {
	if m.p.SubscriptionID == "" {
		return "", errors.New("no subscription is selected: run 'berth account list --refresh', then 'berth account set --subscription ID'")
	}
	return m.p.SubscriptionID, nil
}

// maxPoll bounds how long a long-running operation is waited for.
const maxPoll = 2 * time.Minute

// do sends a request to path (with query, to which api-version is added)
// and decodes the answer into out (if not nil). A 202 with a Location is
// a long-running operation, polled until it ends, as the cloud CLI does.
func (m *Management) do(ctx context.Context, method, path, apiVersion string, query url.Values, in, out any) error {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("api-version", apiVersion)
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	resp, data, err := m.send(ctx, method, m.p.Server+path+"?"+q.Encode(), body)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(maxPoll)
	for resp.StatusCode == http.StatusAccepted && resp.Header.Get("Location") != "" {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s: still running after %s", method, path, maxPoll)
		}
		wait := time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 && s < 10 {
			wait = time.Duration(s) * time.Second
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		if resp, data, err = m.send(ctx, http.MethodGet, resp.Header.Get("Location"), nil); err != nil {
			return err
		}
	}
	if out == nil || len(data) == 0 || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return json.Unmarshal(data, out)
}

func (m *Management) send(ctx context.Context, method, u string, body []byte) (*http.Response, []byte, error) {
	tok, err := m.p.Token(ctx, ManagementResource)
	if err != nil {
		return nil, nil, err
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return nil, nil, &ARMError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: "management API: " + resp.Status}
		}
		return nil, nil, &ARMError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	return resp, data, nil
}

// list follows a collection's nextLink pages.
func (m *Management) list(ctx context.Context, path, apiVersion string, query url.Values) ([]Object, error) {
	return m.listUpTo(ctx, path, apiVersion, query, 0)
}

// listUpTo is list that stops at max items (0: none).
func (m *Management) listUpTo(ctx context.Context, path, apiVersion string, query url.Values, max int) ([]Object, error) {
	all := []Object{}
	var page struct {
		Value    []Object `json:"value"`
		NextLink string   `json:"nextLink"`
	}
	if err := m.do(ctx, http.MethodGet, path, apiVersion, query, nil, &page); err != nil {
		return nil, err
	}
	all = append(all, page.Value...)
	for page.NextLink != "" && (max == 0 || len(all) < max) {
		next := page.NextLink
		page.Value, page.NextLink = nil, ""
		_, data, err := m.send(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
	}
	if max > 0 && len(all) > max {
		all = all[:max]
	}
	return all, nil
}

func esc(s string) string { return url.PathEscape(s) }

func filter(expr string) url.Values { return url.Values{"$filter": {expr}} }
