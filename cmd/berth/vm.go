package main

import "github.com/berthhq/berth/internal/cli"

// Virtual machines: the records of machines that run berth's metadata
// agent, and their identities.
var vmCommands = []command{
	{words: "vm", summary: "Manage virtual machines: the machines berth imds runs on."},
	{
		words:   "vm create",
		summary: "Record a machine and write its machine credential, the file berth imds runs with.",
		more:    "The credential file holds the machine's private key, berth's address and CA (mode 0600); the key is never printed.",
		uses:    usesManagement,
		examples: []example{
			{"A machine with its system-assigned identity.", "berth vm create -g G -n vm1 --assign-identity --credential-file vm1.json"},
		},
		flags: func(f *flagSet) runFunc {
			o := cli.VMCreate{Size: "Standard_DS1_v2"}
			f.StringVar(&o.Name, "name n", "The machine's name.", required)
			f.StringVar(&o.Group, "resource-group g", "The resource group.", required)
			f.StringVar(&o.Location, "location l", "The location (default: the resource group's).")
			f.StringVar(&o.Image, "image", "The image: publisher:offer:sku:version, an image's resource id, or an alias (Ubuntu2204, Ubuntu2404, Debian12).")
			f.StringVar(&o.Size, "size", "The machine's size.")
			f.StringVar(&o.CredentialFile, "credential-file", "Where to write the machine credential for berth imds (default: ./NAME.credential.json).")
			assign, ids := f.OptionalList("assign-identity", `Assign identities: alone the system-assigned one; with ids those user-assigned ones, "[system]" among them the system one too.`)
			return func(c *call) (any, error) {
				o.AssignIdentity, o.Identities = assign(), *ids
				return c.m.CreateVM(c.ctx, o)
			}
		},
	},
	{
		words:   "vm show",
		summary: "Show a machine.",
		uses:    usesManagement,
		examples: []example{
			{"The principal id of a machine's system-assigned identity.", "berth vm show -g G -n vm1 --query identity.principalId -o tsv"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The machine's name.")
			return func(c *call) (any, error) { return c.m.ShowVM(c.ctx, *name, *group) }
		},
	},
	{
		words:   "vm delete",
		summary: "Delete a machine; its credential stops working.",
		uses:    usesManagement,
		examples: []example{
			{"Delete a machine without the question.", "berth vm delete -g G -n vm1 --yes"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The machine's name.")
			yes := yesFlag(f)
			return func(c *call) (any, error) {
				if err := confirm(c, *yes); err != nil {
					return nil, err
				}
				return nil, c.m.DeleteVM(c.ctx, *name, *group)
			}
		},
	},
	{words: "vm credential", summary: "Manage a machine's credential."},
	{
		words:   "vm credential reset",
		summary: "Issue a new machine credential; the old one stops working.",
		uses:    usesManagement,
		examples: []example{
			{"A new machine credential for berth imds.", "berth vm credential reset -g G -n vm1 --credential-file vm1.json"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The machine's name.")
			file := f.String("credential-file", "Where to write the new machine credential for berth imds.", required)
			return func(c *call) (any, error) { return c.m.ResetVMCredential(c.ctx, *name, *group, *file) }
		},
	},
	{words: "vm identity", summary: "Manage a machine's managed identities."},
	{
		words:   "vm identity assign",
		summary: "Assign managed identities to a machine.",
		uses:    usesManagement,
		examples: []example{
			{"Assign a user-assigned identity.", "berth vm identity assign -g G -n vm1 --identities $(berth identity show -g G -n puller --query id -o tsv)"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The machine's name.")
			ids := vmIdentities(f)
			return func(c *call) (any, error) { return c.m.AssignVMIdentity(c.ctx, *name, *group, *ids) }
		},
	},
	{
		words:   "vm identity remove",
		summary: "Remove managed identities from a machine.",
		uses:    usesManagement,
		examples: []example{
			{"Remove the system-assigned identity.", "berth vm identity remove -g G -n vm1 --identities [system]"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The machine's name.")
			ids := vmIdentities(f)
			return func(c *call) (any, error) { return c.m.RemoveVMIdentity(c.ctx, *name, *group, *ids) }
		},
	},
	{
		words:   "vm identity show",
		summary: "Show a machine's managed identities.",
		uses:    usesManagement,
		examples: []example{
			{"A machine's identities.", "berth vm identity show -g G -n vm1"},
		},
		flags: func(f *flagSet) runFunc {
			name, group := nameAndGroup(f, "The machine's name.")
			return func(c *call) (any, error) { return c.m.ShowVMIdentity(c.ctx, *name, *group) }
		},
	},
}

func vmIdentities(f *flagSet) *[]string {
	return f.List("identities", `User-assigned identities' resource ids, space-separated, "[system]" for the system-assigned one (default: the system-assigned one).`)
}
