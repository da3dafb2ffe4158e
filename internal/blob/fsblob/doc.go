// Package fsblob is the blob store on a local directory.
//
// Layout under the root:
//
//	blobs/<algorithm>/<first two hex>/<hex>   committed content, read-only
//	uploads/<id>/data                          bytes received so far
//	uploads/<id>/sha256                        hash state after those bytes
//
// Appends are fsynced before they return and committed content is renamed
// into place and its directory fsynced, so a crash leaves either a whole,
// verified blob or none. The saved hash state lets a chunked upload be
// verified without reading it again; it is only a shortcut, and when it does
// not match the data (a crash between the two writes) Verify hashes the file.
// Appends take an flock on the data file, so that concurrent requests for
// one upload, even from several processes, cannot interleave.
package fsblob
