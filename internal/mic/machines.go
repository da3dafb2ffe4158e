package mic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth/internal/cli"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
)

// Machines reads and sets virtual machines' identities; vm is a machine's
// resource id. ARM is the management API's; tests put a throttle in front
// of it.
type Machines interface {
	Identity(ctx context.Context, vm string) (VMIdentity, error)
	// SetIdentity changes the machine's identity from was, as Identity
	// read it, to want.
	SetIdentity(ctx context.Context, vm string, was, want VMIdentity) error
}

// VMIdentity is a machine's identity as MIC changes it: its system
// identity is kept as it is, its user-assigned identities replaced.
type VMIdentity struct {
	System bool
	User   []string
}

// has reports whether the machine has the user-assigned identity id;
// resource ids compare without case, as the management API compares them.
func (v VMIdentity) has(id string) bool {
	return slices.ContainsFunc(v.User, func(u string) bool { return strings.EqualFold(u, id) })
}

// APIError is the management API's refusal.
type APIError struct {
	Status        int
	Code, Message string
	// RetryAfter is the wait the answer asked for (429, 503), or 0.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("management API: %d (%s) %s", e.Status, e.Code, e.Message)
}

// retryable says whether the same request may succeed later unchanged:
// the server was busy, throttled or raced; a 4xx other than those is the
// request's fault and will be refused again.
func retryable(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return !errors.Is(err, context.Canceled)
	}
	return ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusConflict || ae.Status == http.StatusRequestTimeout || ae.Status >= 500
}

// retryAfter is the wait an error asked for, or 0.
func retryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

var vmAPI = resourcetype.StableAPIVersion(resourcetype.VirtualMachine)

// ARM is Machines through berth's management API, as the node file's
// identity.
type ARM struct {
	server string
	client *http.Client
	node   *cli.NodeConfig

	mu    sync.Mutex
	token cli.CachedToken
}

// NewARM is the management API client of the node file n.
func NewARM(n *cli.NodeConfig) (*ARM, error) {
	client, err := n.HTTPClient()
	if err != nil {
		return nil, err
	}
	return &ARM{server: strings.TrimRight(n.BerthServer, "/"), client: client, node: n}, nil
}

// accessToken is a management token, renewed a while before it expires;
// the lock makes concurrent workers share one renewal.
func (a *ARM) accessToken(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if time.Until(a.token.ExpiresOn) > 5*time.Minute {
		return a.token.AccessToken, nil
	}
	t, err := a.node.Token(ctx, cli.ManagementResource)
	if err != nil {
		return "", fmt.Errorf("a management token for the node file's identity: %w", err)
	}
	a.token = t
	return t.AccessToken, nil
}

// Identity reads a machine's identity.
func (a *ARM) Identity(ctx context.Context, vm string) (VMIdentity, error) {
	var out struct {
		Identity struct {
			Type                   string                     `json:"type"`
			UserAssignedIdentities map[string]json.RawMessage `json:"userAssignedIdentities"`
		} `json:"identity"`
	}
	if err := a.do(ctx, http.MethodGet, vm, nil, &out); err != nil {
		return VMIdentity{}, err
	}
	v := VMIdentity{System: strings.Contains(strings.ToLower(out.Identity.Type), "systemassigned")}
	for id := range out.Identity.UserAssignedIdentities {
		v.User = append(v.User, id)
	}
	slices.Sort(v.User)
	return v, nil
}

// SetIdentity makes a machine's user-assigned identities id.User in one
// PATCH, keeping its system identity as id.System says. The whole set is
// sent, so that a server that replaces the set (berth) and one that
// merges it (the cloud) end the same; what was there and is not wanted
// any more is sent as null, the cloud's removal.
func (a *ARM) SetIdentity(ctx context.Context, vm string, was, id VMIdentity) error {
	user := map[string]any{}
	for _, u := range was.User {
		if !id.has(u) {
			user[u] = nil
		}
	}
	var types []string
	if id.System {
		types = append(types, "SystemAssigned")
	}
	if len(id.User) > 0 {
		types = append(types, "UserAssigned")
		for _, u := range id.User {
			user[u] = map[string]any{}
		}
	}
	block := map[string]any{"type": "None"}
	if len(types) > 0 {
		block["type"] = strings.Join(types, ", ")
	}
	if len(id.User) > 0 {
		block["userAssignedIdentities"] = user
	}
	return a.do(ctx, http.MethodPatch, vm, map[string]any{"identity": block}, nil)
}

func (a *ARM) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	tok, err := a.accessToken(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, a.server+path+"?api-version="+url.QueryEscape(vmAPI), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &APIError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: resp.Status}
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
			e.Code, e.Message = body.Error.Code, body.Error.Message
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(resp.Header.Get("Retry-After")); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
		return e
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

// vmOfProviderID is the virtual machine a Node's spec.providerID names,
// azure:///subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/virtualMachines/NAME.
func vmOfProviderID(providerID string) (string, error) {
	rest, ok := strings.CutPrefix(providerID, "azure://")
	if !ok {
		return "", fmt.Errorf("the provider id %q is not azure:///subscriptions/...", providerID)
	}
	id, err := resourceid.Parse(rest)
	if err != nil || !strings.EqualFold(id.Type(), resourcetype.VirtualMachine) {
		return "", fmt.Errorf("the provider id %q does not name a virtual machine", providerID)
	}
	return id.String(), nil
}

// isStatus says whether err is the management API's answer status.
func isStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}
