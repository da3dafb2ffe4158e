// Package imds is berth's instance metadata agent: it runs on a machine
// (a virtual machine resource of berth's control plane) and serves the
// machine's processes the cloud's instance metadata endpoint, so that
// unmodified clients get tokens for the managed identities assigned to
// the machine. It proves itself to berth's token service with the
// machine credential (CredentialFile) and keeps no other secret.
package imds
