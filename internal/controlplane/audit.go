package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/store"
)

// record records a change c asked for (see package audit): op on target,
// placed in the activity log by at's subscription and resource group,
// described by what (see audit.Outcome). Only service principals hold
// management tokens, so the caller is one.
func (s *Service) record(ctx context.Context, c Caller, op string, at resourceid.ID, target, what string, err error) {
	status, what, ok := audit.Outcome(err, what, ErrForbidden, ErrBadRequest, ErrNotFound, ErrConflict)
	if !ok {
		return
	}
	s.Audit.Record(ctx, store.Event{
		TenantID: c.TenantID, SubscriptionID: at.Subscription, ResourceGroup: at.ResourceGroup,
		CallerID: c.ObjectID, CallerKind: audit.ServicePrincipal, Operation: op, Target: target, Status: status, Description: what,
	})
}

// assignmentID is a role assignment's resource id.
func assignmentID(scope resourceid.ID, name string) string {
	return scope.String() + "/providers/Microsoft.Authorization/roleAssignments/" + name
}

// granted says what a role assignment grants to whom, with the role by
// name when it is one berth knows.
func granted(roleDefinitionID, principalType, principalID string) string {
	role := roleDefinitionID
	if i := strings.LastIndex(strings.ToLower(role), "/roledefinitions/"); i >= 0 {
		role = role[i+len("/roledefinitions/"):]
	}
	if r, ok := authz.RoleByID(role); ok {
		role = r.Name
	}
	return strings.TrimSpace(fmt.Sprintf("role %s to %s %s", role, principalType, principalID))
}

// maxShown bounds a value shown in a change's description.
const maxShown = 80

// changed says what an update changed of a resource: its SKU, tags,
// identity and each property, with the values before and after. These
// are what every reader of the resource sees, so they hold no secret.
func changed(old, r store.Resource) string {
	parts := func(x store.Resource) map[string]string {
		m := map[string]string{"sku": compact(x.SKU), "identity": compact(x.Identity)}
		tags, _ := json.Marshal(x.Tags)
		if len(x.Tags) == 0 {
			tags = nil
		}
		m["tags"] = string(tags)
		var props map[string]json.RawMessage
		json.Unmarshal(x.Properties, &props)
		for k, v := range props {
			m["properties."+k] = compact(v)
		}
		return m
	}
	before, after := parts(old), parts(r)
	var names []string
	for k := range before {
		names = append(names, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var out []string
	for _, k := range names {
		if before[k] != after[k] {
			out = append(out, k+" "+shown(before[k])+" -> "+shown(after[k]))
		}
	}
	if out == nil {
		return "updated, nothing changed"
	}
	return "updated " + strings.Join(out, ", ")
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) == 0 || string(raw) == "null" || json.Compact(&b, raw) != nil {
		return ""
	}
	return b.String()
}

func shown(v string) string {
	switch {
	case v == "":
		return "(none)"
	case len(v) > maxShown:
		return v[:maxShown] + "..."
	}
	return v
}

func createdOrUpdated(created bool) string {
	if created {
		return "created"
	}
	return "updated"
}

func deletedOrNot(found bool) string {
	if found {
		return "deleted"
	}
	return "there was nothing to delete"
}
