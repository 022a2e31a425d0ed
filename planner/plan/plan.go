// Package plan is the deployment-plan document (contract §3.3): the buffers a Lambda deployment batches requests
// into, the estimate of what serving a trace through them costs, and the baselines the plan beat.
package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// Version is the plan format version.
const Version = 1

// NoUpperBound is the max_size of a last buffer that takes every larger size (contract §3.3).
const NoUpperBound = 1e18

// Plan is a deployment plan.
type Plan struct {
	Version   int        `json:"version"`
	Platform  string     `json:"platform"`
	Arch      string     `json:"arch,omitempty"`
	SLO       SLO        `json:"slo"`
	Pricing   Pricing    `json:"pricing"`
	Buffers   []Buffer   `json:"buffers"`
	Estimate  Estimate   `json:"estimate"`
	Analytic  *Estimate  `json:"analytic,omitempty"`
	Baselines []Baseline `json:"baselines,omitempty"`

	// Beyond the contract: where the plan came from and how it was found.
	Model      string   `json:"model,omitempty"`
	SizeUnit   string   `json:"size_unit,omitempty"`
	Inputs     *Inputs  `json:"inputs,omitempty"`
	Search     *Search  `json:"search,omitempty"`
	LowerBound *Bound   `json:"lower_bound,omitempty"`
	Schedule   []Window `json:"schedule,omitempty"`
	// ScheduleEstimate is the replay of the schedule: every window served by its own plan.
	ScheduleEstimate *Estimate `json:"schedule_estimate,omitempty"`
	Warnings         []string  `json:"warnings,omitempty"`
}

// SLO is a latency percentile target.
type SLO struct {
	Percentile float64 `json:"percentile"`
	LatencyMs  float64 `json:"latency_ms"`
}

// Pricing is the price a plan was costed at.
type Pricing struct {
	GBSecondUSD float64 `json:"gb_second_usd"`
	RequestUSD  float64 `json:"request_usd"`
	AsOf        string  `json:"as_of"`
	Source      string  `json:"source,omitempty"`
}

// Buffer batches the requests whose size is in [MinSize, MaxSize].
type Buffer struct {
	MinSize   float64 `json:"min_size"`
	MaxSize   float64 `json:"max_size"`
	BatchSize int     `json:"batch_size"`
	TimeoutMs float64 `json:"timeout_ms"`
	MemoryMB  int     `json:"memory_mb"`
	// Stats is this buffer's part of the plan's estimate (beyond the contract).
	Stats *BufferStats `json:"stats,omitempty"`
}

// BufferStats is one buffer's share of a replay.
type BufferStats struct {
	Requests     int     `json:"requests"`
	Invocations  int     `json:"invocations"`
	MeanBatch    float64 `json:"mean_batch"`
	CostUSD      float64 `json:"cost_usd"`
	PaddingRatio float64 `json:"padding_ratio"`
	LatencyP95Ms float64 `json:"latency_p95_ms"`
	TimeoutShare float64 `json:"timeout_share"` // share of batches dispatched by the timeout rather than full
}

// Estimate is what serving the trace through the buffers costs and how fast it is (contract §3.3).
type Estimate struct {
	Method            string  `json:"method"` // "replay" or "analytic"
	Requests          int     `json:"requests"`
	Invocations       float64 `json:"invocations"`
	CostUSD           float64 `json:"cost_usd"`
	CostPerMillionUSD float64 `json:"cost_per_million_usd"`
	SLOAttainment     float64 `json:"slo_attainment"`
	LatencyP50Ms      float64 `json:"latency_p50_ms"`
	LatencyP95Ms      float64 `json:"latency_p95_ms"`
	LatencyP99Ms      float64 `json:"latency_p99_ms"`
	PaddingRatio      float64 `json:"padding_ratio"`
}

// Baseline is a simpler plan, estimated the same way, that the plan is compared with.
type Baseline struct {
	Name     string   `json:"name"` // no-batching, single-buffer
	Buffers  []Buffer `json:"buffers"`
	Estimate Estimate `json:"estimate"`
}

