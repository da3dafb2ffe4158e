package harness

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
)

// Limits are what this machine can do with no registry in the way: the
// ceilings that pull and push rows are compared against. Each is sampled
// several times through the run, because other load on a shared machine
// comes and goes; the best sample is the ceiling, and the spread shows how
// noisy the machine was.
type Limits struct {
	TLSCopy [][]Result // samples per Plan.Conc index
	SHA256  [][]Result // samples per Plan.Conc index
	Disk    []Result   // one sequential writer, fsync included
}

// sample measures every limit once more.
func (l *Limits) sample(ctx context.Context, plan Plan, ca *CA, scratch string) error {
	if l.TLSCopy == nil {
		l.TLSCopy = make([][]Result, len(plan.Conc))
		l.SHA256 = make([][]Result, len(plan.Conc))
	}
	for i, conc := range plan.Conc {
		r, err := tlsCopy(ctx, ca, conc, plan.TLSCopyBytes/int64(conc))
		if err != nil {
			return fmt.Errorf("loopback TLS copy: %w", err)
		}
		l.TLSCopy[i] = append(l.TLSCopy[i], r)
		l.SHA256[i] = append(l.SHA256[i], hashRate(ctx, conc, int(plan.HashBytes/plan.HashChunk), plan.HashChunk))
	}
	r, err := diskWrite(scratch, plan.DiskBytes)
	if err != nil {
		return fmt.Errorf("disk write: %w", err)
	}
	l.Disk = append(l.Disk, r)
	return nil
}

// best returns the fastest sample.
func best(samples []Result) Result {
	var b Result
	for _, r := range samples {
		if b.Elapsed == 0 || r.MBps() > b.MBps() {
			b = r
		}
	}
	return b
}

// worst returns the slowest sample.
func worst(samples []Result) Result {
	var w Result
	for _, r := range samples {
		if w.Elapsed == 0 || r.MBps() < w.MBps() {
			w = r
		}
	}
	return w
}

// tlsCopy measures conc Go TLS connections over loopback, each streaming size
// bytes from server to client, with the same certificate type, TLS defaults
// and client read buffering as the registry rows. That is the ceiling for a
// blob pull.
func tlsCopy(ctx context.Context, ca *CA, conc int, size int64) (Result, error) {
	config, err := ca.LoopbackTLS()
	if err != nil {
		return Result{}, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", config)
	if err != nil {
		return Result{}, err
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				// 32 KiB writes match what net/http's io.Copy hands a
				// TLS connection when a registry streams a file.
				io.Copy(conn, io.LimitReader(zeroReader{}, size))
			}()
		}
	}()

	roots := &tls.Config{RootCAs: ca.Pool()}
	addr := ln.Addr().String()
	r := measure(ctx, conc, conc, func(ctx context.Context, _ int) (int64, error) {
		conn, err := (&tls.Dialer{Config: roots}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		n, err := io.Copy(io.Discard, bufio.NewReaderSize(conn, 64<<10))
		if err == nil && n != size {
			err = fmt.Errorf("read %d bytes, want %d", n, size)
		}
		return n, err
	})
	return r, r.Err
}

// zeroReader is an endless source of zeros. TLS encrypts them, so their
// content makes no difference to the cost.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// hashRate measures crypto/sha256 hashing ops in-memory buffers of size
// bytes on conc goroutines. A registry must hash every pushed byte, so this is the ceiling
// for a blob push.
func hashRate(ctx context.Context, conc, ops int, size int64) Result {
	buf, err := io.ReadAll(NewPayload(0, size))
	if err != nil {
		panic(err) // payloadReader never fails
	}
	return measure(ctx, conc, ops, func(context.Context, int) (int64, error) {
		h := sha256.New()
		h.Write(buf)
		h.Sum(nil)
		return size, nil
	})
}

// diskWrite measures one sequential writer including fsync on the scratch
// file system, where both registries keep their storage. It is context for
// large push rows, which outgrow the page cache's dirty limits.
func diskWrite(dir string, size int64) (Result, error) {
	f, err := os.CreateTemp(dir, "disk-*")
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(f.Name())
	r := measure(context.Background(), 1, 1, func(context.Context, int) (int64, error) {
		n, err := io.Copy(f, NewPayload(1, size))
		if err == nil {
			err = f.Sync()
		}
		return n, err
	})
	return r, errors.Join(r.Err, f.Close())
}
