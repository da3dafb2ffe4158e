package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestCrashDuringPushes kills the server (SIGKILL, no chance to clean up)
// while clients push images of a few layers, some in chunks so that uploads
// are half-way through, and restarts it, three times over. What must hold
// after each restart: every image whose manifest PUT was answered 201 can be
// pulled whole; anything else the clients sent is either absent or whole
// (a blob or manifest is never served partial or with bytes that do not
// match its digest); an upload session the server handed out can be
// resumed from where the server says it stands; and fsck finds nothing
// wrong.
func TestCrashDuringPushes(t *testing.T) {
	const (
		cycles  = 3
		pushers = 8
	)
	s := berthtest.Start(t)
	c := newRegistryClient(s)
	ctx := t.Context()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	// Layers several pushers upload at once, into the same repositories.
	var shared []testBlob
	for range 4 {
		shared = append(shared, randomBlob(rng.Uint64(), 64<<10+rng.IntN(448<<10)))
	}

	var acked []pushedImage
	for cycle := 1; cycle <= cycles; cycle++ {
		killAt := time.Now().Add(time.Second + rand.N(2*time.Second))
		run := &crashRun{t: t, c: c, cycle: cycle, shared: shared, attempted: map[string]int64{}, manifests: map[string]pushedImage{}, firstAck: make(chan struct{})}
		ps := make([]*crashPusher, pushers)
		var wg sync.WaitGroup
		for i := range ps {
			ps[i] = &crashPusher{crashRun: run, id: i, repo: fmt.Sprintf("crash/r%d", i%4), rng: rand.New(rand.NewPCG(seed, uint64(cycle*100+i)))}
			wg.Go(func() { ps[i].run(ctx) })
		}
		// The crash comes at a random point of the load, not at one the
		// pushers chose, but not before something was acknowledged: a
		// slow machine must not make the cycle vacuous.
		var stalled bool
		select {
		case <-run.firstAck:
			time.Sleep(time.Until(killAt))
		case <-time.After(time.Minute):
			stalled = true
		}
		run.killed.Store(true)
		s.Kill()
		wg.Wait()
		if stalled {
			t.Fatalf("cycle %d: no push acknowledged within a minute", cycle)
		}
		s.Restart()
		c.dropConnections()

		acked = append(acked, run.acked...)
		var sessions []*uploadSession
		for _, p := range ps {
			if p.interrupted != nil {
				sessions = append(sessions, p.interrupted)
			}
		}
		v := newImageVerifier(c)
		for _, err := range v.verifyAll(ctx, acked, true) {
			t.Errorf("cycle %d: acknowledged image lost in the crash: %v", cycle, err)
		}
		present, absent := run.checkUnacknowledged(ctx, v)
		resumed, gone := 0, 0
		for _, sess := range sessions {
			if resumeInterrupted(ctx, t, c, cycle, sess) {
				resumed++
			} else {
				gone++
			}
		}
		sum, err := runFsck(t, s)
		if err != nil {
			t.Errorf("cycle %d: %v", cycle, err)
		}
		t.Logf("cycle %d: killed after %d acknowledged pushes (%d in all so far, %d bytes of blobs pulled back); "+
			"of the blobs and unanswered manifests sent, %d are whole and %d absent; %d interrupted uploads resumed, %d finished before the crash; fsck: %s",
			cycle, len(run.acked), len(acked), v.Bytes, present, absent, resumed, gone, sum)
		if t.Failed() {
			t.FailNow()
		}
	}

	// The collector must clear what the crashes left (unpublished records,
	// dead sessions) without touching acknowledged images.
	r, err := runGC(t, s, "1ms")
	if err != nil {
		t.Fatal(err)
	}
	v := newImageVerifier(c)
	for _, err := range v.verifyAll(ctx, acked, true) {
		t.Errorf("after collecting the crashes' leftovers: acknowledged image lost: %v", err)
	}
	sum, err := runFsck(t, s)
	if err != nil {
		t.Error(err)
	}
	t.Logf("after a collection (%d blobs, %d uploads removed): %d acknowledged images pulled; fsck: %s", r.Blobs, r.Uploads, len(acked), sum)
}

// crashRun is one load-and-crash cycle, shared by its pushers.
type crashRun struct {
	t      *testing.T
	c      *registryClient
	cycle  int
	shared []testBlob
	killed atomic.Bool
	// firstAck is closed when the cycle's first push is acknowledged.
	firstAck     chan struct{}
	firstAckOnce sync.Once

	mu    sync.Mutex
	acked []pushedImage
	// attempted is every repo@digest a pusher sent (or began to send),
	// with its size.
	attempted map[string]int64
	// manifests are the manifests sent without an answer.
	manifests map[string]pushedImage
}

type crashPusher struct {
	*crashRun
	id   int
	repo string
	rng  *rand.Rand
	n    int
	// interrupted is the chunked upload a failed request left behind.
	interrupted *uploadSession
}

func (p *crashPusher) run(ctx context.Context) {
	for !p.killed.Load() {
		if err := p.pushImage(ctx); err != nil {
			if !p.killed.Load() {
				p.t.Errorf("cycle %d pusher %d: %v (before the crash)", p.cycle, p.id, err)
			}
			return
		}
	}
}

// layerSize is log-uniform from 64 KiB to 8 MiB: mostly small layers, so
// that many pushes complete, and some large ones, so that the crash finds
// uploads in flight.
func (p *crashPusher) layerSize() int {
	return int(float64(64<<10) * float64(uint(1)<<p.rng.IntN(7)) * (1 + p.rng.Float64()))
}

