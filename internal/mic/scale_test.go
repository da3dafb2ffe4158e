package mic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/berthhq/berth/internal/podidentity"
	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// BenchmarkAssignAtScale measures, with berth mic as a process, a real
// API server and a real berth, how long a pod waits for its identity:
// from its creation on a node (scheduled, the kubelet then writes its
// address) to its AzureAssignedIdentity being Assigned (the identity on
// the node's machine: the node agent answers the pod). scalePods pods,
// bound to scaleIdentities identities on scaleNodes nodes, come at once
// from scaleKubelets writers (the burst rows); then, with those running,
// scaleArrivals more come one every arrivalEvery (the steady rows). It
// reports the quantiles of both and MIC's CPU time and peak memory. Run
// it with -benchtime=1x: each iteration is such a round, with new pods.
func BenchmarkAssignAtScale(b *testing.B) {
	const (
		scaleNodes      = 10
		scaleIdentities = 200
		scalePods       = 1000
		scaleKubelets   = 20
		scaleArrivals   = 100
		arrivalEvery    = 100 * time.Millisecond
	)
	w := newWorld(b)
	for n := range scaleNodes {
		w.machine(fmt.Sprintf("node-%d", n))
	}
	for i := range scaleIdentities {
		name := fmt.Sprintf("id-%d", i)
		w.bind("apps", name, w.identity(name), fmt.Sprintf("sel-%d", i))
	}
	// MIC talks to berth directly: the fixture's proxy is for tests that
	// interfere with its requests.
	nodeFile, err := json.Marshal(w.node)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(w.nodeDir, "direct.json")
	if err := os.WriteFile(path, nodeFile, 0o600); err != nil {
		b.Fatal(err)
	}
	mic := exec.Command(berthtest.Binary(b), "mic", "--kubeconfig", w.kube.Kubeconfig, "--node-file", path)
	if err := mic.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mic.Process.Kill(); mic.Wait() })

	// The kubelets' writes are not held back by a client-side limit:
	// they are many clients.
	cfg := rest.CopyConfig(w.kube.Config)
	cfg.QPS = -1
	kubelet, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	scheduled := map[string]time.Time{}
	// schedule makes pod i of a round on its node, with its address.
	schedule := func(name string, i int) error {
		start := time.Now()
		p, err := kubelet.CoreV1().Pods("apps").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{podidentity.BindingLabel: fmt.Sprintf("sel-%d", i%scaleIdentities)}},
			Spec:       corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i%scaleNodes), Containers: []corev1.Container{{Name: "app", Image: "demo"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		p.Status.Phase, p.Status.PodIP = corev1.PodRunning, fmt.Sprintf("10.%d.%d.%d", i/62500, i/250%250, i%250+1)
		if _, err := kubelet.CoreV1().Pods("apps").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return err
		}
		mu.Lock()
		scheduled[name] = start
		mu.Unlock()
		return nil
	}
	var burst, steady []time.Duration
	cpu, peak := 0.0, 0
	b.ResetTimer()
	for round := range b.N {
		assigned := w.watchAssigned(ctx)
		cpuBefore := cpuSeconds(b, mic.Process.Pid)
		var kubelets errgroup.Group
		kubelets.SetLimit(scaleKubelets)
		for i := range scalePods {
			kubelets.Go(func() error { return schedule(fmt.Sprintf("burst-%d-%d", round, i), i) })
		}
		if err := kubelets.Wait(); err != nil {
			b.Fatal(err)
		}
		assigned.wait(b, scalePods, 5*time.Minute)
		var arrivals errgroup.Group
		for i := range scaleArrivals {
			arrivals.Go(func() error { return schedule(fmt.Sprintf("steady-%d-%d", round, i), scalePods+i) })
			time.Sleep(arrivalEvery)
		}
		if err := arrivals.Wait(); err != nil {
			b.Fatal(err)
		}
		at := assigned.wait(b, scalePods+scaleArrivals, 5*time.Minute)
		assigned.stop()
		for pod, t := range at {
			if strings.HasPrefix(pod, "burst-") {
				burst = append(burst, t.Sub(scheduled[pod]))
			} else {
				steady = append(steady, t.Sub(scheduled[pod]))
			}
		}
		cpu += cpuSeconds(b, mic.Process.Pid) - cpuBefore
		peak = max(peak, peakKiB(b, mic.Process.Pid))
		if round+1 < b.N {
			b.StopTimer()
			if err := w.kube.Client.CoreV1().Pods("apps").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	for _, rows := range []struct {
		name string
		d    []time.Duration
	}{{"burst", burst}, {"steady", steady}} {
		slices.Sort(rows.d)
		q := func(p float64) float64 { return float64(rows.d[int(p*float64(len(rows.d)-1))].Milliseconds()) }
		b.ReportMetric(q(0.5), rows.name+"-p50-ms")
		b.ReportMetric(q(0.99), rows.name+"-p99-ms")
	}
	b.ReportMetric(cpu/float64(b.N), "mic-cpu-s/round")
	b.ReportMetric(float64(peak)/1024, "mic-peak-MiB")
}

// assignedWatch records when each pod's assignment first was Assigned.
type assignedWatch struct {
	mu   sync.Mutex
	at   map[string]time.Time
	more chan struct{}
	stop func()
}

func (w *world) watchAssigned(ctx context.Context) *assignedWatch {
	w.t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	a := &assignedWatch{at: map[string]time.Time{}, more: make(chan struct{}, 1), stop: cancel}
	record := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		var ai podidentity.AzureAssignedIdentity
		if !ok || runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &ai) != nil || ai.Status.Status != podidentity.AssignedIDAssigned {
			return
		}
		now := time.Now()
		a.mu.Lock()
		if _, seen := a.at[ai.Spec.Pod]; !seen {
			a.at[ai.Spec.Pod] = now
		}
		a.mu.Unlock()
		select {
		case a.more <- struct{}{}:
		default:
		}
	}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(w.dyn, 0, "apps", nil)
	inf := factory.ForResource(assignedGVR).Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
	}); err != nil {
		w.t.Fatal(err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		w.t.Fatal("the assignments' informer did not sync")
	}
	return a
}

// wait returns the times once n pods' assignments were seen Assigned.
func (a *assignedWatch) wait(tb testing.TB, n int, limit time.Duration) map[string]time.Time {
	tb.Helper()
	deadline := time.After(limit)
	for {
		a.mu.Lock()
		got := len(a.at)
		a.mu.Unlock()
		if got >= n {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.at
		}
		select {
		case <-a.more:
		case <-deadline:
			tb.Fatalf("%d of %d assignments Assigned after %s", got, n, limit)
		}
	}
}

// cpuSeconds is a process's user and system time so far.
func cpuSeconds(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command's closing parenthesis; utime and stime
	// are the 14th and 15th of the line, in clock ticks (100 a second
	// on Linux).
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

// peakKiB is a process's peak resident memory (VmHWM).
func peakKiB(tb testing.TB, pid int) int {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kib
		}
	}
	tb.Fatal("no VmHWM")
	return 0
}
