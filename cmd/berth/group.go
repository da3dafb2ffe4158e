package main

// Resource groups in the current subscription.
var groupCommands = []command{
	{words: "group", summary: "Manage resource groups."},
	{
		words:   "group create",
		summary: "Create a resource group.",
		uses:    usesManagement,
		examples: []example{
			{"A resource group in westeurope.", "berth group create -n G -l westeurope"},
		},
		flags: func(f *flagSet) runFunc {
			name := groupName(f)
			location := f.String("location l", "The resource group's location.", required)
			return func(c *call) (any, error) { return c.m.CreateGroup(c.ctx, *name, *location) }
		},
	},
	{
		words:   "group show",
		summary: "Show a resource group.",
		uses:    usesManagement,
		examples: []example{
			{"Show a resource group.", "berth group show -n G"},
		},
		flags: func(f *flagSet) runFunc {
			name := groupName(f)
			return func(c *call) (any, error) { return c.m.ShowGroup(c.ctx, *name) }
		},
	},
	{
		words:   "group list",
		summary: "List the resource groups of the subscription.",
		uses:    usesManagement,
		examples: []example{
			{"The names of the resource groups.", "berth group list --query '[].name' -o tsv"},
		},
		run: func(c *call) (any, error) { return c.m.ListGroups(c.ctx) },
	},
	{
		words:   "group delete",
		summary: "Delete a resource group and every resource in it.",
		uses:    usesManagement,
		examples: []example{
			{"Delete a resource group and its resources without the question.", "berth group delete -n G --yes"},
		},
		flags: func(f *flagSet) runFunc {
			name := groupName(f)
			yes := yesFlag(f)
			return func(c *call) (any, error) {
				if err := confirm(c, *yes); err != nil {
					return nil, err
				}
				return nil, c.m.DeleteGroup(c.ctx, *name)
			}
		},
	},
}

func groupName(f *flagSet) *string {
	return f.String("name resource-group n g", "The resource group's name.", required)
}
