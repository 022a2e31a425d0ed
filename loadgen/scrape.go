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

// ParseMetrics reads the Prometheus text exposition of a gateway.
func ParseMetrics(r io.Reader) (MetricsSnapshot, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	snap := MetricsSnapshot{}
	add := func(name string, f func(c *BufferCounters, m *dto.Metric)) error {
		fam, ok := fams[name]
		if !ok {
			return nil // no observation yet
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "buffer" || l.GetValue() == "" {
					continue
				}
				k, err := strconv.Atoi(l.GetValue())
				if err != nil {
					return fmt.Errorf("/metrics: %s has buffer label %q", name, l.GetValue())
				}
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
		b := before[k]
		out[k] = BufferCounters{Batches: a.Batches - b.Batches, Requests: a.Requests - b.Requests, CostUSD: a.CostUSD - b.CostUSD,
			Tokens: a.Tokens - b.Tokens, Padding: a.Padding - b.Padding, SLOMisses: a.SLOMisses - b.SLOMisses,
			Retries: a.Retries - b.Retries, BackendFails: a.BackendFails - b.BackendFails, Rejected: a.Rejected - b.Rejected}
	}
	return out
}
