package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestGCConcurrentWithPushes runs garbage collection back to back with the
// shortest grace it accepts, the worst case, while clients push images that
// share layers, delete images and push their layers again, and abandon
// uploads. Pushes that lose a race to the collector are refused, and the
// clients push again, as real ones do. What must hold: every manifest the
// registry acknowledged and nobody deleted can be pulled whole, fsck finds
// nothing wrong, and once pushing stops the collector takes everything else.
func TestGCConcurrentWithPushes(t *testing.T) {
	const (
		pushers = 4
		loadFor = 20 * time.Second
	)
	// The server collects too, as a deployment that also runs berth gc by
	// hand would. Its grace must be at least a minute, so what it mostly
	// does is finish deletions the berth gc processes have started: a
	// second collector racing the first.
	s := berthtest.Start(t, "--gc-interval", "50ms", "--gc-grace", "1m")
	c := newRegistryClient(s)
	ctx := t.Context()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	load := &gcLoad{t: t, c: c, repos: []string{"gc/alpha", "gc/beta", "gc/gamma"}, end: time.Now().Add(loadFor)}
	for i := range 16 {
		load.pool = append(load.pool, randomBlob(rng.Uint64(), 1<<10+i*(16<<10)))
	}

	var (
		gcRuns    int
		gcSkipped int
		gcTotal   gcResult
		gcErrs    []error
		gcDone    = make(chan struct{})
	)
	go func() {
		defer close(gcDone)
		for time.Now().Before(load.end) {
			gcRuns++
			r, err := runGC(t, s, "1ms")
			if err != nil {
				// Keep collecting: a failed run must not end the
				// race the rest of the test is about.
				gcErrs = append(gcErrs, err)
				continue
			}
			if r.Skipped {
				gcSkipped++
			}
			gcTotal.Blobs += r.Blobs
			gcTotal.Bytes += r.Bytes
			gcTotal.Uploads += r.Uploads
		}
	}()

	ps := make([]*gcPusher, pushers)
	var wg sync.WaitGroup
	for i := range ps {
		ps[i] = &gcPusher{gcLoad: load, id: i, rng: rand.New(rand.NewPCG(seed, uint64(i+1)))}
		wg.Go(func() { ps[i].run(ctx) })
	}
	wg.Wait()
	<-gcDone
	for i, err := range gcErrs {
		if i == 3 {
			t.Errorf("... and %d more", len(gcErrs)-i)
			break
		}
		t.Errorf("garbage collection failed during the pushes: %v", err)
	}

	var live, deleted []pushedImage
	for _, p := range ps {
		for _, img := range p.images {
			switch {
			case img.live:
				live = append(live, img.pushedImage)
			case img.deleted:
				deleted = append(deleted, img.pushedImage)
			}
		}
	}
	st := &load.st
	t.Logf("%d pushers for %v: %d acknowledged pushes (%d of them re-pushes of deleted content), %d retries "+
		"(%d MANIFEST_BLOB_UNKNOWN, %d of them on the first re-push after a delete; %d BLOB_UPLOAD_UNKNOWN; %d TOOMANYREQUESTS), "+
		"%d manifests deleted, %d uploads abandoned, %d blobs left unreferenced",
		pushers, loadFor, st.acked.Load(), st.repushes.Load(), st.retries.Load(),
		st.blobUnknown.Load(), st.repushRaces.Load(), st.uploadUnknown.Load(), st.busy.Load(),
		st.deletes.Load(), st.abandoned.Load(), st.garbage.Load())
	t.Logf("berth gc --grace 1ms ran %d times (%d failed, %d found the server's collector running): %d blobs (%d bytes) deleted, %d uploads removed; the server's collector deleted %s",
		gcRuns, len(gcErrs), gcSkipped, gcTotal.Blobs, gcTotal.Bytes, gcTotal.Uploads, serverGCDeleted(ctx, s))
	if n := st.unexpected.Load(); n > 0 {
		t.Errorf("%d requests failed in ways a collector race does not explain (first ones above)", n)
	}
	if st.acked.Load() == 0 || st.repushes.Load() == 0 || st.deletes.Load() == 0 {
		t.Fatalf("the load did not exercise what it should: %d pushes, %d deletes, %d re-pushes acknowledged", st.acked.Load(), st.deletes.Load(), st.repushes.Load())
	}

	checkState := func(when string) {
		t.Helper()
		v := newImageVerifier(c)
		for _, err := range v.verifyAll(ctx, live, true) {
			t.Errorf("%s: acknowledged image lost: %v", when, err)
		}
		for _, img := range deleted {
			_, _, err := c.fetchManifest(ctx, img.Repo, img.Digest)
			if status, code := statusOf(err); status != http.StatusNotFound || code != "MANIFEST_UNKNOWN" {
				t.Errorf("%s: deleted manifest %s@%s: got %v, want 404 MANIFEST_UNKNOWN", when, img.Repo, img.Digest, err)
			}
		}
		sum, err := runFsck(t, s)
		if err != nil {
			t.Errorf("%s: %v", when, err)
		}
		t.Logf("%s: %d live images pulled (%d bytes of blobs), %d deleted ones gone; fsck: %s", when, len(live), v.Bytes, len(deleted), sum)
	}
	checkState("after the pushes")

	// With nothing in flight, one more collection must take exactly what
	// no live manifest references, and a second one must find nothing.
	final, err := runGCToCompletion(t, s)
	if err != nil {
		t.Fatal(err)
	}
	again, err := runGCToCompletion(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if again != (gcResult{}) {
		t.Errorf("a collection right after a complete one still found work: %+v", again)
	}
	checkState(fmt.Sprintf("after a final collection (%d blobs, %d uploads)", final.Blobs, final.Uploads))
	referenced := map[string]bool{}
	for _, img := range live {
		for _, b := range img.Blobs {
			referenced[b.Digest] = true
		}
	}
	garbage := 0
	for key := range load.sentBlobs() {
		repo, d, _ := strings.Cut(key, "@")
		if referenced[d] {
			continue
		}
		garbage++
		_, ok, err := c.statBlob(ctx, repo, d)
		if err != nil || ok {
			t.Errorf("blob %s no live manifest references survived the final collection (ok %v, err %v)", key, ok, err)
		}
	}
	t.Logf("%d blobs no live manifest references are gone", garbage)
}

// gcLoad is what the pushers of TestGCConcurrentWithPushes share.
type gcLoad struct {
	t     *testing.T
	c     *registryClient
	repos []string
	// pool holds the layers images share.
	pool []testBlob
	end  time.Time
	st   gcCounts

	mu sync.Mutex
	// sent is every repo@digest a blob was sent to or mounted in.
	sent map[string]bool
}

type gcCounts struct {
	acked, retries, blobUnknown, uploadUnknown, busy atomic.Int64
	deletes, repushes, repushRaces                   atomic.Int64
	abandoned, garbage, unexpected                   atomic.Int64
}

func (l *gcLoad) recordSent(repo, d string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == nil {
		l.sent = map[string]bool{}
	}
	l.sent[repo+"@"+d] = true
}

// sentBlobs is for after the load: it hands out the map itself.
func (l *gcLoad) sentBlobs() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent
}

