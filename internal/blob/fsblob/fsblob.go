package fsblob

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/oci"
)

// Store is a blob store rooted at a directory.
type Store struct {
	root string
}

var _ blob.Store = (*Store)(nil)

// New opens (creating if needed) a blob store at root.
func New(root string) (*Store, error) {
	for _, dir := range []string{"blobs", "uploads"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o700); err != nil {
			return nil, err
		}
	}
	return &Store{root: root}, nil
}

func (s *Store) blobPath(d oci.Digest) string {
	enc := d.Encoded()
	return filepath.Join(s.root, "blobs", string(d.Algorithm()), enc[:2], enc)
}

func (s *Store) uploadDir(id string) string { return filepath.Join(s.root, "uploads", id) }

func (s *Store) Stat(_ context.Context, d oci.Digest) (int64, error) {
	fi, err := os.Stat(s.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, blob.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

type reader struct {
	*os.File
	size int64
}

func (r reader) Size() int64 { return r.size }

func (s *Store) Open(_ context.Context, d oci.Digest) (blob.Reader, error) {
	f, err := os.Open(s.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return reader{File: f, size: fi.Size()}, nil
}

func (s *Store) Delete(_ context.Context, d oci.Digest) error {
	err := os.Remove(s.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return blob.ErrNotFound
	}
	return err
}

func (s *Store) Walk(ctx context.Context, fn func(oci.Digest, int64) error) error {
	base := filepath.Join(s.root, "blobs")
	return filepath.WalkDir(base, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 3 {
			return nil
		}
		d, err := oci.ParseDigest(parts[0] + ":" + parts[2])
		if err != nil {
			return nil // not ours: ignore stray files rather than fail
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		return fn(d, fi.Size())
	})
}

func (s *Store) StartUpload(_ context.Context, id string) (err error) {
	defer noSpace(&err)
	dir := s.uploadDir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return goneUpload(err)
	}
	return f.Close()
}

// noSpace reports a write that failed for lack of space (or of quota)
// as blob.ErrInsufficientStorage.
func noSpace(err *error) {
	if errors.Is(*err, syscall.ENOSPC) || errors.Is(*err, syscall.EDQUOT) {
		*err = fmt.Errorf("%w (%v)", blob.ErrInsufficientStorage, *err)
	}
}

// goneUpload reports a file operation that failed because the upload's
// directory was removed meanwhile (garbage collection of a session it took
// for abandoned) as the upload being unknown, not as a server fault.
func goneUpload(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return blob.ErrUploadNotFound
	}
	return err
}

func (s *Store) openData(id string, flag int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.uploadDir(id), "data"), flag, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.ErrUploadNotFound
	}
	return f, err
}

// uploadFile is the upload's data, or its sealed data once verified.
func (s *Store) uploadFile(id string) (string, os.FileInfo, error) {
	for _, name := range []string{"data", "sealed"} {
		p := filepath.Join(s.uploadDir(id), name)
		fi, err := os.Stat(p)
		if err == nil {
			return p, fi, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, err
		}
	}
	return "", nil, blob.ErrUploadNotFound
}

func (s *Store) UploadSize(_ context.Context, id string) (int64, error) {
	_, fi, err := s.uploadFile(id)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// lockData opens the upload's data file and takes its lock, then checks
// that the file still is the upload's data: Verify may have sealed it, or
// AbortUpload removed it, while this request waited for the lock.
func (s *Store) lockData(id string, flag int) (*os.File, error) {
	f, err := s.openData(id, flag)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	held, err1 := f.Stat()
	named, err2 := os.Stat(filepath.Join(s.uploadDir(id), "data"))
	if err1 != nil || err2 != nil || !os.SameFile(held, named) {
		f.Close()
		return nil, blob.ErrUploadNotFound
	}
	return f, nil
}

// copyBuf is large enough that a 1 GiB push is a few thousand syscalls and
// small enough to keep memory flat under many concurrent uploads.
const copyBuf = 1 << 20

func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader) (_ int64, err error) {
	defer noSpace(&err)
	f, err := s.lockData(id, os.O_RDWR)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Size() != offset {
		return fi.Size(), blob.ErrRangeInvalid
	}
	h := s.loadState(id, offset)
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	var w io.Writer = &writeback{f: f, start: offset, flushed: offset}
	if h != nil {
		w = io.MultiWriter(w, h)
	}
	n, err := io.CopyBuffer(w, readerOnly{r}, make([]byte, copyBuf))
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		// All or nothing: a failed append leaves the upload where it was,
		// so the client can resume from the offset it last saw.
		return offset, errors.Join(err, f.Truncate(offset))
	}
	size := offset + n
	if h != nil {
		s.saveState(id, size, h)
	}
	return size, nil
}

// readerOnly hides WriterTo/ReaderFrom so CopyBuffer uses our buffer size.
type readerOnly struct{ io.Reader }

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writeback, do not wait.
const syncFileRangeWrite = 2

