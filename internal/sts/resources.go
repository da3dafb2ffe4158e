package sts

import "strings"

// Resource is an audience the token service issues tokens for.
type Resource struct {
	// Name is berth's own identifier of the resource.
	Name string
	// Version is the token version the resource takes ("1.0" or
	// "2.0"); it follows the resource, not the endpoint asked.
	Version string
}

// Berth's resources, each under its own URI and the public cloud's
// well-known URIs for the same thing, so that clients which hard-code those
// work unchanged.
var (
	Management = Resource{Name: "management", Version: "1.0"}
	Directory  = Resource{Name: "directory", Version: "1.0"}
	Registry   = Resource{Name: "registry", Version: "1.0"}
	// TokenExchange is the audience of a token one principal presents as
	// another's federated client assertion; no surface of berth accepts
	// it as anything else.
	TokenExchange = Resource{Name: "token-exchange", Version: "2.0"}
)

// TokenExchangeURI is the token exchange audience, the cloud's.
const TokenExchangeURI = "api://AzureADTokenExchange"

// DirectoryURI is berth's own identifier of the directory API.
const DirectoryURI = "api://berth/directory"

var resourceURIs = map[string]Resource{
	"api://berth/management":              Management,
	"https://management.core.windows.net": Management,
	"https://management.azure.com":        Management,
	DirectoryURI:                          Directory,
	"https://graph.microsoft.com":         Directory,
	"api://berth/registry":                Registry,
	"https://containerregistry.azure.net": Registry,
	strings.ToLower(TokenExchangeURI):     TokenExchange,
}

// LookupResource finds the resource a URI names; a trailing slash does not
// matter, case in the host does not either.
func LookupResource(uri string) (Resource, bool) {
	r, ok := resourceURIs[strings.ToLower(strings.TrimRight(uri, "/"))]
	return r, ok
}

// resourceFromScope extracts the resource of a v2 scope parameter. Clients
// add OpenID scopes (MSAL Go: "openid offline_access profile"), and send
// double slashes ("https://management.core.windows.net//.default"): only
// the final "/.default" is stripped, so the audience keeps its slash.
func resourceFromScope(scope string) (string, error) {
	var resource string
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "offline_access", "profile", "email":
			continue
		}
		r, ok := strings.CutSuffix(s, "/.default")
		if !ok {
			return "", ErrInvalidScope
		}
		if resource != "" && resource != r {
			return "", ErrMultipleResources
		}
		resource = r
	}
	if resource == "" {
		return "", ErrInvalidScope
	}
	return resource, nil
}
