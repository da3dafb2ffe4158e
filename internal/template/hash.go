package template

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"
)

// uniqueString is the cloud's uniqueString: its arguments joined with
// "-", hashed with a 64-bit MurmurHash variant (two 32-bit lanes, seed 0),
// and the hash's top 65 bits written as 13 characters of lower-case
// base32. The algorithm and its test vectors are as public
// reimplementations describe them, checked against the cloud's output.
func uniqueString(parts []string) string {
	const (
		c1 = 0xab0e9789
		c2 = 0x239b961b
		c3 = 0x85ebca6b
		c4 = 0xc2b2ae35
	)
	data := []byte(strings.Join(parts, "-"))
	var h1, h2 uint32
	i := 0
	for ; i+8 <= len(data); i += 8 {
		k1 := binary.LittleEndian.Uint32(data[i:])
		k2 := binary.LittleEndian.Uint32(data[i+4:])
		h1 ^= bits.RotateLeft32(k1*c2, 15) * c1
		h1 = (bits.RotateLeft32(h1, 19)+h2)*5 + 0x561ccd1b
		h2 ^= bits.RotateLeft32(k2*c1, 17) * c2
		h2 = (bits.RotateLeft32(h2, 13)+h1)*5 + 0x0bcaa747
	}
	if rest := data[i:]; len(rest) > 0 {
		var tail [8]byte
		copy(tail[:], rest)
		h1 ^= bits.RotateLeft32(binary.LittleEndian.Uint32(tail[:])*c2, 15) * c1
		if len(rest) > 4 {
			h2 ^= bits.RotateLeft32(binary.LittleEndian.Uint32(tail[4:])*c1, 17) * c2
		}
	}
	n := uint32(len(data))
	h2 ^= n
	h1 = (h1 ^ n) + h2
	h2 += h1
	fmix := func(h uint32) uint32 {
		h = (h ^ h>>16) * c3
		h = (h ^ h>>13) * c4
		return h ^ h>>16
	}
	h1, h2 = fmix(h1), fmix(h2)
	h1 += h2
	h2 += h1
	h := uint64(h2)<<32 | uint64(h1)
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	out := make([]byte, 13)
	for j := range out {
		out[j] = alphabet[h>>59]
		h <<= 5
	}
	return string(out)
}

// guidNamespace is the namespace of the cloud's guid(): a name-based
// (version 5) UUID of the arguments joined with "-".
var guidNamespace = [16]byte{0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd, 0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30}

func guid(parts []string) string {
	h := sha1.New()
	h.Write(guidNamespace[:])
	h.Write([]byte(strings.Join(parts, "-")))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
