package mic_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthhq/berth/internal/mic"
	"github.com/berthhq/berth/internal/podidentity"
)

// TestAssignAndRemove: pods get their identities on their nodes'
// machines, several per node in one request; a refused identity holds
// back neither another node nor the node's other identities; the node's
// own identity stays when its pods go; what MIC added goes.
func TestAssignAndRemove(t *testing.T) {
	w := newWorld(t)
	kubelet := w.identity("kubelet")
	idA, idB, idC := w.identity("id-a"), w.identity("id-b"), w.identity("id-c")
	missing := strings.Replace(idA, "id-a", "no-such-identity", 1)
	w.machine("node-1", kubelet)
	w.machine("node-2")
	// Resource ids as people write them: the group segment lower-cased.
	w.bind("apps", "id-a", strings.Replace(idA, "resourceGroups", "resourcegroups", 1), "sel-a")
	w.bind("apps", "id-b", idB, "sel-b")
	w.bind("apps", "id-c", idC, "sel-c")
	w.bind("apps", "missing", missing, "sel-missing")
	w.bind("apps", "kubelet", kubelet, "sel-kubelet")

	reg, _ := w.run(mic.Options{})
	// node-1: two identities at once, the node's own, and one that does
	// not exist; node-2: one that exists.
	w.pod("apps", "web", "node-1", "sel-a")
	w.pod("apps", "worker", "node-1", "sel-b")
	w.pod("apps", "agent", "node-1", "sel-kubelet")
	w.pod("apps", "broken", "node-1", "sel-missing")
	w.pod("apps", "batch", "node-2", "sel-c")
	w.pod("apps", "pending", "", "sel-a") // not scheduled: nothing

	for _, name := range []string{"web-apps-id-a", "worker-apps-id-b", "agent-apps-kubelet", "batch-apps-id-c"} {
		w.eventually(name+" Assigned", func() bool { return w.status("apps", name) == podidentity.AssignedIDAssigned })
	}
	if got, want := w.vmIdentities("node-1"), lower(idA, idB, kubelet); !slices.Equal(got, want) {
		t.Errorf("node-1's identities: %v, want %v", got, want)
	}
	if got, want := w.vmIdentities("node-2"), lower(idC); !slices.Equal(got, want) {
		t.Errorf("node-2's identities: %v, want %v", got, want)
	}
	if got := w.status("apps", "broken-apps-missing"); got != podidentity.AssignedIDCreated {
		t.Errorf("the missing identity's assignment: %s, want Created", got)
	}
	if n := counter(t, reg, "berth_mic_errors_total", "stage", "vm"); n == 0 {
		t.Error("no error counted for the refused identity")
	}

	a := w.assigned("apps", "web-apps-id-a")
	if a.Labels[mic.NodeLabel] != "node-1" || !slices.Contains(a.Finalizers, mic.Finalizer) || a.Annotations[mic.AddedAnnotation] != "true" ||
		a.Spec.Pod != "web" || a.Spec.PodNamespace != "apps" || a.Spec.NodeName != "node-1" ||
		a.Spec.AzureIdentityRef == nil || a.Spec.AzureIdentityRef.Kind != "AzureIdentity" || a.Spec.AzureIdentityRef.Spec.ClientID != "client-of-id-a" ||
		a.Spec.AzureBindingRef == nil || a.Spec.AzureBindingRef.Kind != "AzureIdentityBinding" || a.Spec.AzureBindingRef.Spec.Selector != "sel-a" {
		t.Errorf("assignment web-apps-id-a: %+v", a)
	}
	if got := w.assigned("apps", "agent-apps-kubelet").Annotations[mic.AddedAnnotation]; got != "false" {
		t.Errorf("the kubelet identity's assignment says added-to-vm=%q, want false", got)
	}
	if w.assigned("apps", "pending-apps-id-a") != nil {
		t.Error("an assignment for a pod on no node")
	}
	// The refused identity's PATCH did not stop one per node: node-1's
	// two good identities went in one request, then apart from the bad.
	if n := counter(t, reg, "berth_mic_assignments_total"); n != 4 {
		t.Errorf("assignments counted: %v, want 4", n)
	}

	// A second pod of the same identity on the node shares it: its
	// removal leaves the identity for the first.
	w.pod("apps", "web2", "node-1", "sel-a")
	w.eventually("web2 Assigned", func() bool { return w.status("apps", "web2-apps-id-a") == podidentity.AssignedIDAssigned })
	w.deletePod("apps", "web2")
	w.eventually("web2's assignment gone", func() bool { return w.status("apps", "web2-apps-id-a") == "absent" })
	if got := w.vmIdentities("node-1"); !slices.Contains(got, strings.ToLower(idA)) {
		t.Errorf("id-a removed while web needs it: %v", got)
	}

	// The pods go: what MIC added goes, the kubelet's identity stays.
	for _, p := range []string{"web", "worker", "agent", "broken"} {
		w.deletePod("apps", p)
	}
	w.eventually("node-1 back to its own identity", func() bool { return slices.Equal(w.vmIdentities("node-1"), lower(kubelet)) })
	for _, name := range []string{"web-apps-id-a", "worker-apps-id-b", "agent-apps-kubelet", "broken-apps-missing"} {
		w.eventually(name+" deleted", func() bool { return w.status("apps", name) == "absent" })
	}
	if got, want := w.vmIdentities("node-2"), lower(idC); !slices.Equal(got, want) {
		t.Errorf("node-2 changed by node-1's pods: %v", got)
	}
	w.deletePod("apps", "batch")
	w.eventually("node-2 has no identity left", func() bool { return len(w.vmIdentities("node-2")) == 0 })
}

