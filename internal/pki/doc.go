// Package pki makes and keeps berth's local certificate authority and the
// server certificate it signs.
//
// The CA lives in the data directory (ca.crt, pki/ca.key) and is made once; it
// is what clients are told to trust. The server certificate is re-issued on
// start whenever it is missing, near expiry, or lacks a host name the
// server is now configured for, so changing --host or the registry suffix
// never needs manual steps.
package pki
