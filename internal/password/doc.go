// Package password hashes and verifies user passwords.
//
// The hash is argon2id (RFC 9106), a memory-hard KDF: every guess costs an
// attacker who has stolen the user table 64 MiB of memory as well as time,
// which makes GPU and ASIC cracking far more expensive than with a fast hash
// or with the CPU-only bcrypt and PBKDF2. Argon2id, rather than argon2i or
// argon2d, resists both side-channel and time-memory trade-off attacks,
// which is why RFC 9106 recommends it. Application secrets (internal/secret)
// need none of this: they are 256 random bits, not chosen by people.
//
// The parameters are RFC 9106's second recommended option, for
// environments short of memory: t=3 passes over m=64 MiB, with p=2 lanes
// (the RFC's p=4 buys nothing on small hosts), a 16-byte random salt and a
// 32-byte tag. One hash takes some tens of milliseconds.
//
// Hashes are stored in the PHC string format that other argon2
// implementations read and write:
//
//	$argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. Verify takes the
// parameters from the string, not from this package's constants, so that
// raising them later leaves existing hashes valid.
package password
