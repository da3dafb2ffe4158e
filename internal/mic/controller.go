package mic

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berthhq/berth/internal/podidentity"
)

// The names MIC writes on AzureAssignedIdentities.
const (
	// NodeLabel is the label naming the assignment's node, the
	// original's, by which the node agent finds a node's assignments.
	NodeLabel = "nodename"
	// Finalizer keeps an assignment while its identity is being removed
	// from the node's machine.
	Finalizer = "mic.berth/assignment"
	// AddedAnnotation records, before the machine is changed, whether
	// MIC adds the identity to the machine ("true") or found it there
	// already ("false", the node's own identity, never removed).
	AddedAnnotation = "mic.berth/added-to-vm"
)

var (
	groupVersion  = podidentity.GroupVersion
	identitiesGVR = podidentity.IdentitiesGVR
	bindingsGVR   = podidentity.BindingsGVR
	assignedGVR   = podidentity.AssignedIdentitiesGVR
)

const (
	byNode     = "node"
	bySelector = "selector"
)

// controller is one leadership term's informers, queue and workers:
// informers cannot be started again once stopped, so each term makes its
// own.
type controller struct {
	o        Options
	log      *slog.Logger
	m        *metrics
	kube     kubernetes.Interface
	assigned dynamic.NamespaceableResourceInterface

	pods, nodes, bindings, identities, assignments cache.Indexer
	informers                                      []cache.SharedIndexInformer

	queue   workqueue.TypedDelayingInterface[string]
	backoff workqueue.TypedRateLimiter[string]

	mu sync.Mutex
	// failing holds, per node and identity (key failKey), when a refused
	// identity may be tried again; until then it is left out of the
	// node's batch, so that the others are assigned.
	failing map[string]time.Time
	idBack  workqueue.TypedRateLimiter[string]
	// throttled is when the management API, having answered 429, may be
	// called again: its Retry-After is the caller's, not one node's.
	throttled time.Time
	// wanted is when this term first wanted each assignment, for the
	// latency metric.
	wanted map[string]time.Time
}

func newController(kube kubernetes.Interface, dyn dynamic.Interface, o Options, m *metrics) *controller {
	c := &controller{
		o: o, log: o.Log, m: m, kube: kube, assigned: dyn.Resource(assignedGVR),
		queue:   workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "mic"}),
		backoff: workqueue.NewTypedItemExponentialFailureRateLimiter[string](o.RetryBase, o.RetryMax),
		idBack:  workqueue.NewTypedItemExponentialFailureRateLimiter[string](o.RetryBase, o.RetryMax),
		failing: map[string]time.Time{}, wanted: map[string]time.Time{},
	}
	// Only pods that ask for an identity are watched: at a thousand pods
	// a node, the rest would be memory spent on nothing.
	kf := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
		lo.LabelSelector = podidentity.BindingLabel
	}))
	podInf := kf.Core().V1().Pods().Informer()
	must(podInf.AddIndexers(cache.Indexers{byNode: func(obj any) ([]string, error) {
		return []string{obj.(*corev1.Pod).Spec.NodeName}, nil
	}}))
	nodeInf := informers.NewSharedInformerFactory(kube, 0).Core().V1().Nodes().Informer()
	df := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	bindInf := df.ForResource(bindingsGVR).Informer()
	must(bindInf.AddIndexers(cache.Indexers{bySelector: func(obj any) ([]string, error) {
		s, _, _ := unstructured.NestedString(obj.(*unstructured.Unstructured).Object, "spec", "selector")
		return []string{s}, nil
	}}))
	idInf := df.ForResource(identitiesGVR).Informer()
	aaiInf := df.ForResource(assignedGVR).Informer()
	must(aaiInf.AddIndexers(cache.Indexers{byNode: func(obj any) ([]string, error) {
		return []string{obj.(*unstructured.Unstructured).GetLabels()[NodeLabel]}, nil
	}}))
	c.pods, c.nodes, c.bindings, c.identities, c.assignments = podInf.GetIndexer(), nodeInf.GetIndexer(), bindInf.GetIndexer(), idInf.GetIndexer(), aaiInf.GetIndexer()

	// Every change is turned into the nodes it concerns: a pod its node,
	// an assignment its node, a node itself; a binding or an identity
	// may concern any pod, so every node that has one.
	must2(podInf.AddEventHandler(c.handler(func(obj any) []string {
		if p, ok := obj.(*corev1.Pod); ok {
			return []string{p.Spec.NodeName}
		}
		return nil
	})))
	must2(nodeInf.AddEventHandler(c.handler(func(obj any) []string {
		if n, ok := obj.(*corev1.Node); ok {
			return []string{n.Name}
		}
		return nil
	})))
	must2(aaiInf.AddEventHandler(c.handler(func(obj any) []string {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			return []string{u.GetLabels()[NodeLabel]}
		}
		return nil
	})))
	everyNode := c.handler(func(any) []string { return c.pods.ListIndexFuncValues(byNode) })
	must2(bindInf.AddEventHandler(everyNode))
	must2(idInf.AddEventHandler(everyNode))

	c.informers = []cache.SharedIndexInformer{podInf, nodeInf, bindInf, idInf, aaiInf}
	return c
}