// TestNamespaced: with --namespaced, a binding in another namespace gives
// a pod nothing; without it (the original's default), it does.
func TestNamespaced(t *testing.T) {
	w := newWorld(t)
	id := w.identity("id-a")
	w.machine("node-1")
	w.bind("other", "id-a", id, "sel-a")
	_, stop := w.run(mic.Options{Namespaced: true})
	w.pod("apps", "web", "node-1", "sel-a")
	w.pod("other", "web", "node-1", "sel-a")
	w.eventually("the pod of the binding's namespace Assigned", func() bool {
		return w.status("other", "web-other-id-a") == podidentity.AssignedIDAssigned
	})
	if got := w.status("apps", "web-apps-id-a"); got != "absent" {
		t.Errorf("namespaced: a binding of namespace other gave a pod of apps an assignment (%s)", got)
	}
	stop()
	w.run(mic.Options{})
	w.eventually("across namespaces, the pod of apps Assigned", func() bool {
		return w.status("apps", "web-apps-id-a") == podidentity.AssignedIDAssigned
	})
}

// TestThrottled: a 429 from the management API is honoured: the request
// is made again, not before its Retry-After, and the assignment made.
func TestThrottled(t *testing.T) {
	w := newWorld(t)
	id := w.identity("id-a")
	w.machine("node-1")
	w.bind("apps", "id-a", id, "sel-a")
	w.proxy.mu.Lock()
	w.proxy.throttle429, w.proxy.retryAfter = 1, 2
	w.proxy.mu.Unlock()
	reg, _ := w.run(mic.Options{})
	w.pod("apps", "web", "node-1", "sel-a")
	w.eventually("web Assigned after the 429", func() bool { return w.status("apps", "web-apps-id-a") == podidentity.AssignedIDAssigned })
	w.proxy.mu.Lock()
	patches := slices.Clone(w.proxy.patches)
	w.proxy.mu.Unlock()
	if len(patches) < 2 || !patches[0].throttled || patches[1].throttled {
		t.Fatalf("machine PATCHes: %+v, want a throttled one, then one passed", patches)
	}
	if gap := patches[1].at.Sub(patches[0].at); gap < 2*time.Second {
		t.Errorf("the PATCH after a 429 with Retry-After: 2 came %v after it", gap)
	}
	if n := counter(t, reg, "berth_mic_vm_requests_total", "outcome", "throttled"); n != 1 {
		t.Errorf("throttled requests counted: %v", n)
	}
}

