package loadgen

import (
	"fmt"
	"io"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// BufferCounters are one buffer's gateway counters at one moment.
type BufferCounters struct {
	Batches      float64 // dispatched batches, all reasons
	Requests     float64 // requests in them (Σ batch sizes)
	CostUSD      float64
	Tokens       float64
	Padding      float64
	SLOMisses    float64
	Retries      float64
	BackendFails float64
	Rejected     float64
}

// MetricsSnapshot is the gateway's /metrics, by buffer (1-based label).
type MetricsSnapshot map[int]BufferCounters

// WorkerSnapshot is a cluster gateway's /metrics, by worker label (the worker's id in the plan's fleet, or
// lambda:SERVICE:N for a spill buffer).
type WorkerSnapshot map[string]BufferCounters

// ParseMetrics reads the Prometheus text exposition of a gateway.
func ParseMetrics(r io.Reader) (MetricsSnapshot, error) {
	by, err := parseBy(r, "buffer")
	if err != nil {
		return nil, err
	}
	snap := MetricsSnapshot{}
	for label, c := range by {
		k, err := strconv.Atoi(label)
		if err != nil {
			return nil, fmt.Errorf("/metrics: buffer label %q is not a number", label)
		}
		snap[k] = c
	}
	return snap, nil
}

// ParseWorkerMetrics reads the Prometheus text exposition of a cluster gateway.
func ParseWorkerMetrics(r io.Reader) (WorkerSnapshot, error) {
	by, err := parseBy(r, "worker")
	return WorkerSnapshot(by), err
}

// parseBy sums the gateway's per-buffer series by the value of label.
func parseBy(r io.Reader, label string) (map[string]BufferCounters, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	snap := map[string]BufferCounters{}
	add := func(name string, f func(c *BufferCounters, m *dto.Metric)) error {
		fam, ok := fams[name]
		if !ok {
			return nil // no observation yet
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != label || l.GetValue() == "" {
					continue
				}
				k := l.GetValue()
				c := snap[k]
				f(&c, m)
				snap[k] = c
			}
		}
		return nil
	}
	counter := func(m *dto.Metric) float64 { return m.GetCounter().GetValue() }
	for name, f := range map[string]func(c *BufferCounters, m *dto.Metric){
		"inferplan_batches_total":         func(c *BufferCounters, m *dto.Metric) { c.Batches += counter(m) },
		"inferplan_batch_size":            func(c *BufferCounters, m *dto.Metric) { c.Requests += m.GetHistogram().GetSampleSum() },
		"inferplan_cost_usd_total":        func(c *BufferCounters, m *dto.Metric) { c.CostUSD += counter(m) },
		"inferplan_tokens_total":          func(c *BufferCounters, m *dto.Metric) { c.Tokens += counter(m) },
		"inferplan_padding_tokens_total":  func(c *BufferCounters, m *dto.Metric) { c.Padding += counter(m) },
		"inferplan_slo_misses_total":      func(c *BufferCounters, m *dto.Metric) { c.SLOMisses += counter(m) },
		"inferplan_backend_retries_total": func(c *BufferCounters, m *dto.Metric) { c.Retries += counter(m) },
		"inferplan_backend_errors_total":  func(c *BufferCounters, m *dto.Metric) { c.BackendFails += counter(m) },
		"inferplan_rejected_total":        func(c *BufferCounters, m *dto.Metric) { c.Rejected += counter(m) },
	} {
		if err := add(name, f); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// Sub is what happened between two snapshots.
func (s MetricsSnapshot) Sub(before MetricsSnapshot) MetricsSnapshot {
	out := MetricsSnapshot{}
	for k, a := range s {
		out[k] = a.sub(before[k])
	}
	return out
}

// Sub is what happened between two snapshots.
func (s WorkerSnapshot) Sub(before WorkerSnapshot) WorkerSnapshot {
	out := WorkerSnapshot{}
	for k, a := range s {
		out[k] = a.sub(before[k])
	}
	return out
}

func (a BufferCounters) sub(b BufferCounters) BufferCounters {
	return BufferCounters{Batches: a.Batches - b.Batches, Requests: a.Requests - b.Requests, CostUSD: a.CostUSD - b.CostUSD,
		Tokens: a.Tokens - b.Tokens, Padding: a.Padding - b.Padding, SLOMisses: a.SLOMisses - b.SLOMisses,
		Retries: a.Retries - b.Retries, BackendFails: a.BackendFails - b.BackendFails, Rejected: a.Rejected - b.Rejected}
}
