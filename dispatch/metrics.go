package dispatch

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus series. Labels: buffer (1-based, as plans print them).
type Metrics struct {
	Registry   *prometheus.Registry
	requests   *prometheus.CounterVec   // answered requests by HTTP code
	rejected   *prometheus.CounterVec   // by reason: queue_full, draining
	batches    *prometheus.CounterVec   // dispatched batches by reason: full, timeout, drain
	batchSize  *prometheus.HistogramVec // requests per batch
	wait       *prometheus.HistogramVec // seconds from arrival to dispatch
	service    *prometheus.HistogramVec // seconds a batch took at the backend (all attempts)
	latency    *prometheus.HistogramVec // seconds from arrival to answer
	tokens     *prometheus.CounterVec   // real tokens
	padded     *prometheus.CounterVec   // padding tokens
	cost       *prometheus.CounterVec   // estimated USD at the plan's prices
	sloMisses  *prometheus.CounterVec
	errors     *prometheus.CounterVec // backend failures by retryable
	retries    *prometheus.CounterVec
	queueDepth *prometheus.GaugeVec
	inflight   *prometheus.GaugeVec
	reloads    prometheus.Counter
	// a cluster gateway's, by service
	svcRequests *prometheus.CounterVec // answered requests by service and HTTP code
	spilled     *prometheus.CounterVec // requests sent to Lambda by the spill rule
	admission   *prometheus.CounterVec // refused by the admission policy, by reason
}

// NewMetrics registers the series in a registry of their own (plus the Go runtime's).
func NewMetrics() *Metrics { return newMetrics("buffer") }

// NewClusterMetrics are a cluster gateway's series: the per-buffer ones labelled by worker (its id in the
// plan's fleet, or lambda:SERVICE:N for a spill buffer), and per service the requests, spills and admission
// refusals.
func NewClusterMetrics() *Metrics {
	m := newMetrics("worker")
	m.svcRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_service_requests_total", Help: "Requests answered, by service and HTTP status code."}, []string{"service", "code"})
	m.spilled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_spilled_total", Help: "Requests sent to Lambda because their worker's expected queueing delay was above the plan's threshold."}, []string{"service"})
	m.admission = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_admission_rejected_total", Help: "Requests refused by the admission policy, by service and reason (concurrency, rate_limit)."}, []string{"service", "reason"})
	m.Registry.MustRegister(m.svcRequests, m.spilled, m.admission)
	return m
}

func newMetrics(label string) *Metrics {
	r := prometheus.NewRegistry()
	b := []string{label}
	sizeBuckets := []float64{1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128}
	timeBuckets := prometheus.ExponentialBuckets(0.0005, 2, 20) // 0.5 ms … ~4.4 min
	m := &Metrics{
		Registry:   r,
		requests:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_requests_total", Help: "Requests answered, by buffer and HTTP status code."}, []string{label, "code"}),
		rejected:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_rejected_total", Help: "Requests refused by admission control, by buffer and reason."}, []string{label, "reason"}),
		batches:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_batches_total", Help: "Batches dispatched, by buffer and why (full, timeout, drain)."}, []string{label, "reason"}),
		batchSize:  prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "inferplan_batch_size", Help: "Requests per dispatched batch.", Buckets: sizeBuckets}, b),
		wait:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "inferplan_batch_wait_seconds", Help: "Time a request waited for its batch to leave.", Buckets: timeBuckets}, b),
		service:    prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "inferplan_service_seconds", Help: "Time a batch took at the backend, retries included.", Buckets: timeBuckets}, b),
		latency:    prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "inferplan_request_latency_seconds", Help: "Time from a request's arrival to its answer.", Buckets: timeBuckets}, b),
		tokens:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_tokens_total", Help: "Real request tokens (sizes) dispatched."}, b),
		padded:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_padding_tokens_total", Help: "Padding added to batches (n × largest − Σ sizes)."}, b),
		cost:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_cost_usd_total", Help: "Estimated cost at the plan's Lambda prices: service time rounded up to a ms × memory GB × GB-s price + request price, per batch."}, b),
		sloMisses:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_slo_misses_total", Help: "Requests answered later than the plan's latency bound."}, b),
		errors:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_backend_errors_total", Help: "Failed backend attempts, by buffer and whether they were retryable."}, []string{label, "retryable"}),
		retries:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inferplan_backend_retries_total", Help: "Backend attempts retried."}, b),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "inferplan_queue_depth", Help: "Requests admitted and not yet dispatched."}, b),
		inflight:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "inferplan_inflight_batches", Help: "Batches at the backend."}, b),
		reloads:    prometheus.NewCounter(prometheus.CounterOpts{Name: "inferplan_plan_reloads_total", Help: "Plans loaded after the first (SIGHUP)."}),
	}
	r.MustRegister(m.requests, m.rejected, m.batches, m.batchSize, m.wait, m.service, m.latency, m.tokens, m.padded,
		m.cost, m.sloMisses, m.errors, m.retries, m.queueDepth, m.inflight, m.reloads,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// bufferMetrics are one buffer's series, resolved once: a label lookup per observation is measurable at the
// request rates the gateway is built for.
type bufferMetrics struct {
	rejectedFull                             prometheus.Counter
	full, timeout, drain                     prometheus.Counter
	batchSize, wait, service, latency        prometheus.Observer
	tokens, padded, cost, sloMisses, retries prometheus.Counter
	errRetryable, errFinal                   prometheus.Counter
	queueDepth, inflight                     prometheus.Gauge
}

func (m *Metrics) forBuffer(label string) bufferMetrics {
	return bufferMetrics{
		rejectedFull: m.rejected.WithLabelValues(label, "queue_full"),
		full:         m.batches.WithLabelValues(label, "full"),
		timeout:      m.batches.WithLabelValues(label, "timeout"),
		drain:        m.batches.WithLabelValues(label, "drain"),
		batchSize:    m.batchSize.WithLabelValues(label),
		wait:         m.wait.WithLabelValues(label),
		service:      m.service.WithLabelValues(label),
		latency:      m.latency.WithLabelValues(label),
		tokens:       m.tokens.WithLabelValues(label),
		padded:       m.padded.WithLabelValues(label),
		cost:         m.cost.WithLabelValues(label),
		sloMisses:    m.sloMisses.WithLabelValues(label),
		retries:      m.retries.WithLabelValues(label),
		errRetryable: m.errors.WithLabelValues(label, "true"),
		errFinal:     m.errors.WithLabelValues(label, "false"),
		queueDepth:   m.queueDepth.WithLabelValues(label),
		inflight:     m.inflight.WithLabelValues(label),
	}
}

func (m bufferMetrics) batches(reason string) prometheus.Counter {
	switch reason {
	case "full":
		return m.full
	case "drain":
		return m.drain
	}
	return m.timeout
}

func (m bufferMetrics) errors(retryable bool) prometheus.Counter {
	if retryable {
		return m.errRetryable
	}
	return m.errFinal
}
