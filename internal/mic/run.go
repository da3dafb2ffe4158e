package mic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Options configure MIC. Zero values take the defaults Run documents.
type Options struct {
	// Machines changes the nodes' machines' identities.
	Machines Machines
	// Namespaced: a binding matches only pods of its own namespace.
	Namespaced bool
	// LeaseNamespace and LeaseName name the coordination.k8s.io Lease
	// the MICs elect their leader with ("default", "berth-mic").
	LeaseNamespace, LeaseName string
	// ID is this MIC's name in the lease (host name and a random suffix).
	ID string
	// LeaseDuration, RenewDeadline and RetryPeriod are the election's
	// timing (15s, 10s, 2s): a leader that stops renewing is replaced
	// LeaseDuration after its last renewal.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Workers is how many nodes are synced at once (16).
	Workers int
	// RetryBase and RetryMax bound the backoff of a failed node or a
	// refused identity (500ms, 2m).
	RetryBase, RetryMax time.Duration
	// Registerer gets MIC's metrics (none if nil).
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

func (o *Options) defaults() error {
	if o.Machines == nil {
		return errors.New("mic: no Machines")
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.LeaseDuration, 15*time.Second)
	def(&o.RenewDeadline, 10*time.Second)
	def(&o.RetryPeriod, 2*time.Second)
	def(&o.RetryBase, 500*time.Millisecond)
	def(&o.RetryMax, 2*time.Minute)
	if o.LeaseNamespace == "" {
		o.LeaseNamespace = "default"
	}
	if o.LeaseName == "" {
		o.LeaseName = "berth-mic"
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		o.ID = host + "_" + hex.EncodeToString(b)
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Run is MIC until ctx ends: it campaigns for the lease, acts while it
// holds it, and campaigns again when it loses it.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	cfg = rest.CopyConfig(cfg)
	// A burst of pods is a burst of writes (four per assignment): the
	// API server paces them (API priority and fairness), not a client
	// limit that would hold back the thousandth pod by forty seconds.
	cfg.QPS = -1
	cfg.UserAgent = "berth-mic"
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	m := newMetrics(o.Registerer)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.LeaseNamespace, Name: o.LeaseName},
		Client:     kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: o.ID},
	}
	for ctx.Err() == nil {
		started, done := make(chan struct{}), make(chan struct{})
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, Name: o.LeaseName, ReleaseOnCancel: true,
			LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
			Callbacks: leaderelection.LeaderCallbacks{
				// term's context ends when the lease is lost: the
				// workers stop, requests in flight are cancelled.
				OnStartedLeading: func(term context.Context) {
					close(started)
					defer close(done)
					o.Log.Info("mic leads", "id", o.ID, "lease", o.LeaseNamespace+"/"+o.LeaseName)
					m.leader.Set(1)
					defer m.leader.Set(0)
					newController(kube, dyn, o, m).run(term)
				},
				OnStoppedLeading: func() { o.Log.Info("mic stopped leading", "id", o.ID) },
				OnNewLeader: func(id string) {
					if id != o.ID {
						o.Log.Info("another mic leads", "leader", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("mic: leader election: %w", err)
		}
		le.Run(ctx)
		// Run returns with ctx ended, or with the lease lost, which it
		// had: then it started a term, whose workers must have stopped
		// before the next campaign, so that two terms never act at
		// once. A term starting after ctx ended finds its context done
		// and does nothing.
		if ctx.Err() == nil {
			<-done
			continue
		}
		select {
		case <-started:
			<-done
		default:
		}
	}
	return nil
}
