package controlplane

import (
	"context"
	"encoding/json"
	"regexp"

	"github.com/berthhq/berth/internal/store"
)

// networkKind is a network resource: a record only. berth runs no
// network; it keeps what a template that makes a machine (the one
// az vm create builds) states of the machine's network, so that such a
// template deploys, and shows it back as written.
type networkKind struct{ typ string }

func (k networkKind) Type() string { return k.typ }

var networkName = regexp.MustCompile(`^[a-zA-Z0-9]([-\w.]{0,78}\w)?$`)

func (k networkKind) create(_ context.Context, _ *Service, _ store.Subscription, r *store.Resource, in ResourceInput) error {
	if !networkName.MatchString(r.Name) {
		return fail(ErrBadRequest, "InvalidResourceName",
			"Resource name '%s' is invalid. The name must be 1 to 80 letters, digits, underscores, periods and hyphens, starting with a letter or digit and ending with a letter, digit or underscore.", r.Name)
	}
	return k.fill(r, in)
}

func (k networkKind) update(_ context.Context, _ *Service, _ store.Resource, r *store.Resource, in ResourceInput, _ bool) error {
	return k.fill(r, in)
}

func (networkKind) fill(r *store.Resource, in ResourceInput) error {
	p := map[string]any{}
	if err := decodeInput(in.Properties, &p); err != nil {
		return err
	}
	if p == nil {
		p = map[string]any{}
	}
	p["provisioningState"] = "Succeeded"
	var err error
	if r.SKU, err = nullable(in.SKU); err != nil {
		return err
	}
	r.Properties, err = json.Marshal(p)
	return err
}

// nullable keeps a JSON value, dropping null.
func nullable(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fail(ErrBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v.", err)
	}
	return raw, nil
}

func (networkKind) destroy(context.Context, *Service, store.Resource) error { return nil }
