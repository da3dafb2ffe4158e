package main

import (
	"fmt"

	"github.com/berthhq/berth/internal/cli"
)

// Role definitions and assignments. Roles are named in any letter case;
// a scope defaults to the current subscription.
var roleCommands = []command{
	{words: "role", summary: "Manage role definitions and assignments."},
	{words: "role definition", summary: "Manage role definitions."},
	{
		words:   "role definition list",
		summary: "List the role definitions usable at a scope.",
		uses:    usesManagement,
		examples: []example{
			{"The id of the AcrPull role.", "berth role definition list --name acrpull --query '[0].id' -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			name := f.String("name n", "Only the role with this name.")
			scope := f.String("scope", "The scope the roles are usable at (default: the subscription).")
			return func(c *call) (any, error) { return c.m.ListRoleDefinitions(c.ctx, *name, *scope) }
		},
	},
	{words: "role assignment", summary: "Manage role assignments."},
	{
		words:   "role assignment create",
		summary: "Give a principal a role at a scope.",
		more:    "The assignee is a user principal name, service principal name, app id or object id, looked up in the directory; --assignee-object-id skips the look-up.",
		uses:    usesManagement,
		examples: []example{
			{"Let a service principal pull from a registry.", "berth role assignment create --assignee APP_ID --role acrpull --scope $(berth acr show -n R --query id -o tsv)"},
		},
		flags: func(f *flagSet) runFunc {
			var o cli.AssignmentCreate
			f.StringVar(&o.Assignee, "assignee", "A user principal name, service principal name, app id or object id.")
			f.StringVar(&o.ObjectID, "assignee-object-id", "The assignee's object id, not looked up in the directory.")
			f.StringVar(&o.PrincipalType, "assignee-principal-type", "ServicePrincipal, User or Group, with --assignee-object-id.")
			f.StringVar(&o.Role, "role", "The role's name (in any letter case), id or definition id.")
			f.StringVar(&o.Scope, "scope", "The scope: a subscription, resource group or resource id (default: the subscription).")
			return func(c *call) (any, error) { return c.m.CreateAssignment(c.ctx, o) }
		},
	},
	{
		words:   "role assignment list",
		summary: "List role assignments.",
		uses:    usesManagement,
		examples: []example{
			{"Everything a principal holds in the subscription.", "berth role assignment list --assignee APP_ID --all -o table"},
		},
		flags: func(f *flagSet) runFunc {
			q := assignmentQuery(f)
			f.BoolVar(&q.All, "all", "Those at every scope in the subscription.")
			return func(c *call) (any, error) { return c.m.ListAssignments(c.ctx, *q) }
		},
	},
	{
		words:   "role assignment delete",
		summary: "Delete role assignments, by id or by what they match.",
		uses:    usesManagement,
		examples: []example{
			{"Take AcrPull on a registry away.", "berth role assignment delete --assignee APP_ID --role acrpull --scope $ACR_ID"},
		},
		flags: func(f *flagSet) runFunc {
			q := assignmentQuery(f)
			ids := f.List("ids", "The assignments' ids, space-separated.")
			return func(c *call) (any, error) {
				n, err := c.m.DeleteAssignments(c.ctx, *ids, *q)
				if err == nil && n == 0 {
					fmt.Fprintln(c.stderr, "No matched assignments were found to delete")
				}
				return nil, err
			}
		},
	},
}

// assignmentQuery is the flags that choose role assignments.
func assignmentQuery(f *flagSet) *cli.AssignmentQuery {
	var q cli.AssignmentQuery
	f.StringVar(&q.Assignee, "assignee", "Only those of this principal.")
	f.StringVar(&q.Role, "role", "Only those of this role.")
	f.StringVar(&q.Scope, "scope", "Only those at this scope.")
	f.BoolVar(&q.Inherited, "include-inherited", "Also those at scopes above --scope.")
	return &q
}
