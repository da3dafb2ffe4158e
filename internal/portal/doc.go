// Package portal serves the pages people use to manage berth in a
// browser, under /portal on berth's address: the directory's app
// registrations (list and search, a new registration with its supported
// account types and redirect URI, its overview with the application and
// directory ids, its client secrets and certificates), enterprise
// applications (the
// tenant's service principals, consented ones among them, and their
// removal), users (list and search, creation, password resets, disabling,
// deletion, directory roles), subscriptions with their resource groups
// and a group's resources, registries created and their settings (admin
// user, anonymous pull) changed through controlplane.Service, the
// container registries the user may read with their
// repositories, tags and manifests (what the user's tokens could pull or
// read, as package registryauth decides it): a manifest's details, an
// index's platforms, its referrers, repository, tag and manifest locks
// (tags and manifests whose listEnabled is false left out of the lists,
// as the registry's /acr/v1 lists leave them out), and deletion
// after a confirmation page, each allowed as the registry's metadata API
// allows it (registryauth.Reader.May), access control
// (role assignments at a scope and inherited from above it; adding them,
// with a member found by a search on the server, and removing them;
// checking a principal's access) on any subscription, resource group or
// resource, managed identities with their federated credentials and the
// machines and clusters with their identities (read-only), and the
// user's own account, where they choose a new password
// (web.Handler.ChangePassword).
//
// Users of any tenant sign in through package web's sign-in pages and
// session (web.Handler.Require): the portal keeps no session, key or CSRF
// scheme of its own, and every form carries the session's CSRF token,
// checked before the page's code runs. Every page calls the services
// behind the directory and management APIs in-process (graph.Service,
// controlplane.Service) as the signed-in user, so a user sees and changes
// exactly what their directory roles and role assignments allow through
// the APIs; a refusal is a page that says what was not allowed and what
// would allow it.
//
// Pages are server-rendered html/template forms that need no JavaScript,
// styled by package web's stylesheet with the portal's rules added, inline
// and allowed by its hash, under the same strict Content-Security-Policy
// and headers as the sign-in pages (Cache-Control no-store among them). A
// new client secret's value, and a user's new password, is in the answer
// to the form that made it only: it is never stored, and no page shows it
// again. Those two forms carry web.Handler.Mark of the state their page
// showed, so that the same form sent again (a reload of the answer)
// changes nothing; every other form answers with a redirect. A method no
// page takes gets the portal's own 405 page.
package portal