// unexpected reports a failure that no race with the collector explains.
func (l *gcLoad) unexpected(who string, err error) {
	if l.st.unexpected.Add(1) <= 10 {
		l.t.Errorf("%s: %v", who, err)
	}
}

type gcPusher struct {
	*gcLoad
	id     int
	rng    *rand.Rand
	n      int
	images []*gcImage
}

// gcImage is an image with its content, kept so it can be pushed again.
type gcImage struct {
	pushedImage
	config  testBlob
	layers  []testBlob
	live    bool // acknowledged and not deleted since
	deleted bool // acknowledged, then deleted
}

func (p *gcPusher) run(ctx context.Context) {
	for time.Now().Before(p.end) && ctx.Err() == nil {
		switch r := p.rng.IntN(100); {
		case r < 50:
			p.pushNew(ctx)
		case r < 75:
			p.deleteAndRepush(ctx)
		case r < 83:
			p.deleteOnly(ctx)
		case r < 93:
			p.abandonUpload(ctx)
		default:
			p.leaveGarbage(ctx)
		}
	}
}

func (p *gcPusher) name() string { return fmt.Sprintf("pusher %d", p.id) }

func (p *gcPusher) newImage(repo string, layers []testBlob) *gcImage {
	p.n++
	tag := fmt.Sprintf("p%d-%d", p.id, p.n)
	img, config := newImage(repo, tag, tag, layers)
	g := &gcImage{pushedImage: img, config: config, layers: layers}
	p.images = append(p.images, g)
	return g
}

