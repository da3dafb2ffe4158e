// Package blobtest is the conformance suite of the blob store. Every backend
// runs it; a backend is correct when it passes.
package blobtest
