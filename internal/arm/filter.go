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

// resourceFilter reads what the CLI and SDKs send for resource lists:
// "resourceGroup", "resourceType", "name" and "location eq '..'" and
// "substringof('..', name)", joined with "and"; or, alone as the resource
// manager wants them, "tagName eq '..'" (with "and tagValue eq '..'") or
// "startswith(tagName, '..')".
func resourceFilter(s string) (controlplane.ResourceFilter, error) {
	var f controlplane.ResourceFilter
	terms, err := odata.Parse(s)
	tags, others := false, false
	for _, t := range terms {
		eq := t.Func == "eq" && !t.Bare
		isTag := true
		switch {
		case eq && strings.EqualFold(t.Prop, "tagName"):
			f.TagName = t.Value
		case eq && strings.EqualFold(t.Prop, "tagValue"):
			f.TagValue = &t.Value
		case strings.EqualFold(t.Func, "startswith") && strings.EqualFold(t.Prop, "tagName"):
			f.TagPrefix = t.Value
		default:
			isTag = false
		}
		if isTag {
			tags = true
			continue
		}
		others = true
		switch {
		case eq && strings.EqualFold(t.Prop, "resourceGroup"):
			f.ResourceGroup, f.GroupByFilter = t.Value, true
		case eq && strings.EqualFold(t.Prop, "resourceType"):
			f.Type = t.Value
		case eq && strings.EqualFold(t.Prop, "name"):
			f.Name = t.Value
		case eq && strings.EqualFold(t.Prop, "location"):
			f.Location = t.Value
		case strings.EqualFold(t.Func, "substringof") && strings.EqualFold(t.Prop, "name"):
			f.NameContains = t.Value
		default:
			err = odata.ErrSyntax
		}
	}
	if tags && (others || (f.TagName == "") == (f.TagPrefix == "") || (f.TagValue != nil && f.TagName == "")) {
		err = odata.ErrSyntax
	}
	if err != nil {
		return f, filterError("InvalidFilterInQueryString", "Invalid $filter '"+s+"'. Supported: resourceGroup eq '{group}', "+
			"resourceType eq '{type}', name eq '{name}', location eq '{location}', substringof('{text}', name), joined with 'and'; "+
			"or alone: tagName eq '{tag}' [and tagValue eq '{value}'], startswith(tagName, '{prefix}').")
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