// An upload that has written writebackAfter asks the kernel to start
// putting it on disk every writebackEvery. Smaller uploads sit in the page
// cache until their fsync, which is cheaper: measured, early writeback of
// 32 concurrent 100 MiB uploads cost a third of their throughput, while for
// 1 GiB uploads, which fill the cache, it gained as much (docs/benchmarks.md).
const (
	writebackAfter = 256 << 20
	writebackEvery = 8 << 20
)

// writeback starts the kernel writing a large upload to disk while the
// rest is still arriving, so the fsync that acknowledges it has little left
// to do and many large uploads do not pile up dirty pages until the end.
type writeback struct {
	f              *os.File
	start, flushed int64
	written        int64
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if end := w.start + w.written; end >= writebackAfter && end-w.flushed >= writebackEvery {
		// Advisory: a failure here only means the fsync does the work.
		syscall.SyncFileRange(int(w.f.Fd()), w.flushed, end-w.flushed, syncFileRangeWrite)
		w.flushed = end
	}
	return n, err
}

// loadState returns a hash holding the state after offset bytes, or nil if
// no saved state matches (then Verify re-reads the data).
func (s *Store) loadState(id string, offset int64) hashState {
	h := sha256.New().(hashState)
	if offset == 0 {
		return h
	}
	b, err := os.ReadFile(filepath.Join(s.uploadDir(id), "sha256"))
	if err != nil || len(b) < 8 || int64(binary.BigEndian.Uint64(b)) != offset {
		return nil
	}
	if h.UnmarshalBinary(b[8:]) != nil {
		return nil
	}
	return h
}

type hashState interface {
	io.Writer
	Sum([]byte) []byte
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

func (s *Store) saveState(id string, size int64, h hashState) {
	state, err := h.MarshalBinary()
	if err != nil {
		return
	}
	b := binary.BigEndian.AppendUint64(nil, uint64(size))
	tmp := filepath.Join(s.uploadDir(id), "sha256.tmp")
	// Failure only costs a re-read at Verify, so it is not reported.
	if os.WriteFile(tmp, append(b, state...), 0o600) == nil {
		os.Rename(tmp, filepath.Join(s.uploadDir(id), "sha256"))
	}
}

func (s *Store) Verify(ctx context.Context, id string, d oci.Digest) (_ int64, err error) {
	defer noSpace(&err)
	sealed := filepath.Join(s.uploadDir(id), "sealed")
	f, err := s.lockData(id, os.O_RDONLY)
	if errors.Is(err, blob.ErrUploadNotFound) {
		// Sealed by an earlier Verify: check it against this digest.
		if f, err = os.Open(sealed); errors.Is(err, fs.ErrNotExist) {
			return 0, blob.ErrUploadNotFound
		} else if err != nil {
			return 0, err
		}
		defer f.Close()
		return hashMatches(f, d)
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	h := s.loadState(id, size)
	if d.Algorithm() != oci.SHA256 || h == nil {
		if size, err = hashMatches(f, d); err != nil {
			return 0, err
		}
	} else if hex.EncodeToString(h.Sum(nil)) != d.Encoded() {
		return 0, blob.ErrDigestMismatch
	}
	if err := os.Rename(filepath.Join(s.uploadDir(id), "data"), sealed); err != nil {
		return 0, goneUpload(err)
	}
	return size, goneUpload(syncDir(s.uploadDir(id)))
}

// hashMatches hashes f from the start with d's algorithm.
func hashMatches(f *os.File, d oci.Digest) (int64, error) {
	h := d.Algorithm().New()
	n, err := io.CopyBuffer(h, readerOnly{f}, make([]byte, copyBuf))
	if err != nil {
		return 0, err
	}
	if hex.EncodeToString(h.Sum(nil)) != d.Encoded() {
		return 0, blob.ErrDigestMismatch
	}
	return n, nil
}

// Commit hard-links the upload's data into place: the content appears
// whole or not at all, and the upload keeps its own name for it.
func (s *Store) Commit(_ context.Context, id string, d oci.Digest) (err error) {
	defer noSpace(&err)
	final := s.blobPath(d)
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	err = os.Link(filepath.Join(s.uploadDir(id), "sealed"), final)
	switch {
	case errors.Is(err, fs.ErrExist):
		// Same digest, same verified bytes: already published.
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return blob.ErrUploadNotFound
	case err != nil:
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// AbortUpload first renames the upload away, atomically: a request still
// appending to it can no longer add files to the directory being removed.
func (s *Store) AbortUpload(_ context.Context, id string) error {
	trash := filepath.Join(s.root, "uploads", ".trash-"+id+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.Rename(s.uploadDir(id), trash); errors.Is(err, fs.ErrNotExist) {
		return blob.ErrUploadNotFound
	} else if err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

func (s *Store) WalkUploads(ctx context.Context, fn func(string, time.Time) error) error {
	entries, err := os.ReadDir(filepath.Join(s.root, "uploads"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".trash-") {
			// Left by an AbortUpload that crashed: nobody can reach
			// it, so remove it now.
			os.RemoveAll(filepath.Join(s.root, "uploads", e.Name()))
			continue
		}
		_, fi, err := s.uploadFile(e.Name())
		if err != nil {
			if fi, err = e.Info(); err != nil {
				continue
			}
		}
		if err := fn(e.Name(), fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}
