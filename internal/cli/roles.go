package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/berthhq/berth/internal/ids"
)

const authorizationProvider = "/providers/Microsoft.Authorization"

var (
	guidPattern    = regexp.MustCompile(`^(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	roleDefPattern = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/providers/Microsoft\.Authorization/roleDefinitions/[^/]+$`)
)

func (m *Management) subscriptionScope() (string, error) {
	sub, err := m.Subscription()
	if err != nil {
		return "", err
	}
	return "/subscriptions/" + sub, nil
}

func (m *Management) directory() *Directory { return &Directory{p: m.p, client: m.client} }

// flattenRoleDefinition prints a role definition as the cloud CLI does:
// its properties at the top level, the built-in or custom kind as
// roleType.
func flattenRoleDefinition(o Object) Object {
	out := Object{"id": o["id"], "name": o["name"], "type": o["type"]}
	props, _ := o["properties"].(map[string]any)
	for k, v := range props {
		if k == "type" {
			k = "roleType"
		}
		out[k] = v
	}
	return out
}

// roleDefinitions lists the role definitions usable at scope, or those
// with a name (matched in any letter case by the server).
func (m *Management) roleDefinitions(ctx context.Context, scope, name string) ([]Object, error) {
	var q url.Values
	if name != "" {
		q = filter("roleName eq " + literal(name))
	}
	return m.list(ctx, scope+authorizationProvider+"/roleDefinitions", authorizationAPI, q)
}

// ListRoleDefinitions is berth role definition list.
func (m *Management) ListRoleDefinitions(ctx context.Context, name, scope string) ([]Object, error) {
	if scope == "" {
		var err error
		if scope, err = m.subscriptionScope(); err != nil {
			return nil, err
		}
	}
	defs, err := m.roleDefinitions(ctx, scope, name)
	if err != nil {
		return nil, err
	}
	out := make([]Object, len(defs))
	for i, d := range defs {
		out[i] = flattenRoleDefinition(d)
	}
	return out, nil
}

// resolveRole turns a role name, GUID or definition id into a definition
// id, as the cloud CLI does; an unknown name is answered with the names
// that come close, since "acrpul" most likely meant AcrPull.
func (m *Management) resolveRole(ctx context.Context, role, scope string) (string, error) {
	if roleDefPattern.MatchString(role) {
		return role, nil
	}
	sub, err := m.subscriptionScope()
	if err != nil {
		return "", err
	}
	if guidPattern.MatchString(role) {
		return sub + authorizationProvider + "/roleDefinitions/" + role, nil
	}
	found, err := m.roleDefinitions(ctx, scope, role)
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 1:
		return found[0].str("id"), nil
	case 0:
	default:
		return "", fmt.Errorf("Multiple roles match the name '%s'. Please pick the id of the one you want.", role)
	}
	all, err := m.roleDefinitions(ctx, scope, "")
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(all))
	for _, d := range all {
		props, _ := d["properties"].(map[string]any)
		if n, _ := props["roleName"].(string); n != "" {
			names = append(names, n)
		}
	}
	if near := NearMatches(role, names); len(near) > 0 {
		return "", fmt.Errorf("Role '%s' doesn't exist. Did you mean: %s?", role, strings.Join(near, ", "))
	}
	return "", fmt.Errorf("Role '%s' doesn't exist.", role)
}

// NearMatches are the names within a small edit distance of s, or
// containing it, in any letter case, closest first.
func NearMatches(s string, names []string) []string {
	type cand struct {
		name string
		dist int
	}
	ls := strings.ToLower(s)
	limit := max(2, len(s)/3)
	var cands []cand
	for _, n := range names {
		ln := strings.ToLower(n)
		d := editDistance(ls, ln)
		if d <= limit || (len(ls) >= 3 && (strings.Contains(ln, ls) || strings.Contains(ls, ln))) {
			cands = append(cands, cand{n, d})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].dist < cands[j].dist })
	out := make([]string, 0, len(cands))
	for _, c := range cands {
		out = append(out, c.name)
	}
	return out
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// principalTypes maps directory object types to role assignment
// principal types.
var principalTypes = map[string]string{
	"#microsoft.graph.user":             "User",
	"#microsoft.graph.servicePrincipal": "ServicePrincipal",
	"#microsoft.graph.group":            "Group",
}