// Inputs records what the plan was computed from.
type Inputs struct {
	Profile       string `json:"profile"`
	ProfileSHA256 string `json:"profile_sha256,omitempty"`
	Trace         string `json:"trace"`
	TraceSHA256   string `json:"trace_sha256,omitempty"`
	// the trace's columns, so the trace can be read again (by report, say)
	TimeCol  string  `json:"time_col,omitempty"`
	SizeCol  string  `json:"size_col,omitempty"`
	TimeUnit string  `json:"time_unit,omitempty"`
	Requests int     `json:"requests"`
	SpanS    float64 `json:"span_s"`
}

// Search records how the plan was found.
type Search struct {
	Method      string `json:"method"`
	Refinement  string `json:"refinement,omitempty"`
	Seed        uint64 `json:"seed"`
	Evaluations int    `json:"evaluations"` // analytic configuration evaluations
	Replays     int    `json:"replays"`     // replays of the trace
	SizeClasses int    `json:"size_classes,omitempty"`
	// Targets are the analytic attainment targets the replay calibration tried, in order.
	Targets []float64 `json:"analytic_targets,omitempty"`
	Seconds float64   `json:"seconds,omitempty"`
}

// Bound is the ideal lower bound on cost: every request in a full batch of its own exact size, no waiting, at the
// cheapest memory within the SLO.
type Bound struct {
	CostUSD           float64 `json:"cost_usd"`
	CostPerMillionUSD float64 `json:"cost_per_million_usd"`
}

// Window is one entry of a per-window schedule (`plan --window`): the plan for the requests arriving in
// [StartS, EndS) seconds of the trace, and how the whole-trace plan does on the same requests.
type Window struct {
	StartS   float64  `json:"start_s"`
	EndS     float64  `json:"end_s"`
	Buffers  []Buffer `json:"buffers"`
	Estimate Estimate `json:"estimate"`
	// WholeTrace is the replay of the plan's top-level buffers over this window alone.
	WholeTrace Estimate `json:"whole_trace_plan"`
}

// BufferFor returns the index of the buffer a request of the given size joins: the first buffer whose max_size is
// at least the size (so a size below the first min_size joins the first buffer, and one between two buffers joins
// the upper one), or the last buffer for a size above every max_size (contract §3.3).
func BufferFor(bufs []Buffer, size float64) int {
	for i := range bufs {
		if size <= bufs[i].MaxSize {
			return i
		}
	}
	return len(bufs) - 1
}

// ReadFile reads and validates a plan file.
func ReadFile(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &inputerr.Error{File: path, Err: err}
	}
	return Parse(data, path)
}

// Parse decodes and validates a plan document.
func Parse(data []byte, name string) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return nil, jsonError(data, name, err)
	}
	if dec.More() {
		return nil, inputerr.New(name, 0, "", "trailing data after the plan object")
	}
	if err := p.Validate(); err != nil {
		var ie *inputerr.Error
		if errors.As(err, &ie) {
			ie.File = name
			ie.Line = lineOfField(data, ie.Field)
			return nil, ie
		}
		return nil, &inputerr.Error{File: name, Err: err}
	}
	return &p, nil
}

func jsonError(data []byte, name string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return inputerr.New(name, lineAt(data, se.Offset), "", "invalid JSON: %v", err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return inputerr.New(name, lineAt(data, te.Offset), te.Field, "want a %s, got a JSON %s", te.Type, te.Value)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return inputerr.New(name, lineAt(data, int64(len(data))), "", "unexpected end of file")
	}
	return &inputerr.Error{File: name, Err: err}
}

