// Package ids makes the random identifiers berth hands out: GUIDs in the
// form the cloud uses for tenants, objects, applications and correlation.
package ids

import (
	"crypto/rand"
	"fmt"
)

// New returns a random (version 4) GUID in lower case.
func New() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