// TestOnlyTheLeaderActs: of two MICs only the lease holder writes; when
// it stops, the other takes over.
func TestOnlyTheLeaderActs(t *testing.T) {
	w := newWorld(t)
	idA, idB := w.identity("id-a"), w.identity("id-b")
	w.machine("node-1")
	w.bind("apps", "id-a", idA, "sel-a")
	w.bind("apps", "id-b", idB, "sel-b")
	regOne, stopOne := w.run(mic.Options{ID: "mic-one"})
	w.eventually("mic-one leads", func() bool { return counter(t, regOne, "berth_mic_leader") == 1 })
	regTwo, _ := w.run(mic.Options{ID: "mic-two"})
	w.pod("apps", "web", "node-1", "sel-a")
	w.eventually("web Assigned", func() bool { return w.status("apps", "web-apps-id-a") == podidentity.AssignedIDAssigned })
	lease, err := w.kube.Client.CoordinationV1().Leases("default").Get(context.Background(), "berth-mic", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "mic-one" {
		t.Fatalf("lease: %+v %v", lease, err)
	}
	if n := counter(t, regTwo, "berth_mic_vm_requests_total") + counter(t, regTwo, "berth_mic_assignments_total"); n != 0 || counter(t, regTwo, "berth_mic_leader") != 0 {
		t.Errorf("the MIC that does not lead acted: %v requests and assignments", n)
	}
	if counter(t, regOne, "berth_mic_assignments_total") != 1 {
		t.Error("the leader counted no assignment")
	}

	stopOne()
	w.eventually("mic-two leads", func() bool { return counter(t, regTwo, "berth_mic_leader") == 1 })
	w.pod("apps", "worker", "node-1", "sel-b")
	w.eventually("worker Assigned by mic-two", func() bool { return w.status("apps", "worker-apps-id-b") == podidentity.AssignedIDAssigned })
	if counter(t, regTwo, "berth_mic_assignments_total") != 1 {
		t.Error("mic-two counted no assignment")
	}
	if got, want := w.vmIdentities("node-1"), lower(idA, idB); !slices.Equal(got, want) {
		t.Errorf("node-1's identities: %v, want %v", got, want)
	}
}

func lower(ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strings.ToLower(id)
	}
	slices.Sort(out)
	return out
}

// TestKilledMidway: berth mic killed (SIGKILL, the lease not released)
// while a change of the machine is in flight, and started again, which
// takes over once the lease expires. An identity added by the request
// that outlived its MIC is still known as MIC's and removed later (none
// leaked); a removal that never reached berth is made by the next MIC
// (none left behind); the assignment is not lost.
func TestKilledMidway(t *testing.T) {
	w := newWorld(t)
	kubelet, id := w.identity("kubelet"), w.identity("id-a")
	w.machine("node-1", kubelet)
	w.bind("apps", "id-a", id, "sel-a")
	held, release := w.proxy.holdPatches()
	first := w.start()
	w.pod("apps", "web", "node-1", "sel-a")
	waitHeld(t, held)
	first.kill()
	release <- true // the addition reaches berth after its MIC died
	w.eventually("id-a on node-1", func() bool { return slices.Contains(w.vmIdentities("node-1"), strings.ToLower(id)) })
	// Made with its record, no status yet: MIC was killed before it
	// could say Assigned, or Created had the identity not got there.
	if a := w.assigned("apps", "web-apps-id-a"); a == nil || a.Status.Status != "" || a.Annotations[mic.AddedAnnotation] != "true" {
		t.Fatalf("the assignment as the killed MIC left it: %+v", a)
	}

	second := w.start()
	w.eventually("web Assigned by the second MIC", func() bool { return w.status("apps", "web-apps-id-a") == podidentity.AssignedIDAssigned })
	held, release = w.proxy.holdPatches()
	w.deletePod("apps", "web")
	waitHeld(t, held)
	second.kill()
	release <- false // the removal never reaches berth
	if got, want := w.vmIdentities("node-1"), lower(kubelet, id); !slices.Equal(got, want) {
		t.Fatalf("node-1 after the dropped removal: %v, want %v", got, want)
	}
	if a := w.assigned("apps", "web-apps-id-a"); a == nil || a.DeletionTimestamp == nil || !slices.Contains(a.Finalizers, mic.Finalizer) {
		t.Fatalf("the assignment while its removal is pending: %+v", a)
	}

	w.start()
	w.eventually("id-a removed by the third MIC, the kubelet's kept", func() bool { return slices.Equal(w.vmIdentities("node-1"), lower(kubelet)) })
	w.eventually("the assignment gone", func() bool { return w.status("apps", "web-apps-id-a") == "absent" })
}

func waitHeld(t *testing.T, held <-chan string) {
	t.Helper()
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatal("no machine PATCH within a minute")
	}
}
