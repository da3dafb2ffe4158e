package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Parameters of new hashes; see the package documentation.
const (
	Time    = 3
	Memory  = 64 * 1024 // KiB
	Threads = 2
	saltLen = 16
	keyLen  = 32
)

// MinLength is the fewest characters a password may have.
const MinLength = 8

// Limits on what Verify accepts from an encoded hash, so that a corrupted
// or planted row cannot make one verification allocate gigabytes or spin
// for minutes.
const (
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 16
	maxThreads = 64
	maxKeyLen  = 128
)

var (
	// ErrTooShort is returned by Hash for a password under MinLength
	// characters.
	ErrTooShort = fmt.Errorf("password must have at least %d characters", MinLength)
	// ErrMalformed is returned by Verify for an encoding it cannot read.
	ErrMalformed = errors.New("malformed password hash")
)

var b64 = base64.RawStdEncoding

// Hash returns the encoded argon2id hash of pw under a fresh salt.
func Hash(pw string) (string, error) {
	if utf8.RuneCountInString(pw) < MinLength {
		return "", ErrTooShort
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, Time, Memory, Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, Memory, Time, Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Params are the argon2id parameters of an encoded hash.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Verify reports whether pw matches the encoded hash; the comparison takes
// the same time wherever the tags differ. An error means the encoding is
// unusable, never that the password is wrong.
func Verify(pw, encoded string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Parse returns the parameters an encoded hash was made with, so callers
// can tell hashes that should be redone with the current parameters.
func Parse(encoded string) (Params, error) {
	p, _, _, err := decode(encoded)
	return p, err
}

func decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version || parts[2] != fmt.Sprintf("v=%d", v) {
		return p, nil, nil, ErrMalformed
	}
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads) {
		return p, nil, nil, ErrMalformed
	}
	// argon2 needs at least 8 KiB per lane.
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory {
		return p, nil, nil, ErrMalformed
	}
	salt, err = b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformed
	}
	key, err = b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return p, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