// resolvePrincipal finds an assignee in the directory the way the cloud
// CLI does: a user by user principal name, a service principal by any of
// its names (the app id among them), then any object by its id. It
// returns the object id and the principal type.
func (d *Directory) resolvePrincipal(ctx context.Context, assignee string) (string, string, error) {
	if strings.Contains(assignee, "@") {
		users, err := d.list(ctx, "users", "userPrincipalName eq "+literal(assignee))
		if err != nil {
			return "", "", err
		}
		if len(users) > 0 {
			return users[0].str("id"), "User", nil
		}
	}
	sps, err := d.list(ctx, "servicePrincipals", "servicePrincipalNames/any(c:c eq "+literal(assignee)+")")
	if err != nil {
		return "", "", err
	}
	if len(sps) > 0 {
		return sps[0].str("id"), "ServicePrincipal", nil
	}
	if guidPattern.MatchString(assignee) {
		if typ, err := d.principalType(ctx, assignee); err != nil || typ != "" {
			return assignee, typ, err
		}
	}
	return "", "", fmt.Errorf("Cannot find user or service principal in graph database for '%s'. "+
		"If the assignee is an appId, make sure the corresponding service principal is created with 'berth ad sp create --id %s'.", assignee, assignee)
}

// principalType is the principal type of an object id, or "" if the
// directory has no user or service principal with it.
func (d *Directory) principalType(ctx context.Context, id string) (string, error) {
	objs, err := d.getByIDs(ctx, []string{id})
	if err != nil {
		return "", err
	}
	if len(objs) > 0 {
		return principalTypes[objs[0].str("@odata.type")], nil
	}
	var u Object
	err = d.do(ctx, http.MethodGet, "/users/"+esc(id), nil, &u)
	if errors.Is(err, errDirectoryNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return "User", nil
}

func (d *Directory) getByIDs(ctx context.Context, idList []string) ([]Object, error) {
	var out struct {
		Value []Object `json:"value"`
	}
	body := map[string]any{"ids": idList, "types": []string{"user", "group", "servicePrincipal"}}
	return out.Value, d.do(ctx, http.MethodPost, "/directoryObjects/getByIds", body, &out)
}

// AssignmentCreate are berth role assignment create's options: the
// assignee by a name the directory resolves, or by object id and type.
type AssignmentCreate struct {
	Assignee      string
	ObjectID      string
	PrincipalType string
	Role          string
	Scope         string
}

// CreateAssignment resolves the assignee and role, then assigns the role
// at the scope (the subscription by default), in the cloud CLI's order.
func (m *Management) CreateAssignment(ctx context.Context, o AssignmentCreate) (Object, error) {
	if o.Role == "" {
		return nil, errors.New("--role is required")
	}
	if (o.Assignee == "") == (o.ObjectID == "") {
		return nil, errors.New("give one of --assignee or --assignee-object-id")
	}
	if o.Scope == "" {
		var err error
		if o.Scope, err = m.subscriptionScope(); err != nil {
			return nil, err
		}
	}
	d := m.directory()
	switch {
	case o.Assignee != "":
		var err error
		if o.ObjectID, o.PrincipalType, err = d.resolvePrincipal(ctx, o.Assignee); err != nil {
			return nil, err
		}
	case o.PrincipalType == "":
		// Without a type the server would have to guess; the directory
		// knows it.
		typ, err := d.principalType(ctx, o.ObjectID)
		if err != nil {
			return nil, err
		}
		o.PrincipalType = typ
	}
	defID, err := m.resolveRole(ctx, o.Role, o.Scope)
	if err != nil {
		return nil, err
	}
	return m.assign(ctx, o.Scope, defID, o.ObjectID, o.PrincipalType)
}

func (m *Management) assign(ctx context.Context, scope, defID, objectID, principalType string) (Object, error) {
	props := map[string]any{"roleDefinitionId": defID, "principalId": objectID}
	if principalType != "" {
		props["principalType"] = principalType
	}
	var out Object
	path := strings.TrimRight(scope, "/") + authorizationProvider + "/roleAssignments/" + ids.New()
	if err := m.do(ctx, http.MethodPut, path, authorizationAPI, nil, map[string]any{"properties": props}, &out); err != nil {
		return nil, err
	}
	return flatten(out), nil
}

// AssignmentQuery selects role assignments as berth role assignment list
// and delete do: at Scope (the subscription's by default, unless All),
// including those inherited from above if Inherited, for an assignee and
// a role if given.
type AssignmentQuery struct {
	Assignee  string
	Role      string
	Scope     string
	All       bool
	Inherited bool
}

// ListAssignments lists role assignments with the names of their
// principals and roles, as the cloud CLI prints them.
func (m *Management) ListAssignments(ctx context.Context, q AssignmentQuery) ([]Object, error) {
	found, err := m.searchAssignments(ctx, q)
	if err != nil {
		return nil, err
	}
	return found, m.describe(ctx, found)
}

func (m *Management) searchAssignments(ctx context.Context, q AssignmentQuery) ([]Object, error) {
	sub, err := m.subscriptionScope()
	if err != nil {
		return nil, err
	}
	if q.Scope == "" && !q.All {
		q.Scope = sub
	}
	q.Scope = strings.TrimRight(q.Scope, "/")
	var principal string
	if q.Assignee != "" {
		if principal, _, err = m.directory().resolvePrincipal(ctx, q.Assignee); err != nil {
			if !guidPattern.MatchString(q.Assignee) {
				return nil, err
			}
			// A principal deleted from the directory can still have
			// assignments, found by its object id.
			principal = q.Assignee
		}
	}
	var roleID string
	if q.Role != "" {
		scope := q.Scope
		if scope == "" {
			scope = sub
		}
		if roleID, err = m.resolveRole(ctx, q.Role, scope); err != nil {
			return nil, err
		}
	}
	var all []Object
	switch {
	case q.Scope != "":
		all, err = m.list(ctx, q.Scope+authorizationProvider+"/roleAssignments", authorizationAPI, filter("atScope()"))
	case principal != "":
		all, err = m.list(ctx, sub+authorizationProvider+"/roleAssignments", authorizationAPI, filter("principalId eq "+literal(principal)))
	default:
		all, err = m.list(ctx, sub+authorizationProvider+"/roleAssignments", authorizationAPI, nil)
	}
	if err != nil {
		return nil, err
	}
	out := []Object{}
	for _, a := range all {
		f := flatten(a)
		scope := f.str("scope")
		switch {
		case q.Scope != "" && !strings.EqualFold(scope, q.Scope) &&
			!(q.Inherited && hasScopePrefix(q.Scope, scope)):
		case roleID != "" && !strings.EqualFold(lastSegment(f.str("roleDefinitionId")), lastSegment(roleID)):
		case principal != "" && !strings.EqualFold(f.str("principalId"), principal):
		default:
			out = append(out, f)
		}
	}
	return out, nil
}

// hasScopePrefix reports whether scope lies at or under parent.
func hasScopePrefix(scope, parent string) bool {
	s, p := strings.ToLower(scope), strings.ToLower(strings.TrimRight(parent, "/"))
	return s == p || strings.HasPrefix(s, p+"/") || p == ""
}

func lastSegment(id string) string { return id[strings.LastIndex(id, "/")+1:] }

// describe adds principalName and roleDefinitionName to assignments.
func (m *Management) describe(ctx context.Context, assignments []Object) error {
	if len(assignments) == 0 {
		return nil
	}
	sub, err := m.subscriptionScope()
	if err != nil {
		return err
	}
	defs, err := m.roleDefinitions(ctx, sub, "")
	if err != nil {
		return err
	}
	roleNames := map[string]string{}
	for _, d := range defs {
		props, _ := d["properties"].(map[string]any)
		roleNames[strings.ToLower(d.str("name"))], _ = props["roleName"].(string)
	}
	seen := map[string]bool{}
	var principals []string
	for _, a := range assignments {
		if id := a.str("principalId"); !seen[id] {
			seen[id] = true
			principals = append(principals, id)
		}
	}
	d := m.directory()
	objs, err := d.getByIDs(ctx, principals)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, o := range objs {
		names[o.str("id")] = displayableName(o)
	}
	for _, id := range principals {
		if _, ok := names[id]; ok {
			continue
		}
		// The directory's getByIds answers for service principals;
		// users are asked for one by one.
		var u Object
		if err := d.do(ctx, http.MethodGet, "/users/"+esc(id), nil, &u); err == nil {
			names[id] = displayableName(u)
		} else if !errors.Is(err, errDirectoryNotFound) {
			return err
		}
	}
	for _, a := range assignments {
		a["principalName"] = names[a.str("principalId")]
		a["roleDefinitionName"] = roleNames[strings.ToLower(lastSegment(a.str("roleDefinitionId")))]
	}
	return nil
}

// displayableName is the name the cloud CLI shows for a principal.
func displayableName(o Object) string {
	if upn := o.str("userPrincipalName"); upn != "" {
		return upn
	}
	if names, _ := o["servicePrincipalNames"].([]any); len(names) > 0 {
		if n, _ := names[0].(string); n != "" {
			return n
		}
	}
	return o.str("displayName")
}

// DeleteAssignments deletes assignments by id, or those a query selects,
// and returns how many it deleted.
func (m *Management) DeleteAssignments(ctx context.Context, idList []string, q AssignmentQuery) (int, error) {
	if len(idList) == 0 {
		if q.Assignee == "" && q.Role == "" && q.Scope == "" {
			return 0, errors.New("give --ids, or at least one of --assignee, --role and --scope")
		}
		found, err := m.searchAssignments(ctx, q)
		if err != nil {
			return 0, err
		}
		for _, a := range found {
			idList = append(idList, a.str("id"))
		}
	}
	for i, id := range idList {
		if err := m.do(ctx, http.MethodDelete, id, authorizationAPI, nil, nil, nil); err != nil {
			return i, err
		}
	}
	return len(idList), nil
}