func must(err error) {
	if err != nil {
		panic(err) // indexers are added before the informers start: cannot fail
	}
}

func must2(_ cache.ResourceEventHandlerRegistration, err error) { must(err) }

// handler queues the nodes nodesOf names for every add, update and
// delete, old and new object alike (a pod moved off a node concerns both).
func (c *controller) handler(nodesOf func(any) []string) cache.ResourceEventHandler {
	queue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		for _, n := range nodesOf(obj) {
			if n != "" {
				c.queue.Add(n)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { queue(obj) },
		UpdateFunc: func(old, obj any) { queue(old); queue(obj) },
		DeleteFunc: queue,
	}
}

// run acts until ctx ends: the informers, then o.Workers workers taking
// nodes off the queue. The queue never hands one node to two workers at
// once, so a node's machine has one writer, and a slow node holds one
// worker only.
func (c *controller) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, inf := range c.informers {
		wg.Add(1)
		go func() { defer wg.Done(); inf.Run(ctx.Done()) }()
	}
	defer wg.Wait()
	defer c.queue.ShutDown()
	synced := make([]cache.InformerSynced, len(c.informers))
	for i, inf := range c.informers {
		synced[i] = inf.HasSynced
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	c.log.Info("mic is acting", "workers", c.o.Workers)
	for range c.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.work(ctx) {
			}
		}()
	}
	<-ctx.Done()
}

func (c *controller) work(ctx context.Context) bool {
	node, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(node)
	if ctx.Err() != nil {
		return false
	}
	again, err := c.sync(ctx, node)
	switch {
	case ctx.Err() != nil:
	case apierrors.IsConflict(err):
		// The cache had not caught up with a write (often this MIC's
		// own): the write's event queues the node again, and this
		// retry covers an event that was missed.
		c.log.Debug("node sync raced a write; again", "node", node, "err", err)
		c.queue.AddAfter(node, c.o.RetryBase)
	case err != nil:
		wait := c.backoff.When(node)
		if ra := retryAfter(err); ra > wait {
			wait = ra
		}
		c.log.Warn("node sync failed; retrying", "node", node, "in", wait.Round(time.Millisecond), "err", err)
		c.queue.AddAfter(node, wait)
	default:
		c.backoff.Forget(node)
		if again > 0 {
			c.queue.AddAfter(node, again)
		}
	}
	return true
}

// want is an assignment a pod on the node needs.
type want struct {
	name, namespace string
	identity        podidentity.AzureIdentity
	binding         podidentity.AzureIdentityBinding
	pod             *corev1.Pod
}

// assignment is an AzureAssignedIdentity as stored.
type assignment struct {
	obj *unstructured.Unstructured
	aai podidentity.AzureAssignedIdentity
}

func (a assignment) leaving() bool { return a.obj.GetDeletionTimestamp() != nil }