func (p *crashPusher) pushImage(ctx context.Context) error {
	p.n++
	tag := fmt.Sprintf("c%d-p%d-%d", p.cycle, p.id, p.n)
	var layers []testBlob
	if p.rng.IntN(2) == 0 {
		layers = append(layers, p.shared[p.rng.IntN(len(p.shared))])
	}
	for range 1 + p.rng.IntN(3) {
		layers = append(layers, randomBlob(p.rng.Uint64(), p.layerSize()))
	}
	img, config := newImage(p.repo, tag, tag, layers)
	for _, b := range append([]testBlob{config}, layers...) {
		if err := p.sendBlob(ctx, b); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.manifests[img.Digest] = img
	p.mu.Unlock()
	if err := p.c.putManifest(ctx, p.repo, tag, img.Manifest); err != nil {
		return err
	}
	p.mu.Lock()
	delete(p.manifests, img.Digest)
	p.acked = append(p.acked, img)
	p.mu.Unlock()
	p.firstAckOnce.Do(func() { close(p.firstAck) })
	return nil
}

func (p *crashPusher) sendBlob(ctx context.Context, b testBlob) error {
	p.mu.Lock()
	p.attempted[p.repo+"@"+b.Digest] = int64(len(b.Data))
	p.mu.Unlock()

	size, ok, err := p.c.statBlob(ctx, p.repo, b.Digest)
	if err != nil {
		return err
	}
	if ok {
		if size != int64(len(b.Data)) {
			return fmt.Errorf("HEAD blob %s: size %d, want %d", b.Digest, size, len(b.Data))
		}
		return nil
	}
	switch r := p.rng.IntN(10); {
	case r < 4:
		sess := &uploadSession{Repo: p.repo, Blob: b}
		chunk := min(1<<20, len(b.Data)/2+1)
		if err := p.c.uploadChunked(ctx, sess, chunk); err != nil {
			if sess.Loc != "" {
				p.interrupted = sess
			}
			return err
		}
		return nil
	case r < 7:
		return p.c.uploadWhole(ctx, p.repo, b)
	default:
		loc, err := p.c.startUpload(ctx, p.repo)
		if err != nil {
			return err
		}
		return p.c.finishUpload(ctx, loc, b.Digest, b.Data)
	}
}

// checkUnacknowledged checks what was sent without an answer: each blob is
// absent or whole, HEAD and GET agree, and each manifest is absent or, if
// the crash only lost its answer, complete. It counts both outcomes.
func (r *crashRun) checkUnacknowledged(ctx context.Context, v *imageVerifier) (present, absent int) {
	t := r.t
	for key, size := range r.attempted {
		repo, d, _ := strings.Cut(key, "@")
		headSize, headOK, err := r.c.statBlob(ctx, repo, d)
		if err != nil {
			t.Errorf("cycle %d: HEAD %s: %v", r.cycle, key, err)
			continue
		}
		n, err := r.c.fetchBlob(ctx, repo, d)
		getOK := err == nil
		if status, code := statusOf(err); err != nil && (status != http.StatusNotFound || code != "BLOB_UNKNOWN") {
			t.Errorf("cycle %d: blob sent before the crash: %v", r.cycle, err)
			continue
		}
		switch {
		case headOK != getOK:
			t.Errorf("cycle %d: blob %s: HEAD says present %v, GET says %v", r.cycle, key, headOK, getOK)
		case getOK && (n != size || headSize != size):
			t.Errorf("cycle %d: blob %s: GET gives %d bytes and HEAD %d, it has %d", r.cycle, key, n, headSize, size)
		case getOK:
			present++
		default:
			absent++
		}
	}
	for _, img := range r.manifests {
		_, _, err := r.c.fetchManifest(ctx, img.Repo, img.Digest)
		if status, code := statusOf(err); status == http.StatusNotFound && code == "MANIFEST_UNKNOWN" {
			absent++
			continue
		}
		// Stored but not acknowledged: other clients can see it, so it
		// must be as complete as an acknowledged one.
		if err := v.verify(ctx, img, true); err != nil {
			t.Errorf("cycle %d: manifest stored though its PUT got no answer, but not whole: %v", r.cycle, err)
			continue
		}
		present++
	}
	return present, absent
}

// resumeInterrupted continues an upload the crash cut off. The session
// must still be there unless the crash came during the closing PUT (the
// content may then already be published); resumed, the blob must be whole.
// It reports whether the session was resumed.
func resumeInterrupted(ctx context.Context, t *testing.T, c *registryClient, cycle int, sess *uploadSession) bool {
	t.Helper()
	err := c.resume(ctx, sess)
	status, code := statusOf(err)
	switch {
	case err == nil:
		if _, err := c.fetchBlob(ctx, sess.Repo, sess.Blob.Digest); err != nil {
			t.Errorf("cycle %d: blob of a resumed upload: %v", cycle, err)
		}
		return true
	case sess.Finishing && status == http.StatusNotFound && code == "BLOB_UPLOAD_UNKNOWN":
		return false
	default:
		t.Errorf("cycle %d: upload of %s (%d bytes) interrupted by the crash (closing PUT sent: %v) cannot be resumed: %v",
			cycle, sess.Blob.Digest, len(sess.Blob.Data), sess.Finishing, err)
	}
	return false
}
