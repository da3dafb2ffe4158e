package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"
	"time"
)

// Registry is one system under test.
type Registry struct {
	Name string
	// Start launches a fresh instance whose storage lives under dir.
	Start func(ctx context.Context, dir string) (*Server, error)
	// Unavailable, when set, is why this registry has no numbers.
	Unavailable string
}

// Row identifies one line of the results table.
type Row struct {
	Op   string // opPush, opPull or opManifest
	Size string // blob size label; empty for manifests
	Conc int
}

// Name is the operation and size, without the concurrency.
func (r Row) Name() string {
	if r.Size == "" {
		return r.Op
	}
	return r.Op + " " + r.Size
}

func (r Row) String() string { return fmt.Sprintf("%s conc=%d", r.Name(), r.Conc) }

const (
	opPush     = "blob push"
	opPull     = "blob pull"
	opManifest = "manifest GET"

	// manifestGroup labels the memory column of the manifest server.
	manifestGroup = "manifests"
	idleGroup     = "idle"
)

// Report is everything one run measured.
type Report struct {
	// Candidate is compared against Baseline in every ratio.
	Candidate, Baseline *Registry

	Rows    []Row
	Results map[Row]map[string]Result
	// MemGroups orders the columns of Memory: idle, each blob size, manifests.
	MemGroups []string
	// Memory is peak RSS in bytes by registry, then by group.
	Memory map[string]map[string]int64
	Limits Limits
	Plan   Plan
}

func (rep *Report) record(row Row, registry string, r Result) {
	if rep.Results[row] == nil {
		rep.Results[row] = map[string]Result{}
	}
	rep.Results[row][registry] = r
}

func (rep *Report) recordMemory(registry, group string, bytes int64) {
	if rep.Memory[registry] == nil {
		rep.Memory[registry] = map[string]int64{}
	}
	rep.Memory[registry][group] = bytes
}

type runner struct {
	plan    Plan
	scratch string
	log     io.Writer
	start   time.Time
	rep     *Report
}