// resourceID is the user-assigned identity the assignment puts on the
// machine, lower-cased (resource ids compare without case), or "" for a
// service principal, which needs nothing on the machine.
func (a assignment) resourceID() string {
	id := a.aai.Spec.AzureIdentityRef
	if id == nil || id.Spec.Type != podidentity.UserAssignedIdentity {
		return ""
	}
	return strings.ToLower(id.Spec.ResourceID)
}

func fromUnstructured(u map[string]any, v any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u, v)
}

// wants is what the pods on a node need: for each pod asking for an
// identity, every binding whose selector its label equals (in its own
// namespace when namespaced) whose identity exists.
func (c *controller) wants(node string) map[string]want {
	out := map[string]want{}
	pods, _ := c.pods.ByIndex(byNode, node)
	for _, obj := range pods {
		pod := obj.(*corev1.Pod)
		label := pod.Labels[podidentity.BindingLabel]
		if label == "" || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		bindings, _ := c.bindings.ByIndex(bySelector, label)
		for _, bobj := range bindings {
			bu := bobj.(*unstructured.Unstructured)
			if c.o.Namespaced && bu.GetNamespace() != pod.Namespace {
				continue
			}
			var b podidentity.AzureIdentityBinding
			if err := fromUnstructured(bu.Object, &b); err != nil {
				c.log.Warn("unreadable binding", "binding", bu.GetNamespace()+"/"+bu.GetName(), "err", err)
				continue
			}
			iobj, ok, _ := c.identities.GetByKey(b.Namespace + "/" + b.Spec.AzureIdentity)
			if !ok {
				continue
			}
			var id podidentity.AzureIdentity
			if err := fromUnstructured(iobj.(*unstructured.Unstructured).Object, &id); err != nil {
				c.log.Warn("unreadable identity", "identity", b.Namespace+"/"+b.Spec.AzureIdentity, "err", err)
				continue
			}
			name := pod.Name + "-" + pod.Namespace + "-" + id.Name
			out[pod.Namespace+"/"+name] = want{name: name, namespace: pod.Namespace, identity: id, binding: b, pod: pod}
		}
	}
	return out
}

// embedded is a copy of an identity or binding as an assignment embeds
// it: the CRD marks the copies embedded resources, which must say their
// kind, and only what names the object is kept of its metadata.
func embedded[T any](kind string, meta metav1.ObjectMeta, v *T, set func(*T, metav1.TypeMeta, metav1.ObjectMeta)) *T {
	cp := *v
	set(&cp, metav1.TypeMeta{APIVersion: groupVersion.String(), Kind: kind},
		metav1.ObjectMeta{Name: meta.Name, Namespace: meta.Namespace, UID: meta.UID, ResourceVersion: meta.ResourceVersion})
	return &cp
}

func (w want) object(node string) (*unstructured.Unstructured, error) {
	aai := podidentity.AzureAssignedIdentity{
		TypeMeta: metav1.TypeMeta{APIVersion: groupVersion.String(), Kind: "AzureAssignedIdentity"},
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: w.namespace, Labels: map[string]string{NodeLabel: node},
			Finalizers: []string{Finalizer}},
		Spec: podidentity.AzureAssignedIdentitySpec{
			AzureIdentityRef: embedded("AzureIdentity", w.identity.ObjectMeta, &w.identity, func(v *podidentity.AzureIdentity, t metav1.TypeMeta, m metav1.ObjectMeta) {
				v.TypeMeta, v.ObjectMeta, v.Status = t, m, podidentity.AzureIdentityStatus{}
			}),
			AzureBindingRef: embedded("AzureIdentityBinding", w.binding.ObjectMeta, &w.binding, func(v *podidentity.AzureIdentityBinding, t metav1.TypeMeta, m metav1.ObjectMeta) {
				v.TypeMeta, v.ObjectMeta, v.Status = t, m, podidentity.AzureIdentityBindingStatus{}
			}),
			Pod: w.pod.Name, PodNamespace: w.pod.Namespace, NodeName: node,
		},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&aai)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{Object: u}
	unstructured.RemoveNestedField(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	return obj, nil
}

// resourceID is the user-assigned identity w puts on the machine,
// lower-cased, or "" (see assignment.resourceID).
func (w want) resourceID() string {
	if w.identity.Spec.Type != podidentity.UserAssignedIdentity {
		return ""
	}
	return strings.ToLower(w.identity.Spec.ResourceID)
}

