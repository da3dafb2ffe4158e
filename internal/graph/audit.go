package graph

import (
	"context"
	"strings"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/store"
)

// Directory operations, named as the cloud's directory audit log names
// them. Credentials of every kind (secrets, certificates, federated
// credentials) are one operation there, and here.
const (
	opAddApplication         = "Add application"
	opUpdateApplication      = "Update application"
	opDeleteApplication      = "Delete application"
	opCredentials            = "Update application – Certificates and secrets management"
	opAddOwner               = "Add owner to application"
	opAddServicePrincipal    = "Add service principal"
	opConsent                = "Consent to application"
	opRemoveServicePrincipal = "Remove service principal"
	opAddUser                = "Add user"
	opUpdateUser             = "Update user"
	opResetPassword          = "Reset user password"
	opDeleteUser             = "Delete user"
	opAddRoleMember          = "Add member to role"
	opRemoveRoleMember       = "Remove member from role"
)

// record records a directory change c asked for (see package audit): op
// on target, the directory object's id, described by what (see
// audit.Outcome). Directory changes belong to the tenant, not to a
// subscription.
func (s *Service) record(ctx context.Context, c Caller, op, target, what string, err error) {
	status, what, ok := audit.Outcome(err, what, ErrForbidden, ErrBadRequest, ErrNotFound, ErrConflict)
	if !ok {
		return
	}
	s.Audit.Record(ctx, store.Event{
		TenantID: c.TenantID, CallerID: c.ObjectID, CallerKind: c.Kind, Operation: op, Target: target, Status: status, Description: what,
	})
}

// listed joins what was given of a change, for its description.
func listed(prefix string, parts ...string) string {
	var given []string
	for _, p := range parts {
		if p != "" {
			given = append(given, p)
		}
	}
	return prefix + strings.Join(given, ", ")
}

// given is name if a change gave it.
func given(ok bool, name string) string {
	if ok {
		return name
	}
	return ""
}

// federatedSummary names a federated credential with what it trusts.
func federatedSummary(f store.FederatedCredential) string {
	return f.Name + " (issuer " + f.Issuer + ", subject " + f.Subject + ", audiences " + strings.Join(f.Audiences, " ") + ")"
}
