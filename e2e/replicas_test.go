package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestReplicas runs three berth serve replicas on one PostgreSQL and one
// MinIO bucket behind HAProxy (berthtest.StartReplicas), and real clients
// through it.
func TestReplicas(t *testing.T) {
	r := berthtest.StartReplicas(t, 3)
	t.Cleanup(func() {
		if t.Failed() {
			for i, s := range r.Servers {
				t.Logf("%s log:\n%s", berthtest.ReplicaName(i), s.Log.String())
			}
			t.Logf("haproxy log:\n%s", r.Proxy.Log())
		}
	})
	t.Run("clients", func(t *testing.T) { replicaClients(t, r) })
	t.Run("replica killed", func(t *testing.T) { replicaKilled(t, r) })
	t.Run("database restarted", func(t *testing.T) { databaseRestarted(t, r) })
}

// replicaClients: go-containerregistry pushes an image through the load
// balancer, and every replica, asked directly, serves it whole: what one
// replica acknowledged, the others know.
func replicaClients(t *testing.T, r *berthtest.Replicas) {
	ctx := t.Context()
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 2<<10, 7*mib)
	ref, err := name.NewTag(r.Front.Host + "/replicas/ggcr:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, ggcrOptions(ctx, r.Front)...); err != nil {
		t.Fatalf("push through the load balancer: %v", err)
	}
	got, err := remote.Image(ref, ggcrOptions(ctx, r.Front)...)
	if err != nil {
		t.Fatalf("pull through the load balancer: %v", err)
	}
	sameImage(t, "through the load balancer", img, got)
	for i, s := range r.Servers {
		direct, err := name.NewTag(s.Host + "/replicas/ggcr:v1")
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.Image(direct, ggcrOptions(ctx, s)...)
		if err != nil {
			t.Fatalf("pull from %s: %v", berthtest.ReplicaName(i), err)
		}
		sameImage(t, berthtest.ReplicaName(i), img, got)
	}
}

