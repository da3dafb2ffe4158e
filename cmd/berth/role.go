package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/berthhq/berth/internal/cli"
)

const roleUsage = `usage:
  berth role definition list [--name ROLE] [--scope SCOPE]
  berth role assignment create (--assignee NAME|APP_ID|OBJECT_ID | --assignee-object-id ID [--assignee-principal-type ServicePrincipal|User])
                               --role ROLE|ID [--scope SCOPE]
  berth role assignment list [--assignee X] [--role ROLE] [--scope SCOPE] [--include-inherited] [--all]
  berth role assignment delete --ids ID... | [--assignee X] [--role ROLE] [--scope SCOPE] [--include-inherited]
Roles are named in any letter case. SCOPE defaults to the current subscription.
`

// role is "berth role": role definitions and assignments.
func role(args []string, stdout, stderr io.Writer) error {
	name, args := words(args)
	var out outputFlags
	fs := flag.NewFlagSet("berth role "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out.register(fs)
	var c cli.AssignmentCreate
	var q cli.AssignmentQuery
	var idList listFlag
	switch name {
	case "definition list":
		stringFlag(fs, &q.Role, "only the role with this name", "name", "n")
		fs.StringVar(&q.Scope, "scope", "", "the scope the roles are usable at")
	case "assignment create":
		fs.StringVar(&c.Assignee, "assignee", "", "a user principal name, service principal name, app id or object id")
		fs.StringVar(&c.ObjectID, "assignee-object-id", "", "the assignee's object id, not looked up in the directory")
		fs.StringVar(&c.PrincipalType, "assignee-principal-type", "", "ServicePrincipal, User or Group, with --assignee-object-id")
		fs.StringVar(&c.Role, "role", "", "the role's name, id or definition id")
		fs.StringVar(&c.Scope, "scope", "", "the scope: a subscription, resource group or resource id")
	case "assignment list", "assignment delete":
		fs.StringVar(&q.Assignee, "assignee", "", "only those of this principal")
		fs.StringVar(&q.Role, "role", "", "only those of this role")
		fs.StringVar(&q.Scope, "scope", "", "only those at this scope")
		fs.BoolVar(&q.Inherited, "include-inherited", false, "also those at scopes above --scope")
		if name == "assignment list" {
			fs.BoolVar(&q.All, "all", false, "those at every scope in the subscription")
		} else {
			fs.Var(&idList, "ids", "the assignments' ids (several after one --ids)")
		}
	default:
		fmt.Fprint(stderr, roleUsage)
		return errUsage
	}
	if err := parseAz(fs, args, "ids"); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	m, err := loadManagement()
	if err != nil {
		return err
	}
	var v any
	switch name {
	case "definition list":
		v, err = m.ListRoleDefinitions(ctx, q.Role, q.Scope)
	case "assignment create":
		v, err = m.CreateAssignment(ctx, c)
	case "assignment list":
		v, err = m.ListAssignments(ctx, q)
	case "assignment delete":
		n, err := m.DeleteAssignments(ctx, idList, q)
		if err == nil && n == 0 {
			fmt.Fprintln(stderr, "No matched assignments were found to delete")
		}
		return err
	}
	if err != nil {
		return err
	}
	return out.print(stdout, v)
}