// same says whether a stored assignment still stands for w: the same
// identity on the machine (or the same service principal). An identity
// changed under an assignment makes a new assignment, after the old one
// is removed.
func (w want) same(a assignment) bool {
	ref := a.aai.Spec.AzureIdentityRef
	return ref != nil && ref.Name == w.identity.Name && ref.Namespace == w.identity.Namespace &&
		ref.Spec.Type == w.identity.Spec.Type && strings.EqualFold(ref.Spec.ResourceID, w.identity.Spec.ResourceID) &&
		ref.Spec.ClientID == w.identity.Spec.ClientID
}

func failKey(node, rid string) string { return node + "|" + rid }

// sync makes one node what its pods need: their assignments exist, their
// identities are on the node's machine (one request for all of them),
// identities nobody on the node needs any more are removed (only those
// MIC added), and then the assignments' statuses and finalizers follow.
// again > 0 asks to be called again then (an identity in backoff).
func (c *controller) sync(ctx context.Context, node string) (again time.Duration, err error) {
	wants := c.wants(node)
	var live, leaving []assignment
	stored, _ := c.assignments.ByIndex(byNode, node)
	for _, obj := range stored {
		u := obj.(*unstructured.Unstructured)
		a := assignment{obj: u}
		if err := fromUnstructured(u.Object, &a.aai); err != nil {
			c.log.Warn("unreadable assignment", "assignment", u.GetNamespace()+"/"+u.GetName(), "err", err)
			continue
		}
		key := u.GetNamespace() + "/" + u.GetName()
		w, wanted := wants[key]
		switch {
		case a.leaving():
			if slices.Contains(u.GetFinalizers(), Finalizer) {
				leaving = append(leaving, a)
			}
			continue
		case !wanted || !w.same(a):
			if err := c.assigned.Namespace(u.GetNamespace()).Delete(ctx, u.GetName(), metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: ptr(u.GetUID())}}); err != nil && !apierrors.IsNotFound(err) {
				c.kubeError(err)
				return 0, err
			}
			// Its deletion comes back as an update with a deletion
			// time: the node is synced again then.
			continue
		}
		delete(wants, key)
		live = append(live, a)
	}
	fresh := slices.Collect(maps.Values(wants))

	var userLeaving []assignment
	for i := range leaving {
		if a := &leaving[i]; a.resourceID() != "" {
			userLeaving = append(userLeaving, *a)
		} else if err := c.finalize(ctx, a); err != nil {
			return 0, err
		}
	}
	m, wait, err := c.readMachine(ctx, node, fresh, live, userLeaving)
	if err != nil {
		return 0, err
	}

	made := make([]assignment, len(fresh))
	if err := each(ctx, len(fresh), func(ctx context.Context, i int) error {
		var err error
		if made[i], err = c.create(ctx, node, fresh[i], m.added[fresh[i].resourceID()]); err != nil {
			c.kubeError(err)
		}
		return err
	}); err != nil {
		return 0, err
	}
	live = append(live, made...)
	if err := c.assignServicePrincipals(ctx, live); err != nil {
		return 0, err
	}
	if m.vm != "" {
		if wait, err = c.syncMachine(ctx, node, m, live, userLeaving); err != nil {
			return 0, err
		}
	}
	// An assignment is Created once MIC has tried to put its identity on
	// the machine and it is not there yet; one whose identity got there
	// in this sync went straight to Assigned, a write fewer on the way.
	if err := each(ctx, len(live), func(ctx context.Context, i int) error {
		if live[i].aai.Status.Status != "" {
			return nil
		}
		_, err := c.moveStatus(ctx, &live[i], podidentity.AssignedIDCreated)
		return err
	}); err != nil {
		return 0, err
	}
	return wait, nil
}

// machine is a node's machine as a sync read it, and MIC's record of
// which of its identities MIC added (by lower-cased resource id): "true"
// or "false", as the assignments' AddedAnnotation say it.
type machine struct {
	vm    string
	cur   VMIdentity
	added map[string]string
}