// replicaKilled: clients push images (some layers in chunks) and pull
// large layers through the load balancer while one replica is killed
// (SIGKILL). What must hold: every acknowledged image can be pulled
// whole; what was sent without an answer is absent or whole; an upload
// cut off can be resumed (on another replica: its state is in the shared
// stores); a pull cut off succeeds when retried; fsck is clean. The
// replica then restarts on its data directory, the load balancer puts it
// back, and it serves.
func replicaKilled(t *testing.T, r *berthtest.Replicas) {
	const pushers, pullers = 6, 3
	ctx := t.Context()
	c := newRegistryClient(r.Front)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	// Images with large layers, for the pullers.
	var (
		pullable   []pushedImage
		pullLayers []testBlob
	)
	for i := range pullers {
		layer := randomBlob(rng.Uint64(), 6*mib+rng.IntN(mib))
		img, config := newImage("replicas/pulled", fmt.Sprintf("v%d", i), "pulled", []testBlob{layer})
		for _, b := range []testBlob{config, layer} {
			if err := c.uploadWhole(ctx, img.Repo, b); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.putManifest(ctx, img.Repo, img.Tag, img.Manifest); err != nil {
			t.Fatal(err)
		}
		pullable, pullLayers = append(pullable, img), append(pullLayers, layer)
	}
	var shared []testBlob
	for range 3 {
		shared = append(shared, randomBlob(rng.Uint64(), 64<<10+rng.IntN(448<<10)))
	}

	// Larger than what the kernel's and the load balancer's buffers hold
	// between berth and the client, so that a download held half-way
	// has part of it still to come from berth.
	big := randomBlob(rng.Uint64(), 40*mib)
	if err := c.uploadWhole(ctx, "replicas/pulled", big); err != nil {
		t.Fatal(err)
	}
	// Before the load, so that the round robin puts one of each on each
	// replica: one of each is cut off by the kill.
	var heldPulls []*heldPull
	var heldUploads []*heldUpload
	for range r.Servers {
		heldPulls = append(heldPulls, holdPull(ctx, t, r.Front, "replicas/pulled", big))
	}
	for range r.Servers {
		heldUploads = append(heldUploads, holdUpload(ctx, t, r.Front, "replicas/held", randomBlob(rng.Uint64(), 2*mib+1+rng.IntN(mib))))
	}
	run := &crashRun{t: t, c: c, cycle: 1, shared: shared, attempted: map[string]int64{}, manifests: map[string]pushedImage{}, firstAck: make(chan struct{})}
	ps := make([]*crashPusher, pushers)
	var wg sync.WaitGroup
	for i := range ps {
		ps[i] = &crashPusher{crashRun: run, id: i, repo: fmt.Sprintf("replicas/crash%d", i%3), rng: rand.New(rand.NewPCG(seed, uint64(i+1)))}
		wg.Go(func() { ps[i].run(ctx) })
	}
	var (
		pullsMu  sync.Mutex
		pulls    int
		cutPulls []pushedImage
	)
	for _, img := range pullable {
		wg.Go(func() {
			for !run.killed.Load() {
				err := newImageVerifier(c).verify(ctx, img, true)
				pullsMu.Lock()
				switch {
				case err == nil:
					pulls++
				case run.killed.Load():
					cutPulls = append(cutPulls, img)
				default:
					t.Errorf("pull of %s:%s before the kill: %v", img.Repo, img.Tag, err)
				}
				pullsMu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	victim := r.Servers[1]
	var stalled bool
	select {
	case <-run.firstAck:
		time.Sleep(time.Second + rand.N(2*time.Second))
	case <-time.After(time.Minute):
		stalled = true
	}
	run.killed.Store(true)
	victim.Kill()
	wg.Wait()
	if stalled {
		t.Fatal("no push acknowledged within a minute")
	}
	c.dropConnections()
	r.Proxy.WaitStatus(t, berthtest.ReplicaName(1), "DOWN")

	v := newImageVerifier(c)
	for _, err := range v.verifyAll(ctx, run.acked, true) {
		t.Errorf("acknowledged image lost with the replica: %v", err)
	}
	for _, img := range cutPulls {
		if err := newImageVerifier(c).verify(ctx, img, true); err != nil {
			t.Errorf("pull cut off by the kill, retried: %v", err)
		}
	}
	heldCut := 0
	for _, p := range heldPulls {
		if p.finish() == nil {
			continue
		}
		heldCut++
		if _, err := c.fetchBlob(ctx, p.repo, p.blob.Digest); err != nil {
			t.Errorf("pull cut off by the kill, retried: %v", err)
		}
	}
	uploadsCut := 0
	for _, u := range heldUploads {
		if err := u.finish(ctx); err != nil {
			uploadsCut++
			if err := c.resume(ctx, u.sess); err != nil {
				t.Errorf("chunked upload cut off by the kill, resumed through the load balancer: %v", err)
			}
		}
		if _, err := c.fetchBlob(ctx, u.sess.Repo, u.sess.Blob.Digest); err != nil {
			t.Errorf("blob of a chunked upload: %v", err)
		}
	}
	if heldCut == 0 || uploadsCut == 0 {
		t.Errorf("of the downloads and chunked uploads held open on each replica, %d and %d were cut off by the kill, want at least one of each", heldCut, uploadsCut)
	}
	present, absent := run.checkUnacknowledged(ctx, v)
	resumed, gone := 0, 0
	for _, p := range ps {
		if p.interrupted == nil {
			continue
		}
		if resumeInterrupted(ctx, t, c, 1, p.interrupted) {
			resumed++
		} else {
			gone++
		}
	}
	sum, err := runFsck(t, r.Front)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replica killed after %d acknowledged pushes and %d whole pulls; %d pulls cut off and retried; %d held downloads and %d held chunked uploads cut off, retried and resumed; "+
		"of the blobs and unanswered manifests sent, %d are whole and %d absent; %d interrupted uploads resumed, %d finished before the kill; fsck: %s",
		len(run.acked), pulls, len(cutPulls), heldCut, uploadsCut, present, absent, resumed, gone, sum)

	victim.Restart()
	r.Proxy.WaitStatus(t, berthtest.ReplicaName(1), "UP")
	before, err := r.Proxy.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// New connections, spread by the load balancer, reach it again.
	for range 6 {
		fresh := newRegistryClient(r.Front)
		if _, _, err := fresh.fetchManifest(ctx, pullable[0].Repo, pullable[0].Tag); err != nil {
			t.Fatal(err)
		}
		fresh.dropConnections()
	}
	after, err := r.Proxy.Stats()
	if err != nil {
		t.Fatal(err)
	}
	name := berthtest.ReplicaName(1)
	if after[name].Sessions <= before[name].Sessions {
		t.Fatalf("the restarted replica took no new connection: %d before, %d after", before[name].Sessions, after[name].Sessions)
	}
	// And it serves what the others acknowledged while it was down.
	direct := newImageVerifier(newRegistryClient(victim))
	for _, err := range direct.verifyAll(ctx, run.acked, true) {
		t.Errorf("the restarted replica, asked directly: %v", err)
	}
}

// databaseRestarted: clients pull and push through the load balancer
// while PostgreSQL stops and starts again. Meanwhile every answer is a
// 503 (never a 500, a hang or a closed connection: with no replica ready,
// the load balancer sends clients to the live ones); /readyz takes every
// replica out of the ready set and back; afterwards every acknowledged
// image can be pulled and fsck is clean.
func databaseRestarted(t *testing.T, r *berthtest.Replicas) {
	const workers = 4
	ctx := t.Context()
	c := newRegistryClient(r.Front)
	layer := randomBlob(rand.Uint64(), 300<<10)
	img, config := newImage("replicas/db", "v1", "db", []testBlob{layer})
	for _, b := range []testBlob{config, layer} {
		if err := c.uploadWhole(ctx, img.Repo, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.putManifest(ctx, img.Repo, img.Tag, img.Manifest); err != nil {
		t.Fatal(err)
	}

	var (
		mu          sync.Mutex
		acked       []pushedImage
		unavailable int // 503s
		down        atomic.Bool
		stop        atomic.Bool
	)
	// step runs one operation: a 503 is counted and reported as a
	// failure to retry; anything else but success fails the test.
	step := func(err error) bool {
		if err == nil {
			return true
		}
		if status, _ := statusOf(err); status == http.StatusServiceUnavailable {
			mu.Lock()
			unavailable++
			mu.Unlock()
			return false
		}
		t.Errorf("database down %v: %v", down.Load(), err)
		return false
	}
	var wg sync.WaitGroup
	for w := range workers {
		rng := rand.New(rand.NewPCG(uint64(w), rand.Uint64()))
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				if _, _, err := c.fetchManifest(ctx, img.Repo, img.Tag); !step(err) {
					continue
				}
				if _, err := c.fetchBlob(ctx, img.Repo, layer.Digest); !step(err) {
					continue
				}
				tag := fmt.Sprintf("w%d-%d", w, n)
				l := randomBlob(rng.Uint64(), 1+rng.IntN(64<<10))
				pushed, config := newImage("replicas/db", tag, tag, []testBlob{l})
				if !step(c.uploadWhole(ctx, pushed.Repo, config)) || !step(c.uploadWhole(ctx, pushed.Repo, l)) ||
					!step(c.putManifest(ctx, pushed.Repo, pushed.Tag, pushed.Manifest)) {
					continue
				}
				mu.Lock()
				acked = append(acked, pushed)
				mu.Unlock()
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("no %s within a minute", what)
			}
		}
	}
	unavailableNow := func() int { mu.Lock(); defer mu.Unlock(); return unavailable }
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor("push before the restart", func() bool { return ackedCount() > 0 })
	front := r.Front
	hc := front.Client()
	managementToken := scopedToken(t, hc, front.URL+"/"+front.Boot.TenantID+"/oauth2/v2.0/token", front.Boot.ClientID, front.Boot.ClientSecret, "https://management.core.windows.net//.default")
	graphToken := scopedToken(t, hc, front.URL+"/"+front.Boot.TenantID+"/oauth2/v2.0/token", front.Boot.ClientID, front.Boot.ClientSecret, "https://graph.microsoft.com/.default")
	down.Store(true)
	if err := r.Database.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor("503 while the database is down", func() bool { return unavailableNow() >= workers })
	for i := range r.Servers {
		r.Proxy.WaitStatus(t, berthtest.ReplicaName(i), "DOWN")
	}
	// Every surface says so in its own format.
	for _, want := range []struct {
		surface, method, path, token, form, answer string
	}{
		{"the token service", http.MethodPost, "/" + front.Boot.TenantID + "/oauth2/token", "",
			"grant_type=client_credentials&client_id=" + front.Boot.ClientID + "&client_secret=" + front.Boot.ClientSecret + "&resource=https://management.core.windows.net/",
			`"error":"temporarily_unavailable"`},
		{"the registry's token endpoint", http.MethodGet, "/oauth2/token?service=" + front.Boot.LoginServer + "&scope=repository:replicas/db:pull", "basic", "", `"code":"UNAVAILABLE"`},
		{"the management API", http.MethodGet, "/subscriptions/" + front.Boot.SubscriptionID + "?api-version=2022-12-01", managementToken, "", `"code":"ServiceUnavailable"`},
		{"the directory API", http.MethodGet, "/v1.0/applications", graphToken, "", `"code":"serviceNotAvailable"`},
	} {
		req, err := http.NewRequestWithContext(ctx, want.method, front.URL+want.path, strings.NewReader(want.form))
		if err != nil {
			t.Fatal(err)
		}
		switch want.token {
		case "":
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		case "basic":
			req.SetBasicAuth(front.Boot.ClientID, front.Boot.ClientSecret)
		default:
			req.Header.Set("Authorization", "Bearer "+want.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s with the database down: %v", want.surface, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), want.answer) {
			t.Errorf("%s with the database down: %s, Retry-After %q, %s; want 503 with Retry-After and %s", want.surface, resp.Status, resp.Header.Get("Retry-After"), b, want.answer)
		}
	}
	during := unavailableNow()
	if err := r.Database.Restart(); err != nil {
		t.Fatal(err)
	}
	down.Store(false)
	for i := range r.Servers {
		r.Proxy.WaitStatus(t, berthtest.ReplicaName(i), "UP")
	}
	ackedBefore := ackedCount()
	waitFor("push after the restart", func() bool { return ackedCount() > ackedBefore })
	stop.Store(true)
	wg.Wait()

	v := newImageVerifier(c)
	for _, err := range v.verifyAll(ctx, acked, true) {
		t.Errorf("acknowledged image lost in the database restart: %v", err)
	}
	sum, err := runFsck(t, r.Front)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("database restarted under load: %d answers 503 while it was down (%d in all), %d images pushed and pulled back; fsck: %s",
		during, unavailableNow(), len(acked), sum)
}

// heldPull is a blob download on a connection of its own, its body read
// only in part until finish.
type heldPull struct {
	repo string
	blob testBlob
	body io.ReadCloser
	done context.CancelFunc
	h    hash.Hash
}

// holdPull starts downloading b and reads its first 256 KiB.
func holdPull(ctx context.Context, t *testing.T, front *berthtest.Server, repo string, b testBlob) *heldPull {
	t.Helper()
	c := newRegistryClient(front)
	resp, cancel, err := c.call(ctx, "GET blob", http.MethodGet, "/v2/"+repo+"/blobs/"+b.Digest, nil, nil, http.StatusOK)
	if err != nil {
		t.Fatal(err)
	}
	p := &heldPull{repo: repo, blob: b, body: resp.Body, done: cancel, h: sha256.New()}
	if _, err := io.CopyN(p.h, p.body, 256<<10); err != nil {
		t.Fatal(err)
	}
	return p
}

// finish reads the rest; an error is a download cut off.
func (p *heldPull) finish() error {
	defer p.done()
	defer p.body.Close()
	if _, err := io.Copy(p.h, p.body); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(p.h.Sum(nil)); got != p.blob.Digest {
		return fmt.Errorf("GET blob %s: %w", p.blob.Digest, errContentMismatch)
	}
	return nil
}

// heldUpload is a chunked upload on a connection of its own: its first
// chunk sent, its second PATCH half-way through its body until finish.
type heldUpload struct {
	c      *registryClient
	sess   *uploadSession
	feed   *io.PipeWriter
	result chan error
}

func holdUpload(ctx context.Context, t *testing.T, front *berthtest.Server, repo string, b testBlob) *heldUpload {
	t.Helper()
	u := &heldUpload{c: newRegistryClient(front), sess: &uploadSession{Repo: repo, Blob: b}, result: make(chan error, 1)}
	loc, err := u.c.startUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if u.sess.Loc, err = u.c.patchUpload(ctx, loc, 0, b.Data[:mib]); err != nil {
		t.Fatal(err)
	}
	body, feed := io.Pipe()
	u.feed = feed
	hdr := http.Header{"Content-Type": {"application/octet-stream"}, "Content-Range": {fmt.Sprintf("%d-%d", mib, 2*mib-1)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u.c.resolve(u.sess.Loc), body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.SetBasicAuth(u.c.user, u.c.pass)
	go func() {
		resp, err := u.c.hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				err = fmt.Errorf("PATCH upload: %s", resp.Status)
			} else {
				u.sess.Loc = resp.Header.Get("Location")
			}
		}
		u.result <- err
	}()
	if _, err := feed.Write(b.Data[mib : mib+mib/2]); err != nil {
		t.Fatal(err)
	}
	return u
}

// finish sends the rest of the held PATCH and closes the upload; an error
// is an upload cut off, which the caller resumes.
func (u *heldUpload) finish(ctx context.Context) error {
	// In its own goroutine: a PATCH whose connection died may stop
	// reading its body.
	go func() {
		u.feed.Write(u.sess.Blob.Data[mib+mib/2 : 2*mib])
		u.feed.Close()
	}()
	if err := <-u.result; err != nil {
		return err
	}
	u.sess.Finishing = true
	return u.c.finishUpload(ctx, u.sess.Loc, u.sess.Blob.Digest, u.sess.Blob.Data[2*mib:])
}

// TestConformanceReplicas runs the OCI distribution conformance suite
// (scripts/conformance.sh) through HAProxy in front of three replicas, as
// scripts/test.sh runs it against one server: as a service principal with
// AcrPush and AcrDelete, every toggle on but sparse manifests. It runs
// only with BERTH_CONFORMANCE=1 (scripts/test.sh sets it), as the suite is
// built from its Go module the first time; the report goes to
// $BERTH_RESULTS/conformance-replicas when that is set.
func TestConformanceReplicas(t *testing.T) {
	if os.Getenv("BERTH_CONFORMANCE") != "1" {
		t.Skip("set BERTH_CONFORMANCE=1 to run the conformance suite through the load balancer")
	}
	r := berthtest.StartReplicas(t, 3)
	admin := adminCLI(t, r.Front)
	registryID := admin.run("acr", "show", "-n", r.Front.Boot.Registry, "--query", "id", "-o", "tsv")
	creds := strings.Fields(admin.run("ad", "sp", "create-for-rbac", "--name", "conformance", "--role", "acrpush",
		"--scopes", registryID, "--query", "[appId, password]", "-o", "tsv"))
	if len(creds) != 2 {
		t.Fatalf("create-for-rbac printed %q", creds)
	}
	admin.run("role", "assignment", "create", "--assignee", creds[0], "--role", "acrdelete", "--scope", registryID, "-o", "none")

	results := t.TempDir()
	if dir := os.Getenv("BERTH_RESULTS"); dir != "" {
		results = filepath.Join(dir, "conformance-replicas")
	}
	cmd := exec.CommandContext(t.Context(), filepath.Join("..", "scripts", "conformance.sh"))
	cmd.Env = append(os.Environ(),
		// Why sparse manifests are off: see scripts/test.sh.
		"OCI_DATA_SPARSE=false",
		"REGISTRY_URL="+r.Front.URL,
		"REGISTRY_USER="+creds[0],
		"REGISTRY_PASSWORD="+creds[1],
		"REGISTRY_CA="+r.Front.CAFile,
		"RESULTS_DIR="+results,
	)
	if cache := os.Getenv("BERTH_CACHE"); cache != "" {
		cmd.Env = append(cmd.Env, "BERTH_CONFORMANCE_CACHE="+cache)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("conformance suite through the load balancer: %v", err)
	}
	if !strings.Contains(string(out), " 0 failed,") {
		t.Fatalf("conformance suite through the load balancer: no summary of 0 failures")
	}
}
