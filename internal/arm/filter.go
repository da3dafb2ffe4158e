package arm

import (
	"strings"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/odata"
)

// The $filter forms each collection supports, read with the one OData
// parser; a form a collection does not support is the resource manager's
// 400 with that collection's code, naming the forms it does.

func filterError(code, message string) error {
	return &controlplane.Error{Kind: controlplane.ErrBadRequest, Code: code, Message: message}
}

// resourceFilter reads "resourceType eq '..'" and "name eq '..'", joined
// with "and".
func resourceFilter(s string) (controlplane.ResourceFilter, error) {
	var f controlplane.ResourceFilter
	terms, err := odata.Parse(s)
	for _, t := range terms {
		switch {
		case t.Func != "eq" || t.Bare:
			err = odata.ErrSyntax
		case strings.EqualFold(t.Prop, "resourceType"):
			f.Type = t.Value
		case strings.EqualFold(t.Prop, "name"):
			f.Name = t.Value
		default:
			err = odata.ErrSyntax
		}
	}
	if err != nil {
		return f, filterError("InvalidFilterInQueryString",
			"Invalid $filter '"+s+"'. Supported: resourceType eq '{type}', name eq '{name}', joined with 'and'.")
	}
	return f, nil
}

// roleNameFilter reads "roleName eq '<name>'", the one filter clients
// send for role definitions.
func roleNameFilter(s string) (string, error) {
	terms, err := odata.Parse(s)
	if err == nil && len(terms) == 0 {
		return "", nil
	}
	if err != nil || len(terms) != 1 || terms[0].Func != "eq" || terms[0].Bare || !strings.EqualFold(terms[0].Prop, "roleName") {
		return "", filterError("InvalidFilter", "The filter '"+s+"' is not supported. Supported: roleName eq '{name}'.")
	}
	return terms[0].Value, nil
}

// assignmentFilter reads "atScope()", "principalId eq '<id>'" and
// "assignedTo('<id>')", joined with "and".
func assignmentFilter(s string) (controlplane.AssignmentFilter, error) {
	var f controlplane.AssignmentFilter
	terms, err := odata.Parse(s)
	for _, t := range terms {
		switch {
		case strings.EqualFold(t.Func, "atScope") && !t.HasValue:
			f.AtScope = true
		case t.Func == "eq" && !t.Bare && strings.EqualFold(t.Prop, "principalId"),
			strings.EqualFold(t.Func, "assignedTo") && t.HasValue && t.Prop == "":
			f.PrincipalID = t.Value
		default:
			err = odata.ErrSyntax
		}
	}
	if err != nil {
		return f, filterError("InvalidFilter",
			"The filter '"+s+"' is not supported. Supported: atScope(), principalId eq '{id}', assignedTo('{id}').")
	}
	return f, nil
}
