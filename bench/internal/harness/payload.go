package harness

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"runtime"
	"sync"
)

// Blob is one synthetic layer. Its content is a pure function of Seed and
// Size, so both registries receive byte-identical workloads and digests can
// be computed once, before any clock starts.
type Blob struct {
	Seed   uint64
	Size   int64
	Digest string
}

const payloadBlock = 64 << 10

// payloadReader streams splitmix64 output. It is not cryptographic; it only
// has to be incompressible, distinct per seed and several times faster than
// SHA-256 so the client never holds a blob in memory nor becomes the
// bottleneck.
type payloadReader struct {
	state  uint64
	remain int64
	buf    [payloadBlock]byte
	off    int
}

// NewPayload returns a reader producing size bytes of content for seed.
func NewPayload(seed uint64, size int64) io.Reader {
	r := &payloadReader{state: seed, remain: size}
	r.off = len(r.buf)
	return r
}

func (r *payloadReader) fill() {
	for i := 0; i < len(r.buf); i += 8 {
		r.state += 0x9e3779b97f4a7c15
		z := r.state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(r.buf[i:], z^(z>>31))
	}
	r.off = 0
}

// next returns the next chunk of content without copying it.
func (r *payloadReader) next() []byte {
	if r.off == len(r.buf) {
		r.fill()
	}
	p := r.buf[r.off:]
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	r.off += len(p)
	r.remain -= int64(len(p))
	return p
}

func (r *payloadReader) Read(p []byte) (int, error) {
	if r.remain == 0 {
		return 0, io.EOF
	}
	if r.off == len(r.buf) {
		r.fill()
	}
	n := copy(p, r.buf[r.off:])
	if int64(n) > r.remain {
		n = int(r.remain)
	}
	r.off += n
	r.remain -= int64(n)
	return n, nil
}

// WriteTo lets io.Copy hand whole 64 KiB blocks to the HTTP transport and to
// hashers instead of bouncing them through an intermediate buffer.
func (r *payloadReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.remain > 0 {
		n, err := w.Write(r.next())
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func digestOf(seed uint64, size int64) string {
	h := sha256.New()
	if _, err := io.Copy(h, NewPayload(seed, size)); err != nil {
		panic(err) // hash.Hash never fails to write
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// fillDigests computes every blob's digest on all cores.
func fillDigests(blobs []*Blob) {
	work := make(chan *Blob)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for b := range work {
				b.Digest = digestOf(b.Seed, b.Size)
			}
		})
	}
	for _, b := range blobs {
		work <- b
	}
	close(work)
	wg.Wait()
}
