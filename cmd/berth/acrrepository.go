package main

import (
	"fmt"

	"github.com/berthhq/berth/internal/cli"
)

// A registry's repositories, tags and manifests through its own API
// (/acr/v1/), in the cloud CLI's grammar: the commands log in to the
// registry as acr login does and call it directly.
var acrRepositoryCommands = []command{
	{words: "acr repository", summary: "Manage a registry's repositories, tags and manifests."},
	{
		words:   "acr repository list",
		summary: "List the repositories you may pull from.",
		uses:    usesManagement,
		examples: []example{
			{"A registry's repositories.", "berth acr repository list -n myregistry -o table"},
		},
		flags: func(f *flagSet) runFunc {
			name := f.String("name n", "The registry's name.", required)
			top := f.Int("top", "At most this many (0: all).", 0)
			return func(c *call) (any, error) {
				d, err := c.m.RegistryData(c.ctx, *name)
				if err != nil {
					return nil, err
				}
				return d.Repositories(c.ctx, *top)
			}
		},
	},
	{
		words:   "acr repository show",
		summary: "Show a repository's, a tag's or a manifest's attributes.",
		uses:    usesManagement,
		examples: []example{
			{"Whether a tag is locked.", "berth acr repository show -n myregistry --image app:v1 --query changeableAttributes.writeEnabled"},
			{"A repository's counts.", "berth acr repository show -n myregistry --repository app"},
		},
		flags: func(f *flagSet) runFunc {
			name, repo, image := imageFlags(f)
			return func(c *call) (any, error) {
				d, err := c.m.RegistryData(c.ctx, *name)
				if err != nil {
					return nil, err
				}
				if *repo != "" {
					return d.ShowRepository(c.ctx, *repo)
				}
				img, err := cli.ParseImage(*image)
				if err != nil {
					return nil, err
				}
				return d.ShowImage(c.ctx, img)
			}
		},
	},
	{
		words:   "acr repository show-tags",
		summary: "List a repository's tags.",
		more:    "Tags whose listEnabled is false are left out.",
		uses:    usesManagement,
		examples: []example{
			{"The newest tag.", "berth acr repository show-tags -n myregistry --repository app --orderby time_desc --top 1 -o tsv"},
			{"Tags with their attributes.", "berth acr repository show-tags -n myregistry --repository app --detail"},
		},
		flags: func(f *flagSet) runFunc {
			name, o := listFlags(f)
			return func(c *call) (any, error) {
				d, err := c.m.RegistryData(c.ctx, *name)
				if err != nil {
					return nil, err
				}
				return d.ShowTags(c.ctx, *o)
			}
		},
	},
	{
		words:   "acr repository show-manifests",
		summary: "List a repository's manifests.",
		uses:    usesManagement,
		examples: []example{
			{"Manifests, newest first.", "berth acr repository show-manifests -n myregistry --repository app --orderby time_desc"},
		},
		flags: func(f *flagSet) runFunc {
			name, o := listFlags(f)
			return func(c *call) (any, error) {
				d, err := c.m.RegistryData(c.ctx, *name)
				if err != nil {
					return nil, err
				}
				return d.ShowManifests(c.ctx, *o)
			}
		},
	},
	{
		words:   "acr repository delete",
		summary: "Delete a repository, or a manifest with every tag pointing at it.",
		more:    "--image REPO:TAG deletes the manifest the tag points at, and its other tags; to remove just the tag, use untag.",
		uses:    usesManagement,
		examples: []example{
			{"Delete a repository.", "berth acr repository delete -n myregistry --repository app --yes"},
			{"Delete an image.", "berth acr repository delete -n myregistry --image app:v1 --yes"},
		},
		flags: func(f *flagSet) runFunc {
			name, repo, image := imageFlags(f)
			yes := yesFlag(f)
			return func(c *call) (any, error) {
				var img cli.Image
				if *repo == "" {
					var err error
					if img, err = cli.ParseImage(*image); err != nil {
						return nil, err
					}
				}
				if err := confirm(c, *yes); err != nil {
					return nil, err
				}
				d, err := c.m.RegistryData(c.ctx, *name)
				if err != nil {
					return nil, err
				}
				if *repo != "" {
					return d.DeleteRepository(c.ctx, *repo)
				}
				return nil, d.DeleteImage(c.ctx, img)
			}
		},
	},
	{
		words:   "acr repository untag",
		summary: "Remove a tag, leaving its manifest.",
		uses:    usesManagement,
		examples: []example{
			{"Untag an image.", "berth acr repository untag -n myregistry --image app:v1"},
		},
		flags: func(f *flagSet) runFunc {
			name := f.String("name n", "The registry's name.", required)
			image := f.String("image", "The tag, REPOSITORY:TAG.", required)
			return func(c *call) (any, error) {
				img, err := cli.ParseImage(*image)
				if err != nil {
					return nil, err
				}
				d, err := c.m.RegistryData(c.ctx, *name)
				if err != nil {
					return nil, err
				}
				return nil, d.Untag(c.ctx, img)
			}
		},
	},
	{
		words:   "acr repository update",
		summary: "Lock or unlock a repository, a tag or a manifest: change what may be written, deleted, listed and read.",
		more: "A tag with write enabled false cannot be pushed over or deleted; delete enabled false refuses deletes only. " +
			"A repository's attributes hold for everything in it.",
		uses: usesManagement,
		examples: []example{
			{"Lock a release.", "berth acr repository update -n myregistry --image app:1.0 --write-enabled false"},
			{"Allow updates but not deletes.", "berth acr repository update -n myregistry --repository app --delete-enabled false --write-enabled true"},
		},
		flags: func(f *flagSet) runFunc {
			name, repo, image := imageFlags(f)
			a := struct{ del, write, list, read **bool }{
				f.OptionalBool("delete-enabled", "Allow (true) or refuse (false) deletes."),
				f.OptionalBool("write-enabled", "Allow (true) or refuse (false) writes, and deletes."),
				f.OptionalBool("list-enabled", "Show (true) or hide (false) in listings."),
				f.OptionalBool("read-enabled", "Allow or refuse pulling the manifest."),
			}
			return func(c *call) (any, error) {
				attrs := cli.Attributes{DeleteEnabled: *a.del, WriteEnabled: *a.write, ListEnabled: *a.list, ReadEnabled: *a.read}
				var img cli.Image
				if *repo == "" {
					var err error
					if img, err = cli.ParseImage(*image); err != nil {
						return nil, err
					}
				}
				d, err := c.m.RegistryData(c.ctx, *name)
				if err != nil {
					return nil, err
				}
				if *repo != "" {
					return d.UpdateRepository(c.ctx, *repo, attrs)
				}
				return d.UpdateImage(c.ctx, img, attrs)
			}
		},
	},
}

// imageFlags are --name, and one of --repository and --image.
func imageFlags(f *flagSet) (name, repo, image *string) {
	name = f.String("name n", "The registry's name.", required)
	repo = f.String("repository", "The repository.")
	image = f.String("image t", "The image: REPOSITORY:TAG or REPOSITORY@DIGEST.")
	f.check(func() error {
		if (*repo == "") == (*image == "") {
			return fmt.Errorf("give either --repository or --image")
		}
		return nil
	})
	return name, repo, image
}

// listFlags are show-tags' and show-manifests'.
func listFlags(f *flagSet) (*string, *cli.ListOptions) {
	o := &cli.ListOptions{}
	name := f.String("name n", "The registry's name.", required)
	f.StringVar(&o.Repository, "repository", "The repository.", required)
	f.StringVar(&o.OrderBy, "orderby", "time_desc or time_asc (default: by name).")
	f.IntVar(&o.Top, "top", "At most this many (0: all).")
	f.BoolVar(&o.Detail, "detail", "Show every attribute.")
	f.check(func() error {
		_, err := cli.OrderBy(o.OrderBy)
		return err
	})
	return name, o
}
