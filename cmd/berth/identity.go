package main

// User-assigned managed identities.
var identityCommands = []command{
	{words: "identity", summary: "Manage user-assigned managed identities."},
	{
		words:   "identity create",
		summary: "Create a user-assigned identity, with its service principal.",
		uses:    usesManagement,
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The identity's name.")
			location := f.String("location l", "The location (default: the resource group's).")
			return func(c *call) (any, error) { return c.m.CreateIdentity(c.ctx, *name, *group, *location) }
		},
	},
	{
		words:   "identity show",
		summary: "Show a user-assigned identity.",
		uses:    usesManagement,
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The identity's name.")
			return func(c *call) (any, error) { return c.m.ShowIdentity(c.ctx, *name, *group) }
		},
	},
	{
		words:   "identity list",
		summary: "List the user-assigned identities of the subscription or of a resource group.",
		uses:    usesManagement,
		flags: func(f *flagSet) runFunc {
			group := f.String("resource-group g", "Only those of this resource group.")
			return func(c *call) (any, error) { return c.m.ListIdentities(c.ctx, *group) }
		},
	},
	{
		words:   "identity delete",
		summary: "Delete a user-assigned identity.",
		uses:    usesManagement,
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The identity's name.")
			return func(c *call) (any, error) { return nil, c.m.DeleteIdentity(c.ctx, *name, *group) }
		},
	},
}

// nameAndGroup is --name and --resource-group of the commands on one
// resource, both required.
func nameAndGroup(f *flagSet, nameHelp string) (name, group *string) {
	return f.String("name n", nameHelp, required), f.String("resource-group g", "The resource group.", required)
}
