// Package fsblob is the blob store on a local directory.
//
// Layout under the root:
//
//	blobs/<algorithm>/<first two hex>/<hex>   committed content, read-only
//	uploads/<id>/data                          bytes received so far
//	uploads/<id>/sha256                        hash state after those bytes
//	uploads/<id>/sealed                        the data once verified
//
// Appends are fsynced before they return. Verify renames the data to
// "sealed" under the upload's lock, so no later append can change what was
// verified; Commit hard-links the sealed file into place and fsyncs the
// directory. A crash leaves either a whole, verified blob or none, and the
// upload can publish its content again if garbage collection removed it in
// between. The saved hash state lets a chunked upload be
// verified without reading it again; it is only a shortcut, and when it does
// not match the data (a crash between the two writes) Verify hashes the file.
// Appends take an flock on the data file, so that concurrent requests for
// one upload, even from several processes, cannot interleave.
package fsblob
