package resourceid

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed is returned for anything that is not a resource id.
var ErrMalformed = errors.New("malformed resource id")

// ID is a parsed resource id. A subscription id has only Subscription; a
// resource group's adds ResourceGroup; a resource's adds Namespace and
// at least one type and name, one per level of nesting.
type ID struct {
	Subscription  string
	ResourceGroup string
	Namespace     string
	Types         []string
	Names         []string
}

// Parse parses a resource id.
func Parse(s string) (ID, error) {
	bad := func(why string) (ID, error) { return ID{}, fmt.Errorf("%w: '%s' (%s)", ErrMalformed, s, why) }
	if !strings.HasPrefix(s, "/") {
		return bad("it must start with /subscriptions/")
	}
	seg := strings.Split(strings.TrimSuffix(s[1:], "/"), "/")
	for _, p := range seg {
		if p == "" {
			return bad("empty segment")
		}
		if !validName(p) {
			return bad("a segment holds characters a name may not")
		}
	}
	var id ID
	if len(seg) < 2 || !strings.EqualFold(seg[0], "subscriptions") {
		return bad("it must start with /subscriptions/")
	}
	id.Subscription, seg = seg[1], seg[2:]
	if len(seg) == 0 {
		return id, nil
	}
	if len(seg) < 2 || !strings.EqualFold(seg[0], "resourceGroups") {
		return bad("a subscription's child must be resourceGroups/{name}")
	}
	id.ResourceGroup, seg = seg[1], seg[2:]
	if len(seg) == 0 {
		return id, nil
	}
	if len(seg) < 4 || !strings.EqualFold(seg[0], "providers") || len(seg)%2 != 0 {
		return bad("a resource group's child must be providers/{namespace}/{type}/{name}")
	}
	id.Namespace, seg = seg[1], seg[2:]
	for ; len(seg) > 0; seg = seg[2:] {
		id.Types = append(id.Types, seg[0])
		id.Names = append(id.Names, seg[1])
	}
	return id, nil
}

// validName refuses what would make an id ambiguous or unsafe to print:
// control characters, and the characters of URLs' other parts.
func validName(s string) bool {
	if s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`?#%\<>"`, r) {
			return false
		}
	}
	return true
}

// IsSubscription, IsResourceGroup and IsResource tell the kinds apart.
func (id ID) IsSubscription() bool  { return id.ResourceGroup == "" }
func (id ID) IsResourceGroup() bool { return id.ResourceGroup != "" && id.Namespace == "" }
func (id ID) IsResource() bool      { return id.Namespace != "" }

// Type is a resource's full type: "Namespace/type[/child]".
func (id ID) Type() string {
	if !id.IsResource() {
		return ""
	}
	return id.Namespace + "/" + strings.Join(id.Types, "/")
}

// Name is the last name: the resource's, the group's or the subscription's.
func (id ID) Name() string {
	switch {
	case id.IsResource():
		return id.Names[len(id.Names)-1]
	case id.IsResourceGroup():
		return id.ResourceGroup
	}
	return id.Subscription
}

// Parent is the id one level up: a child's resource, a resource's group,
// a group's subscription.
func (id ID) Parent() ID {
	switch {
	case len(id.Types) > 1:
		p := id
		p.Types, p.Names = id.Types[:len(id.Types)-1], id.Names[:len(id.Names)-1]
		return p
	case id.IsResource():
		return ID{Subscription: id.Subscription, ResourceGroup: id.ResourceGroup}
	}
	return ID{Subscription: id.Subscription}
}

// String prints the id with the fixed segments in canonical case.
func (id ID) String() string {
	var b strings.Builder
	b.WriteString("/subscriptions/" + id.Subscription)
	if id.ResourceGroup == "" {
		return b.String()
	}
	b.WriteString("/resourceGroups/" + id.ResourceGroup)
	if id.Namespace == "" {
		return b.String()
	}
	b.WriteString("/providers/" + id.Namespace)
	for i := range id.Types {
		b.WriteString("/" + id.Types[i] + "/" + id.Names[i])
	}
	return b.String()
}

// Resource is the id of a resource in a group.
func Resource(subscription, group, typ, name string) ID {
	ns, t, _ := strings.Cut(typ, "/")
	return ID{Subscription: subscription, ResourceGroup: group, Namespace: ns, Types: []string{t}, Names: []string{name}}
}
