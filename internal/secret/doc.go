// Package secret makes and checks client secrets.
//
// Secrets are 256 random bits, shown once and kept only as a salted hash.
// Because they are random rather than chosen by people, a keyed SHA-256 is
// enough to make a stolen database useless; a memory-hard KDF is for user
// passwords, where guessing is the threat.
package secret
