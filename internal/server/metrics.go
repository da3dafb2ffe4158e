package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	gcBlobs  prometheus.Counter
	gcBytes  prometheus.Counter

	connsRefused prometheus.Counter
	bodyTimeouts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_http_requests_total", Help: "HTTP requests by surface, method and status code.",
		}, []string{"surface", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_http_request_duration_seconds", Help: "HTTP request latency by surface.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"surface"}),
		gcBlobs: prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_gc_blobs_deleted_total", Help: "Blobs removed by garbage collection."}),
		gcBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_gc_bytes_freed_total", Help: "Bytes freed by garbage collection."}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_http_connections_refused_total", Help: "Connections closed on accept because their client held --max-conns-per-client.",
		}),
		bodyTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_http_body_timeouts_total", Help: "Requests whose body paused longer than --body-timeout or arrived under --body-min-rate.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.gcBlobs, m.gcBytes, m.connsRefused, m.bodyTimeouts)
	return m
}

func (m *metrics) observe(surface, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(surface, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(surface).Observe(d.Seconds())
}