// pushNew pushes an image of one to three shared layers and, half the
// time, one of its own.
func (p *gcPusher) pushNew(ctx context.Context) {
	var layers []testBlob
	for _, i := range p.rng.Perm(len(p.pool))[:1+p.rng.IntN(3)] {
		layers = append(layers, p.pool[i])
	}
	if p.rng.IntN(2) == 0 {
		layers = append(layers, randomBlob(p.rng.Uint64(), 1<<10+p.rng.IntN(128<<10)))
	}
	p.push(ctx, p.newImage(p.repos[p.rng.IntN(len(p.repos))], layers), false)
}

func (p *gcPusher) pickLive() *gcImage {
	var live []*gcImage
	for _, img := range p.images {
		if img.live {
			live = append(live, img)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return live[p.rng.IntN(len(live))]
}

func (p *gcPusher) delete(ctx context.Context, img *gcImage) bool {
	if err := p.c.deleteManifest(ctx, img.Repo, img.Digest); err != nil {
		p.unexpected(p.name(), err)
		return false
	}
	img.live, img.deleted = false, true
	p.st.deletes.Add(1)
	return true
}

// deleteAndRepush deletes an image, so that the layers only it used become
// garbage, then pushes them again: either the very same manifest or a new
// image made of the same layers. This is the race the collector's design
// is about: the client finds the blobs still there and skips them, and the
// collector takes them before the manifest names them.
func (p *gcPusher) deleteAndRepush(ctx context.Context) {
	img := p.pickLive()
	if img == nil {
		p.pushNew(ctx)
		return
	}
	if !p.delete(ctx, img) {
		return
	}
	// Spaces the re-push out over the collector's cycle, so that every
	// phase of a collection meets one.
	time.Sleep(time.Duration(p.rng.IntN(30)) * time.Millisecond)
	if p.rng.IntN(2) == 0 {
		if p.push(ctx, img, true) {
			p.st.repushes.Add(1)
		}
		return
	}
	if p.push(ctx, p.newImage(img.Repo, img.layers), true) {
		p.st.repushes.Add(1)
	}
}

func (p *gcPusher) deleteOnly(ctx context.Context) {
	if img := p.pickLive(); img != nil {
		p.delete(ctx, img)
	}
}

// abandonUpload opens an upload, maybe sends part of a blob, and walks
// away.
func (p *gcPusher) abandonUpload(ctx context.Context) {
	repo := p.repos[p.rng.IntN(len(p.repos))]
	loc, err := p.c.startUpload(ctx, repo)
	if reason, _ := raceWithCollector(err); reason == "upload" {
		// With a 1ms grace the collector can take a session before the
		// POST that opened it has answered.
		p.st.uploadUnknown.Add(1)
		return
	}
	if err != nil {
		p.unexpected(p.name(), err)
		return
	}
	p.st.abandoned.Add(1)
	if p.rng.IntN(2) == 0 {
		return
	}
	b := randomBlob(p.rng.Uint64(), 64<<10)
	_, err = p.c.patchUpload(ctx, loc, 0, b.Data[:len(b.Data)/2])
	if status, code := statusOf(err); err != nil && (status != http.StatusNotFound || code != "BLOB_UPLOAD_UNKNOWN") {
		// A collector may already have taken the session: grace is 1ms.
		p.unexpected(p.name(), err)
	}
}

// leaveGarbage uploads a blob no manifest will name.
func (p *gcPusher) leaveGarbage(ctx context.Context) {
	repo := p.repos[p.rng.IntN(len(p.repos))]
	b := randomBlob(p.rng.Uint64(), 1<<10+p.rng.IntN(32<<10))
	p.recordSent(repo, b.Digest)
	err := p.c.uploadWhole(ctx, repo, b)
	if _, ok := raceWithCollector(err); err != nil && !ok {
		p.unexpected(p.name(), err)
		return
	}
	p.st.garbage.Add(1)
}

// raceWithCollector classifies the failures a push may meet when a
// collector with a tiny grace runs alongside: the client pushes again.
func raceWithCollector(err error) (reason string, ok bool) {
	switch status, code := statusOf(err); {
	case status == http.StatusBadRequest && code == "MANIFEST_BLOB_UNKNOWN":
		return "manifest", true // a blob was collected before the manifest named it
	case status == http.StatusNotFound && code == "BLOB_UPLOAD_UNKNOWN":
		return "upload", true // the upload session was collected
	case status == http.StatusTooManyRequests:
		return "busy", true // content still being deleted after the wait
	}
	return "", false
}

// maxAttempts bounds the pushes of one image; a collector this aggressive
// refuses some, never that many in a row.
const maxAttempts = 50

// push pushes img until the registry acknowledges it, re-uploading what
// the collector took, and reports whether it did.
func (p *gcPusher) push(ctx context.Context, img *gcImage, repush bool) bool {
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err := p.pushOnce(ctx, img)
		if err == nil {
			img.live, img.deleted = true, false
			p.st.acked.Add(1)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		p.st.retries.Add(1)
		switch reason, ok := raceWithCollector(err); {
		case !ok:
			p.unexpected(fmt.Sprintf("%s: push of %s:%s", p.name(), img.Repo, img.Tag), err)
		case reason == "manifest":
			p.st.blobUnknown.Add(1)
			if repush && attempt == 1 {
				p.st.repushRaces.Add(1)
			}
		case reason == "upload":
			p.st.uploadUnknown.Add(1)
		case reason == "busy":
			p.st.busy.Add(1)
		}
	}
	p.t.Errorf("%s: %s:%s not acknowledged after %d attempts", p.name(), img.Repo, img.Tag, maxAttempts)
	return false
}

// pushOnce sends the blobs the repository lacks, then the manifest.
func (p *gcPusher) pushOnce(ctx context.Context, img *gcImage) error {
	for _, b := range append([]testBlob{img.config}, img.layers...) {
		if err := p.ensureBlob(ctx, img.Repo, b); err != nil {
			return err
		}
	}
	return p.c.putManifest(ctx, img.Repo, img.Tag, img.Manifest)
}

// ensureBlob makes b present in repo the ways clients do: not at all if a
// HEAD finds it, else by a mount from another repository, a single POST, a
// POST and a PUT, or in chunks.
func (p *gcPusher) ensureBlob(ctx context.Context, repo string, b testBlob) error {
	size, ok, err := p.c.statBlob(ctx, repo, b.Digest)
	if err != nil {
		return err
	}
	if ok {
		if size != int64(len(b.Data)) {
			return fmt.Errorf("HEAD blob %s: size %d, want %d", b.Digest, size, len(b.Data))
		}
		return nil
	}
	p.recordSent(repo, b.Digest)
	switch p.rng.IntN(4) {
	case 0:
		from := p.repos[p.rng.IntN(len(p.repos))]
		for from == repo {
			from = p.repos[p.rng.IntN(len(p.repos))]
		}
		mounted, loc, err := p.c.mountBlob(ctx, repo, from, b.Digest)
		if err != nil || mounted {
			return err
		}
		return p.c.finishUpload(ctx, loc, b.Digest, b.Data)
	case 1:
		return p.c.uploadWhole(ctx, repo, b)
	case 2:
		loc, err := p.c.startUpload(ctx, repo)
		if err != nil {
			return err
		}
		return p.c.finishUpload(ctx, loc, b.Digest, b.Data)
	default:
		return p.c.uploadChunked(ctx, &uploadSession{Repo: repo, Blob: b}, len(b.Data)/3+1)
	}
}

// serverGCDeleted reads the server's collector counter from /metrics.
func serverGCDeleted(ctx context.Context, s *berthtest.Server) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/metrics", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "berth_gc_blobs_deleted_total "); ok {
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				return fmt.Sprintf("%.0f blobs", n)
			}
		}
	}
	return "an unknown number of blobs"
}

// runGCToCompletion runs berth gc until it is not turned away by the
// server's own collector holding the lease.
func runGCToCompletion(t *testing.T, s *berthtest.Server) (gcResult, error) {
	for range 100 {
		r, err := runGC(t, s, "1ms")
		if err != nil || !r.Skipped {
			return r, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return gcResult{}, errors.New("berth gc was turned away 100 times: the server's collector never let go of the lease")
}
