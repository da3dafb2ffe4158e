// Package storetest is the conformance suite of the metadata store. Every
// backend runs it (see sqlstore's tests); a backend is correct when it
// passes, whatever its internals.
package storetest