func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// lineOfField finds the line of a validation error's field ("buffers[1].batch_size") by locating the n-th
// buffer object; good enough for the documents this tool writes, and 0 (no line) when it cannot tell.
func lineOfField(data []byte, field string) int {
	var idx int
	var key string
	if _, err := fmt.Sscanf(field, "buffers[%d].%s", &idx, &key); err != nil {
		if k := []byte(`"` + field + `"`); bytes.Contains(data, k) {
			return lineAt(data, int64(bytes.Index(data, k)))
		}
		return 0
	}
	start := bytes.Index(data, []byte(`"buffers"`))
	if start < 0 {
		return 0
	}
	off := start
	for i := 0; i <= idx; i++ {
		j := bytes.IndexByte(data[off+1:], '{')
		if j < 0 {
			return 0
		}
		off += j + 1
		if i < idx { // skip to the end of this buffer object (buffers hold one nested object, "stats")
			depth := 0
			for ; off < len(data); off++ {
				if data[off] == '{' {
					depth++
				} else if data[off] == '}' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
		}
	}
	if k := bytes.Index(data[off:], []byte(`"`+key+`"`)); k >= 0 {
		return lineAt(data, int64(off+k))
	}
	return lineAt(data, int64(off))
}

// Validate checks the contract's rules on a plan: known version and platform, an SLO, and buffers that are
// sorted and do not overlap, each with a positive batch size, a non-negative timeout and a memory size.
func (p *Plan) Validate() error {
	if p.Version != Version {
		return inputerr.New("", 0, "version", "version %d is not supported (this reader knows version %d)", p.Version, Version)
	}
	if p.Platform != "lambda" {
		return inputerr.New("", 0, "platform", "platform %q: this version plans lambda", p.Platform)
	}
	if !(p.SLO.Percentile > 0 && p.SLO.Percentile <= 100) {
		return inputerr.New("", 0, "slo", "percentile %v is not in (0, 100]", p.SLO.Percentile)
	}
	if !(p.SLO.LatencyMs > 0) {
		return inputerr.New("", 0, "slo", "latency_ms %v is not positive", p.SLO.LatencyMs)
	}
	if !(p.Pricing.GBSecondUSD > 0) || p.Pricing.RequestUSD < 0 {
		return inputerr.New("", 0, "pricing", "gb_second_usd must be positive and request_usd non-negative")
	}
	return ValidateBuffers(p.Buffers)
}

// ValidateBuffers checks a buffer list by the contract's rules.
func ValidateBuffers(bufs []Buffer) error {
	if len(bufs) == 0 {
		return inputerr.New("", 0, "buffers", "no buffers")
	}
	for i, b := range bufs {
		f := func(k string) string { return fmt.Sprintf("buffers[%d].%s", i, k) }
		if math.IsNaN(b.MinSize) || math.IsNaN(b.MaxSize) || b.MinSize > b.MaxSize {
			return inputerr.New("", 0, f("max_size"), "min_size %v is above max_size %v", b.MinSize, b.MaxSize)
		}
		if i > 0 && b.MinSize <= bufs[i-1].MaxSize {
			return inputerr.New("", 0, f("min_size"), "%v overlaps the previous buffer, which ends at %v", b.MinSize, bufs[i-1].MaxSize)
		}
		if b.BatchSize < 1 {
			return inputerr.New("", 0, f("batch_size"), "%d is below 1", b.BatchSize)
		}
		if !(b.TimeoutMs >= 0) || math.IsInf(b.TimeoutMs, 0) {
			return inputerr.New("", 0, f("timeout_ms"), "%v is not a non-negative number", b.TimeoutMs)
		}
		if b.MemoryMB < 1 {
			return inputerr.New("", 0, f("memory_mb"), "missing or below 1")
		}
	}
	return nil
}

// Marshal encodes the plan as indented JSON.
func (p *Plan) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// TimeoutMicros is a buffer's timeout in integer microseconds: round(timeout_ms × 1000) (contract §4).
func (b Buffer) TimeoutMicros() int64 {
	return int64(math.Round(b.TimeoutMs * 1000))
}

// Strip returns the buffers without their stats (what a baseline or a diff compares).
func Strip(bufs []Buffer) []Buffer {
	out := slices.Clone(bufs)
	for i := range out {
		out[i].Stats = nil
	}
	return out
}