// readMachine reads the node's machine when the sync has something to do
// there: a user-assigned identity to add, record or mark Assigned, or one
// leaving. A sync of a node whose assignments are all Assigned, which is
// most syncs (each of MIC's own writes comes back as an event), makes no
// management request. Throttled, it reads nothing and says how long to
// wait; the assignments are still made, their record written later.
//
// Whether MIC adds an identity is decided here, before the machine is
// changed, and written with the assignment (on a new one, in the same
// request that creates it): a MIC killed after changing the machine finds
// the decision, not a machine that now has the identity "already".
func (c *controller) readMachine(ctx context.Context, node string, fresh []want, live, userLeaving []assignment) (machine, time.Duration, error) {
	m := machine{added: map[string]string{}}
	needed := len(userLeaving) > 0 || slices.ContainsFunc(fresh, func(w want) bool { return w.resourceID() != "" })
	for _, a := range live {
		if a.resourceID() != "" && (a.aai.Status.Status != podidentity.AssignedIDAssigned || a.obj.GetAnnotations()[AddedAnnotation] == "") {
			needed = true
		}
	}
	if !needed {
		return m, 0, nil
	}
	vm, err := c.vmOf(node)
	if err != nil {
		c.m.errors.WithLabelValues("node").Inc()
		return m, 0, err
	}
	if wait := c.throttleWait(); wait > 0 {
		return m, wait, nil
	}
	cur, err := c.o.Machines.Identity(ctx, vm)
	c.observe("GET", err)
	if err != nil {
		c.m.errors.WithLabelValues("vm").Inc()
		return m, 0, err
	}
	m.vm, m.cur = vm, cur
	for _, a := range slices.Concat(live, userLeaving) {
		if v, ok := a.obj.GetAnnotations()[AddedAnnotation]; ok {
			m.added[a.resourceID()] = v
		}
	}
	decide := func(rid string) {
		if _, ok := m.added[rid]; rid != "" && !ok {
			m.added[rid] = fmt.Sprint(!cur.has(rid))
		}
	}
	for _, a := range live {
		decide(a.resourceID())
	}
	for _, w := range fresh {
		decide(w.resourceID())
	}
	return m, 0, nil
}

