// Package registryauth decides who may do what at a registry.
//
// For now the registry trusts one kind of caller: the service principals it
// was told are its administrators (the bootstrap administrator), presenting
// their application id and a client secret as HTTP Basic credentials. They
// may do everything. Identity-based registry tokens replace this gate later;
// it implements ociapi.Authorizer so the registry's handlers do not change.
package registryauth
