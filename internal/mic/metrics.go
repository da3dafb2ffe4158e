package mic

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	assigned prometheus.Counter
	removed  prometheus.Counter
	latency  prometheus.Histogram
	errors   *prometheus.CounterVec
	calls    *prometheus.CounterVec
	leader   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		assigned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_mic_assignments_total", Help: "Pod identity assignments that reached Assigned.",
		}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_mic_removals_total", Help: "Pod identity assignments removed (their AzureAssignedIdentity finalized).",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "berth_mic_assignment_duration_seconds", Help: "From MIC first wanting an assignment to its status Assigned.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_mic_errors_total", Help: "Failed node syncs by stage: kube (the API server), vm (the management API), node (no machine for the node).",
		}, []string{"stage"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_mic_vm_requests_total", Help: "Management API requests to machines by method and outcome (ok, throttled, refused, failed).",
		}, []string{"method", "outcome"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "berth_mic_leader", Help: "1 while this MIC holds the lease and acts, else 0.",
		}),
	}
	reg.MustRegister(m.assigned, m.removed, m.latency, m.errors, m.calls, m.leader)
	return m
}

// call counts a management API request by its outcome.
func (m *metrics) call(method string, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case retryAfter(err) > 0 || isStatus(err, 429):
		outcome = "throttled"
	case retryable(err):
		outcome = "failed"
	default:
		outcome = "refused"
	}
	m.calls.WithLabelValues(method, outcome).Inc()
}