// assignServicePrincipals marks Assigned the assignments of service
// principals, which need nothing on the machine.
func (c *controller) assignServicePrincipals(ctx context.Context, live []assignment) error {
	for i := range live {
		a := &live[i]
		switch ref := a.aai.Spec.AzureIdentityRef; {
		case a.resourceID() != "":
		case ref == nil || ref.Spec.Type == podidentity.UserAssignedIdentity:
			// Nothing to assign (no resource id, or no identity at
			// all in an assignment written by hand): it stays Created.
			c.log.Warn("a user-assigned AzureIdentity without resourceID", "assignment", a.obj.GetNamespace()+"/"+a.obj.GetName())
		default:
			if err := c.assignedNow(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeConcurrency bounds the API server writes one node's sync makes at
// once: a node with a hundred new pods is a few round trips, not four
// hundred in a row.
const writeConcurrency = 16

// each runs fn for 0..n-1 at once (writeConcurrency at most) and returns
// the first error.
func each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(writeConcurrency)
	for i := range n {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

func ptr[T any](v T) *T { return &v }

// create makes w's assignment, with MIC's record of whether it adds the
// identity to the machine when added is not empty; one made by an earlier
// sync that the cache does not show yet is read instead.
func (c *controller) create(ctx context.Context, node string, w want, added string) (assignment, error) {
	key := w.namespace + "/" + w.name
	c.mu.Lock()
	if _, ok := c.wanted[key]; !ok {
		c.wanted[key] = time.Now()
	}
	c.mu.Unlock()
	obj, err := w.object(node)
	if err != nil {
		return assignment{}, err
	}
	if added != "" {
		obj.SetAnnotations(map[string]string{AddedAnnotation: added})
	}
	u, err := c.assigned.Namespace(w.namespace).Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		u, err = c.assigned.Namespace(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
	}
	if err != nil {
		return assignment{}, err
	}
	// A pod made again under its name on another node finds its old
	// assignment, which that node's sync removes first.
	if on := u.GetLabels()[NodeLabel]; on != node {
		return assignment{}, fmt.Errorf("the assignment %s still stands for node %s", key, on)
	}
	a := assignment{obj: u}
	return a, fromUnstructured(u.Object, &a.aai)
}

// setStatus writes an assignment's status through the status subresource.
// It is a merge patch, not an update: MIC (the leader) is the status's only
// writer, so the write needs no resource version, and does not fail
// because the cache has not caught up with this MIC's own last write. The
// UID in the patch keeps it from landing on a namesake made since.
func (c *controller) setStatus(ctx context.Context, a *assignment, status string) error {
	out, err := c.patch(ctx, a, map[string]any{"status": map[string]any{"status": status}}, "status")
	if err != nil {
		return fmt.Errorf("status %s of %s/%s: %w", status, a.obj.GetNamespace(), a.obj.GetName(), err)
	}
	a.obj = out
	a.aai.Status.Status = status
	return nil
}

// patch merge-patches an assignment, pinned to its UID.
func (c *controller) patch(ctx context.Context, a *assignment, change map[string]any, subresources ...string) (*unstructured.Unstructured, error) {
	meta, _ := change["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		change["metadata"] = meta
	}
	meta["uid"] = string(a.obj.GetUID())
	body, err := json.Marshal(change)
	if err != nil {
		return nil, err
	}
	out, err := c.assigned.Namespace(a.obj.GetNamespace()).Patch(ctx, a.obj.GetName(), types.MergePatchType, body, metav1.PatchOptions{}, subresources...)
	if err != nil {
		c.kubeError(err)
		return nil, err
	}
	return out, nil
}

// update writes an assignment's metadata (annotations, finalizers).
func (c *controller) update(ctx context.Context, a *assignment, change func(*unstructured.Unstructured)) error {
	u := a.obj.DeepCopy()
	change(u)
	out, err := c.assigned.Namespace(u.GetNamespace()).Update(ctx, u, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) && a.leaving() {
		return nil
	}
	if err != nil {
		c.kubeError(err)
		return fmt.Errorf("%s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	a.obj = out
	return nil
}

// kubeError counts a failed API server write; a conflict (a write
// racing the cache) is not one.
func (c *controller) kubeError(err error) {
	if !apierrors.IsConflict(err) {
		c.m.errors.WithLabelValues("kube").Inc()
	}
}

// vmOf is the resource id of the node's machine.
func (c *controller) vmOf(node string) (string, error) {
	obj, ok, _ := c.nodes.GetByKey(node)
	if !ok {
		return "", fmt.Errorf("no Node %s", node)
	}
	return vmOfProviderID(obj.(*corev1.Node).Spec.ProviderID)
}

// syncMachine writes what readMachine decided on the assignments that
// lack it, adds and removes the node's identities on its machine in one
// request, and then marks the assignments Assigned and lets the leaving
// ones go.
func (c *controller) syncMachine(ctx context.Context, node string, m machine, live, userLeaving []assignment) (time.Duration, error) {
	vm, cur := m.vm, m.cur
	need := map[string]string{}
	for _, a := range live {
		if rid := a.resourceID(); rid != "" {
			need[rid] = a.aai.Spec.AzureIdentityRef.Spec.ResourceID
		}
	}
	if err := each(ctx, len(live), func(ctx context.Context, i int) error {
		a := &live[i]
		rid := a.resourceID()
		if _, ok := a.obj.GetAnnotations()[AddedAnnotation]; rid == "" || ok {
			return nil
		}
		out, err := c.patch(ctx, a, map[string]any{"metadata": map[string]any{"annotations": map[string]any{AddedAnnotation: m.added[rid]}}})
		if err != nil {
			return fmt.Errorf("%s/%s: %w", a.obj.GetNamespace(), a.obj.GetName(), err)
		}
		a.obj = out
		return nil
	}); err != nil {
		return 0, err
	}

	now := time.Now()
	var again time.Duration
	var add, remove []string
	for rid, raw := range need {
		if cur.has(rid) {
			continue
		}
		if wait := c.setAsideFor(node, rid, now); wait > 0 {
			again = minPositive(again, wait)
			continue
		}
		add = append(add, raw)
	}
	for _, a := range userLeaving {
		rid := a.resourceID()
		if _, needed := need[rid]; needed || !cur.has(rid) || a.obj.GetAnnotations()[AddedAnnotation] != "true" || slices.Contains(remove, rid) {
			continue
		}
		if wait := c.setAsideFor(node, rid, now); wait > 0 {
			again = minPositive(again, wait)
			continue
		}
		remove = append(remove, rid)
	}
	slices.Sort(add)
	slices.Sort(remove)
	if len(add)+len(remove) > 0 {
		next, err := c.change(ctx, node, vm, cur, add, remove)
		if err != nil {
			return 0, err
		}
		cur = next
		for _, rid := range slices.Concat(add, remove) {
			if wait := c.setAsideFor(node, strings.ToLower(rid), time.Now()); wait > 0 {
				again = minPositive(again, wait)
			}
		}
	}
	if err := each(ctx, len(live), func(ctx context.Context, i int) error {
		if a := &live[i]; a.resourceID() != "" && cur.has(a.resourceID()) {
			return c.assignedNow(ctx, a)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	if err := each(ctx, len(userLeaving), func(ctx context.Context, i int) error {
		a := &userLeaving[i]
		rid := a.resourceID()
		if _, needed := need[rid]; needed || !cur.has(rid) || a.obj.GetAnnotations()[AddedAnnotation] != "true" {
			return c.finalize(ctx, a)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	// An identity that got where it should be (on the machine, or off
	// it) starts its backoff afresh the next time it is refused.
	c.mu.Lock()
	for _, rid := range slices.Concat(slices.Collect(maps.Keys(need)), remove) {
		if key := failKey(node, rid); cur.has(rid) == (need[rid] != "") {
			delete(c.failing, key)
			c.idBack.Forget(key)
		}
	}
	c.mu.Unlock()
	return again, nil
}

func minPositive(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// change adds and removes identities on the machine in one request. When
// the request is refused (an identity that does not exist, or that MIC
// may not assign), each change is tried alone, so that the refused one is
// found and set aside (backing off) and the others are made: one bad
// identity never holds back the node's others. A throttled or failed
// request is retried whole, later.
func (c *controller) change(ctx context.Context, node, vm string, cur VMIdentity, add, remove []string) (VMIdentity, error) {
	apply := func(from VMIdentity, add, remove []string) (VMIdentity, error) {
		next := VMIdentity{System: from.System}
		for _, u := range from.User {
			if !slices.ContainsFunc(remove, func(r string) bool { return strings.EqualFold(r, u) }) {
				next.User = append(next.User, u)
			}
		}
		next.User = append(next.User, add...)
		err := c.o.Machines.SetIdentity(ctx, vm, from, next)
		c.observe("PATCH", err)
		if err != nil {
			return from, err
		}
		c.log.Info("machine identities changed", "node", node, "vm", vm, "added", add, "removed", remove)
		return next, nil
	}
	next, err := apply(cur, add, remove)
	if err == nil || retryable(err) {
		if err != nil {
			c.m.errors.WithLabelValues("vm").Inc()
		}
		return next, err
	}
	if len(add)+len(remove) == 1 {
		c.setAside(node, slices.Concat(add, remove)[0], err)
		return cur, nil
	}
	for _, r := range remove {
		if next, err = apply(cur, nil, []string{r}); err == nil {
			cur = next
		} else if retryable(err) {
			c.m.errors.WithLabelValues("vm").Inc()
			return cur, err
		} else {
			c.setAside(node, r, err)
		}
	}
	for _, a := range add {
		if next, err = apply(cur, []string{a}, nil); err == nil {
			cur = next
		} else if retryable(err) {
			c.m.errors.WithLabelValues("vm").Inc()
			return cur, err
		} else {
			c.setAside(node, a, err)
		}
	}
	return cur, nil
}

// setAside leaves a refused identity out of the node's batches until its
// backoff ends.
func (c *controller) setAside(node, rid string, err error) {
	c.m.errors.WithLabelValues("vm").Inc()
	key := failKey(node, strings.ToLower(rid))
	c.mu.Lock()
	wait := c.idBack.When(key)
	c.failing[key] = time.Now().Add(wait)
	c.mu.Unlock()
	c.log.Warn("identity refused for the node's machine; the node's other identities go on", "node", node, "identity", rid,
		"retry_in", wait.Round(time.Millisecond), "err", err)
}

// setAsideFor is how long a refused identity is still left out of the
// node's batches, or 0.
func (c *controller) setAsideFor(node, rid string, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until, ok := c.failing[failKey(node, rid)]; ok && now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

// observe counts a management API call, and a 429 holds every worker's
// calls for its Retry-After.
func (c *controller) observe(method string, err error) {
	c.m.call(method, err)
	if isStatus(err, 429) {
		wait := retryAfter(err)
		if wait == 0 {
			wait = c.o.RetryBase
		}
		c.mu.Lock()
		if t := time.Now().Add(wait); t.After(c.throttled) {
			c.throttled = t
		}
		c.mu.Unlock()
	}
}

func (c *controller) throttleWait() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Until(c.throttled)
}

// moveStatus changes an assignment's status from what this sync read to
// status, once: the cache may not show this MIC's own last write yet, so
// the patch tests what it changes (the status read or, with none yet, the
// version read) and one that finds it changed already changes nothing;
// the change's event brings the node back with what it is now.
func (c *controller) moveStatus(ctx context.Context, a *assignment, status string) (changed bool, err error) {
	ops := []map[string]any{
		{"op": "test", "path": "/metadata/uid", "value": a.obj.GetUID()},
		{"op": "test", "path": "/metadata/resourceVersion", "value": a.obj.GetResourceVersion()},
		{"op": "add", "path": "/status", "value": map[string]any{"status": status}},
	}
	if was := a.aai.Status.Status; was != "" {
		ops = append(ops[:1],
			map[string]any{"op": "test", "path": "/status/status", "value": was},
			map[string]any{"op": "replace", "path": "/status/status", "value": status})
	}
	body, err := json.Marshal(ops)
	if err != nil {
		return false, err
	}
	out, err := c.assigned.Namespace(a.obj.GetNamespace()).Patch(ctx, a.obj.GetName(), types.JSONPatchType, body, metav1.PatchOptions{}, "status")
	if apierrors.IsInvalid(err) {
		return false, nil
	}
	if err != nil {
		c.kubeError(err)
		return false, fmt.Errorf("status %s of %s/%s: %w", status, a.obj.GetNamespace(), a.obj.GetName(), err)
	}
	a.obj, a.aai.Status.Status = out, status
	return true, nil
}

// assignedNow marks an assignment Assigned, once.
func (c *controller) assignedNow(ctx context.Context, a *assignment) error {
	if a.aai.Status.Status == podidentity.AssignedIDAssigned {
		return nil
	}
	if changed, err := c.moveStatus(ctx, a, podidentity.AssignedIDAssigned); err != nil || !changed {
		return err
	}
	key := a.obj.GetNamespace() + "/" + a.obj.GetName()
	c.mu.Lock()
	since, ok := c.wanted[key]
	delete(c.wanted, key)
	c.mu.Unlock()
	if !ok {
		since = a.obj.GetCreationTimestamp().Time
	}
	c.m.assigned.Inc()
	c.m.latency.Observe(time.Since(since).Seconds())
	return nil
}

// finalize lets a leaving assignment go: its identity is off the machine,
// or stays for another assignment or as the node's own.
func (c *controller) finalize(ctx context.Context, a *assignment) error {
	if a.aai.Status.Status != podidentity.AssignedIDUnassigned {
		if err := c.setStatus(ctx, a, podidentity.AssignedIDUnassigned); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if err := c.update(ctx, a, func(u *unstructured.Unstructured) {
		u.SetFinalizers(slices.DeleteFunc(u.GetFinalizers(), func(f string) bool { return f == Finalizer }))
	}); err != nil {
		return err
	}
	c.m.removed.Inc()
	return nil
}