func (r *runner) sampleLimits(ctx context.Context, ca *CA) error {
	l := &r.rep.Limits
	if err := l.sample(ctx, r.plan, ca, r.scratch); err != nil {
		return err
	}
	last := func(samples []Result) float64 { return samples[len(samples)-1].MBps() }
	for i, conc := range r.plan.Conc {
		r.logf("limits conc=%d: loopback TLS copy %.0f MB/s, SHA-256 %.0f MB/s", conc, last(l.TLSCopy[i]), last(l.SHA256[i]))
	}
	r.logf("limits: disk write+fsync %.0f MB/s", last(l.Disk))
	return nil
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// Run measures every row of plan on both registries, sampling the machine
// limits before each blob size. Each blob size and the manifest rows get a fresh server per
// registry, so peak memory is attributable to one blob size. The registries
// alternate within each group and swap who goes first from one group to the
// next, so drift in a shared machine (other load, page cache, disk
// write-back) does not all land on one of them. Progress goes to log.
func Run(ctx context.Context, plan Plan, scratch string, ca *CA, candidate, baseline *Registry, log io.Writer) (*Report, error) {
	r := &runner{plan: plan, scratch: scratch, log: log, start: time.Now(), rep: &Report{
		Candidate: candidate,
		Baseline:  baseline,
		Results:   map[Row]map[string]Result{},
		Memory:    map[string]map[string]int64{},
		MemGroups: []string{idleGroup},
		Plan:      plan,
	}}
	for _, sp := range plan.Sizes {
		for _, op := range []string{opPush, opPull} {
			for _, conc := range plan.Conc {
				r.rep.Rows = append(r.rep.Rows, Row{Op: op, Size: sp.Label, Conc: conc})
			}
		}
		r.rep.MemGroups = append(r.rep.MemGroups, sp.Label)
	}
	for _, conc := range plan.Conc {
		r.rep.Rows = append(r.rep.Rows, Row{Op: opManifest, Conc: conc})
	}
	r.rep.MemGroups = append(r.rep.MemGroups, manifestGroup)

	blobs := r.planBlobs()
	r.logf("digesting synthetic blobs")
	var all []*Blob
	for _, perSize := range blobs {
		for _, perConc := range perSize {
			all = append(all, perConc...)
		}
	}
	fillDigests(all)

	order := []*Registry{baseline, candidate}
	for i, sp := range plan.Sizes {
		if err := r.sampleLimits(ctx, ca); err != nil {
			return nil, err
		}
		for _, reg := range order {
			r.group(ctx, reg, sp.Label, func(q *sequence) { r.blobGroup(ctx, q, sp, blobs[i]) })
		}
		slices.Reverse(order)
	}
	if err := r.sampleLimits(ctx, ca); err != nil {
		return nil, err
	}
	for _, reg := range order {
		r.group(ctx, reg, manifestGroup, func(q *sequence) { r.manifestGroup(ctx, q) })
	}
	return r.rep, ctx.Err()
}

// planBlobs assigns every push a distinct blob, indexed by size, then
// concurrency level. Seeds are unique across the whole run so no registry can
// ever see a blob it already stores.
func (r *runner) planBlobs() [][][]*Blob {
	var seed uint64 = 1 << 32 // below this are the manifest and limit seeds
	out := make([][][]*Blob, len(r.plan.Sizes))
	for i, sp := range r.plan.Sizes {
		out[i] = make([][]*Blob, len(r.plan.Conc))
		for ci := range r.plan.Conc {
			for range sp.Pushes[ci] {
				out[i][ci] = append(out[i][ci], &Blob{Seed: seed, Size: sp.Size})
				seed++
			}
		}
	}
	return out
}

// group starts a fresh server for reg, runs rows against it and records its peak
// memory. A registry that fails to start is marked unavailable for the rest
// of the run instead of being retried for every group.
func (r *runner) group(ctx context.Context, reg *Registry, label string, rows func(*sequence)) {
	if reg.Unavailable != "" || ctx.Err() != nil {
		return
	}
	dir, err := os.MkdirTemp(r.scratch, reg.Name+"-")
	if err != nil {
		reg.Unavailable = err.Error()
		return
	}
	s, err := reg.Start(ctx, dir)
	if err != nil {
		reg.Unavailable = fmt.Sprintf("failed to start: %v", err)
		r.logf("%s: %s", reg.Name, reg.Unavailable)
		os.RemoveAll(dir)
		return
	}
	if _, ok := r.rep.Memory[reg.Name][idleGroup]; !ok {
		if rss, err := s.RSS(); err == nil {
			r.rep.recordMemory(reg.Name, idleGroup, rss)
		}
	}
	rows(&sequence{r: r, registry: reg.Name, server: s})
	if peak, err := s.PeakRSS(); err == nil {
		r.rep.recordMemory(reg.Name, label, peak)
		r.logf("%s peak RSS for %s: %d MiB", reg.Name, label, peak>>20)
	} else {
		r.logf("%s: reading peak RSS: %v", reg.Name, err)
	}
	if err := s.Close(); err != nil {
		r.logf("%s: cleanup: %v", reg.Name, err)
	}
	// Flush write-back left by this server so it is not charged to the next.
	syscall.Sync()
}

// sequence runs one server's steps in order, recording and logging each row;
// once a step fails the remaining rows are recorded as not run, since later
// steps depend on earlier ones (pulls need the pushed blobs).
type sequence struct {
	r        *runner
	registry string
	server   *Server
	failed   error
}

func (q *sequence) run(row Row, step func() Result) {
	name := q.registry
	if q.failed != nil {
		q.r.rep.record(row, name, Result{Err: fmt.Errorf("not run: %w", q.failed)})
		return
	}
	res := step()
	q.r.rep.record(row, name, res)
	if res.Err != nil {
		q.failed = res.Err
		q.r.logf("%s %v: %v", name, row, res.Err)
		return
	}
	q.r.logf("%s %v: %.1f MB/s, %.0f ops/s (%d ops in %v)", name, row,
		res.MBps(), res.OpsPerSec(), res.Ops, res.Elapsed.Round(time.Millisecond))
}

// setup runs an untimed step; its failure fails every later row.
func (q *sequence) setup(step func() error) {
	if q.failed == nil {
		q.failed = step()
	}
}

func (r *runner) blobGroup(ctx context.Context, q *sequence, sp SizePlan, blobs [][]*Blob) {
	c := NewClient(q.server, "bench/blobs")
	defer c.http.CloseIdleConnections()

	var pushed []*Blob
	for ci, conc := range r.plan.Conc {
		q.run(Row{Op: opPush, Size: sp.Label, Conc: conc}, func() Result {
			return measure(ctx, conc, len(blobs[ci]), func(ctx context.Context, i int) (int64, error) {
				return sp.Size, c.PushBlob(ctx, *blobs[ci][i])
			})
		})
		pushed = append(pushed, blobs[ci]...)
	}

	// Pull the most recently pushed blobs: they are the likeliest to still be
	// in the page cache. Reading each once with its digest checked warms the
	// rest of the cache and proves the registry serves the right bytes.
	n := max(1, min(len(pushed), int(r.plan.PullWorkingSet/sp.Size)))
	working := pushed[len(pushed)-n:]
	q.setup(func() error {
		for _, b := range working {
			if err := verifyBlob(ctx, c, b); err != nil {
				return err
			}
		}
		return nil
	})
	for ci, conc := range r.plan.Conc {
		q.run(Row{Op: opPull, Size: sp.Label, Conc: conc}, func() Result {
			return measure(ctx, conc, sp.Pulls[ci], func(ctx context.Context, i int) (int64, error) {
				b := working[i%len(working)]
				n, err := c.PullBlob(ctx, b.Digest, io.Discard)
				if err == nil && n != b.Size {
					err = fmt.Errorf("pulled %d bytes of %s, want %d", n, b.Digest, b.Size)
				}
				return n, err
			})
		})
	}
}

func verifyBlob(ctx context.Context, c *Client, b *Blob) error {
	h := sha256.New()
	if _, err := c.PullBlob(ctx, b.Digest, h); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != b.Digest {
		return fmt.Errorf("GET %s returned content with digest %s", b.Digest, got)
	}
	return nil
}

const (
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	ociConfig   = "application/vnd.oci.image.config.v1+json"
	ociLayer    = "application/vnd.oci.image.layer.v1.tar"
	// manifestLayers makes the manifest about as large as a typical
	// application image's (~1.5 KB).
	manifestLayers = 8
)

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// manifestGroup pushes one small image under the tag "latest" and measures
// resolving that tag, the request every pull starts with.
func (r *runner) manifestGroup(ctx context.Context, q *sequence) {
	c := NewClient(q.server, "bench/app")
	defer c.http.CloseIdleConnections()

	var manifest []byte
	q.setup(func() (err error) {
		manifest, err = pushImage(ctx, c)
		return err
	})
	for ci, conc := range r.plan.Conc {
		q.run(Row{Op: opManifest, Conc: conc}, func() Result {
			return measure(ctx, conc, r.plan.ManifestGets[ci], func(ctx context.Context, _ int) (int64, error) {
				var body bytes.Buffer
				n, err := c.GetManifest(ctx, "latest", ociManifest, &body)
				if err == nil && !bytes.Equal(body.Bytes(), manifest) {
					err = errors.New("GET manifests/latest returned a different manifest")
				}
				return n, err
			})
		})
	}
}

func pushImage(ctx context.Context, c *Client) ([]byte, error) {
	var diffIDs []string
	var layers []descriptor
	for i := range manifestLayers {
		b := Blob{Seed: uint64(i + 1), Size: 4 * kiB}
		b.Digest = digestOf(b.Seed, b.Size)
		if err := c.PushBlob(ctx, b); err != nil {
			return nil, err
		}
		layers = append(layers, descriptor{MediaType: ociLayer, Digest: b.Digest, Size: b.Size})
		diffIDs = append(diffIDs, b.Digest)
	}
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		return nil, err
	}
	configDigest := sha256Digest(config)
	if err := c.PushBytes(ctx, configDigest, config); err != nil {
		return nil, err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     ociManifest,
		"config":        descriptor{MediaType: ociConfig, Digest: configDigest, Size: int64(len(config))},
		"layers":        layers,
	})
	if err != nil {
		return nil, err
	}
	return manifest, c.PutManifest(ctx, "latest", ociManifest, manifest)
}

func sha256Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
