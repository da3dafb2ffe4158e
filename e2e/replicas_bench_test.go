package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// BenchmarkReplicas measures authenticated manifest GETs by tag (Basic
// credentials, 32 in flight over keep-alive HTTP/1.1 connections, which
// the proxy spreads over the replicas) through HAProxy in front of one
// replica and of three, every part on this machine, and reports the CPU
// each request costs berth (all replicas), PostgreSQL and HAProxy: what
// does not grow with replicas is what N replicas on N machines multiply.
// The replicas share this machine's cores; the last variant gives each
// replica one (GOMAXPROCS=1), nearer to replicas on machines of their own,
// and berth-idle-cpu-% is what the replicas burn with no requests at all
// (health checks, timers).
//
//	BERTH_MINIO=$(scripts/minio.sh) go test -run '^$' -bench BenchmarkReplicas -benchtime 20000x ./e2e/
func BenchmarkReplicas(b *testing.B) {
	const conc = 32
	for _, v := range []struct {
		replicas   int
		gomaxprocs string
	}{{1, ""}, {3, ""}, {3, "1"}} {
		name := fmt.Sprintf("replicas=%d", v.replicas)
		if v.gomaxprocs != "" {
			name += ",gomaxprocs=" + v.gomaxprocs
		}
		b.Run(name, func(b *testing.B) {
			if v.gomaxprocs != "" {
				// Read by the replicas when they start, not by this process.
				b.Setenv("GOMAXPROCS", v.gomaxprocs)
			}
			r := berthtest.StartReplicas(b, v.replicas)
			ctx := b.Context()
			c := newRegistryClient(r.Front)
			layer := randomBlob(1, 4<<10)
			img, config := newImage("bench/app", "latest", "bench", []testBlob{layer})
			for _, blob := range []testBlob{config, layer} {
				if err := c.uploadWhole(ctx, img.Repo, blob); err != nil {
					b.Fatal(err)
				}
			}
			if err := c.putManifest(ctx, img.Repo, img.Tag, img.Manifest); err != nil {
				b.Fatal(err)
			}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: r.Front.TLSConfig(), MaxIdleConnsPerHost: conc}}
			get := func() error {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.Front.URL+"/v2/bench/app/manifests/latest", nil)
				if err != nil {
					return err
				}
				req.Header.Set("Accept", mediaTypeManifest)
				req.SetBasicAuth(r.Front.Boot.ClientID, r.Front.Boot.ClientSecret)
				resp, err := hc.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					return err
				}
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("GET manifest: %s", resp.Status)
				}
				return nil
			}
			var failed atomic.Int64
			var firstErr sync.Once
			work := func(jobs <-chan struct{}) {
				for range jobs {
					if err := get(); err != nil {
						failed.Add(1)
						firstErr.Do(func() { b.Error(err) })
					}
				}
			}
			// Warm up: every connection opened at once, so that the proxy
			// spreads them.
			warm := make(chan struct{}, conc*4)
			for range conc * 4 {
				warm <- struct{}{}
			}
			close(warm)
			var wg sync.WaitGroup
			for range conc {
				wg.Go(func() { work(warm) })
			}
			wg.Wait()

			var pids []int
			for _, s := range r.Servers {
				pids = append(pids, s.Pid())
			}
			idleFrom, idleBefore := time.Now(), cpuOf(pids...)
			time.Sleep(2 * time.Second)
			idle := float64(cpuOf(pids...)-idleBefore) / float64(time.Since(idleFrom)) * 100
			pg, err := r.Database.Pid()
			if err != nil {
				b.Fatal(err)
			}
			proxy := r.Proxy.Pid()
			berthBefore, pgBefore, proxyBefore := cpuOf(pids...), cpuTree(pg), cpuOf(proxy)
			jobs := make(chan struct{})
			for range conc {
				wg.Go(func() { work(jobs) })
			}
			start := time.Now()
			for b.Loop() {
				jobs <- struct{}{}
			}
			close(jobs)
			wg.Wait()
			elapsed := time.Since(start)
			perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(perReq(cpuOf(pids...)-berthBefore), "berth-cpu-µs/req")
			b.ReportMetric(perReq(cpuTree(pg)-pgBefore), "postgres-cpu-µs/req")
			b.ReportMetric(perReq(cpuOf(proxy)-proxyBefore), "haproxy-cpu-µs/req")
			b.ReportMetric(idle, "berth-idle-cpu-%")
			if failed.Load() > 0 {
				b.Fatalf("%d requests failed", failed.Load())
			}
		})
	}
}

// procStat returns a process's parent and its CPU time, with that of its
// children it has waited for.
func procStat(pid int) (ppid int, cpu time.Duration, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// Fields after the command, which may hold spaces: state, ppid, ...,
	// utime (14th of the line), stime, cutime, cstime.
	_, rest, _ := strings.Cut(string(b)[strings.LastIndexByte(string(b), ')'):], " ")
	f := strings.Fields(rest)
	if len(f) < 15 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += v
	}
	// Linux reports times in USER_HZ, 100 per second.
	return ppid, time.Duration(ticks) * 10 * time.Millisecond, true
}

// cpuOf sums the CPU time of processes.
func cpuOf(pids ...int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		_, cpu, _ := procStat(pid)
		sum += cpu
	}
	return sum
}

// cpuTree is cpuOf a process and of its living children: PostgreSQL's
// server and its sessions.
func cpuTree(root int) time.Duration {
	sum := cpuOf(root)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		if ppid, cpu, ok := procStat(pid); ok && ppid == root {
			sum += cpu
		}
	}
	return sum
}
