// Package plan is the deployment-plan document. Every plan carries the fields all platforms share — version,
// platform, model, SLO, the replayed estimate, the baselines it beat, its inputs, how it was searched, warnings —
// and one platform's body: a Lambda body (buffers over the request-size axis; contract §3.3) or a cluster body
// (a fleet of instances whose GPUs are split between services' workers; docs/cluster-plan.md). Tools that only
// read the neutral fields (check, diff) work on every platform.
//
// On disk each platform has its own layout: a Lambda plan is exactly contract v1's JSON (buffers at the top
// level), so every v1 file reads and writes unchanged.
package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// Version is the plan format version.
const Version = 1

// Platforms a plan can be for.
const (
	PlatformLambda = "lambda"
)

// Plan is a deployment plan: the neutral fields, and the body of its platform (exactly one of Lambda, Cluster).
type Plan struct {
	Version  int
	Platform string
	Model    string
	SizeUnit string
	// SLO is the plan's latency target; a cluster plan's services each carry their own (Cluster.Services).
	SLO       SLO
	Estimate  Estimate
	Baselines []Baseline
	Inputs    *Inputs
	Search    *Search
	Warnings  []string
	// Validation is the plan's replay over traffic it was not fitted to (plan --validate; validation.go).
	Validation *Validation

	Lambda  *Lambda
	Cluster *Cluster
}

// SLO is a latency percentile target.
type SLO struct {
	Percentile float64 `json:"percentile"`
	LatencyMs  float64 `json:"latency_ms"`
}

// Met reports whether an attainment (a share of requests within the latency bound) meets the percentile.
func (s SLO) Met(attainment float64) bool { return attainment*100 >= s.Percentile-1e-9 }

// Estimate is what serving the trace costs and how fast it is, by replay (contract §3.3). The cluster fields are
// empty on Lambda plans; on a cluster plan the top-level latencies and attainment are over every service's
// requests, each against its own SLO.
type Estimate struct {
	Method            string  `json:"method"` // "replay" or "analytic"
	Requests          int     `json:"requests"`
	Invocations       float64 `json:"invocations"`
	CostUSD           float64 `json:"cost_usd"`
	CostPerMillionUSD float64 `json:"cost_per_million_usd"`
	SLOAttainment     float64 `json:"slo_attainment"` // share of requests within the SLO's latency bound
	LatencyP50Ms      float64 `json:"latency_p50_ms"`
	LatencyP95Ms      float64 `json:"latency_p95_ms"`
	LatencyP99Ms      float64 `json:"latency_p99_ms"`
	PaddingRatio      float64 `json:"padding_ratio"`

	// Cluster plans: the fleet's cost per hour (Lambda's bill for spilled requests included), the instance-hours
	// it bills, its GPUs' mean utilisation, the share of requests and the cost that spilled to Lambda, and each
	// service's share of the replay.
	CostPerHourUSD float64           `json:"cost_per_hour_usd,omitempty"`
	InstanceHours  float64           `json:"instance_hours,omitempty"`
	GPUUtilisation *float64          `json:"gpu_utilisation,omitempty"`
	SpillShare     float64           `json:"spill_share,omitempty"`
	SpillCostUSD   float64           `json:"spill_cost_usd,omitempty"`
	Services       []ServiceEstimate `json:"services,omitempty"`
}

// Baseline is a simpler plan, estimated the same way, that the plan is compared with. Its body is of the plan's
// platform.
type Baseline struct {
	Name     string
	Estimate Estimate
	Buffers  []Buffer        // Lambda
	Pools    []Pool          // cluster
	Lambda   []LambdaService // a cluster plan's Lambda baseline: each service's buffers
	Note     string          // why a baseline is missing pieces or misses its SLO
}

// Inputs records what the plan was computed from.
type Inputs struct {
	Profile       string `json:"profile,omitempty"` // a Lambda plan's; a cluster plan's services list theirs
	ProfileSHA256 string `json:"profile_sha256,omitempty"`
	Trace         string `json:"trace,omitempty"`
	TraceSHA256   string `json:"trace_sha256,omitempty"`
	// the trace's columns, so the trace can be read again (by report, say)
	TimeCol  string `json:"time_col,omitempty"`
	SizeCol  string `json:"size_col,omitempty"`
	TimeUnit string `json:"time_unit,omitempty"`
	// Workload is the workload file of a cluster plan (its services, their profiles and traces).
	Workload       string  `json:"workload,omitempty"`
	WorkloadSHA256 string  `json:"workload_sha256,omitempty"`
	Requests       int     `json:"requests"`
	SpanS          float64 `json:"span_s"`
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
	// Margin is the in-sample attainment margin the plan was searched with (validation.go).
	Margin *Margin `json:"margin,omitempty"`
}

// ReadFile reads and validates a plan file.
func ReadFile(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &inputerr.Error{File: path, Err: err}
	}
	return Parse(data, path)
}

// header is what a document says about itself before its platform's layout is known.
type header struct {
	Version  int    `json:"version"`
	Platform string `json:"platform"`
}

// Parse decodes and validates a plan document of any platform.
func Parse(data []byte, name string) (*Plan, error) {
	var h header
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&h); err != nil {
		return nil, jsonError(data, name, err)
	}
	if dec.More() {
		return nil, inputerr.New(name, 0, "", "trailing data after the plan object")
	}
	p, err := decode(h, data)
	if err != nil {
		var ie *inputerr.Error
		if errors.As(err, &ie) {
			ie.File = name
			ie.Line = lineOfField(data, ie.Field)
			return nil, ie
		}
		return nil, jsonError(data, name, err)
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
	return p, nil
}

// decode reads the layout of the header's platform.
func decode(h header, data []byte) (*Plan, error) {
	switch h.Platform {
	case PlatformLambda:
		var w lambdaJSON
		if err := json.Unmarshal(data, &w); err != nil {
			return nil, err
		}
		return w.plan(), nil
	case PlatformCluster:
		var w clusterJSON
		if err := json.Unmarshal(data, &w); err != nil {
			return nil, err
		}
		return w.plan(), nil
	}
	if h.Version != Version {
		return nil, versionError(h.Version)
	}
	return nil, platformError(h.Platform)
}

// UnmarshalJSON reads a plan of any platform (without the validation Parse adds).
func (p *Plan) UnmarshalJSON(data []byte) error {
	var h header
	if err := json.Unmarshal(data, &h); err != nil {
		return err
	}
	q, err := decode(h, data)
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

// MarshalJSON writes the plan in its platform's layout.
func (p *Plan) MarshalJSON() ([]byte, error) {
	switch {
	case p.Platform == PlatformLambda && p.Lambda != nil:
		return json.Marshal(lambdaWire(p))
	case p.Platform == PlatformCluster && p.Cluster != nil:
		return json.Marshal(clusterWire(p))
	}
	return nil, fmt.Errorf("plan: platform %q without its body", p.Platform)
}

// Marshal encodes the plan as indented JSON.
func (p *Plan) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

func versionError(v int) error {
	return inputerr.New("", 0, "version", "version %d is not supported (this reader knows version %d)", v, Version)
}

// Validate checks the rules every plan keeps (a known version and platform, the platform's body), then the body's.
func (p *Plan) Validate() error {
	if p.Version != Version {
		return versionError(p.Version)
	}
	switch p.Platform {
	case PlatformLambda:
		if p.Lambda == nil {
			return inputerr.New("", 0, "buffers", "a lambda plan needs buffers")
		}
		if err := p.SLO.validate("slo"); err != nil {
			return err
		}
		if err := p.validateEstimates(); err != nil { // estimate.go
			return err
		}
		return p.Lambda.validate()
	case PlatformCluster:
		if p.Cluster == nil {
			return inputerr.New("", 0, "pools", "a cluster plan needs pools")
		}
		return p.Cluster.validate()
	}
	return platformError(p.Platform)
}

// platforms are the platforms this reader knows, for error messages.
var platforms = []string{PlatformLambda, PlatformCluster}

func platformError(name string) error {
	return inputerr.New("", 0, "platform", "platform %q: this reader knows %s", name, strings.Join(platforms, ", "))
}

func (s SLO) validate(field string) error {
	if !(s.Percentile > 0 && s.Percentile <= 100) {
		return inputerr.New("", 0, field, "percentile %v is not in (0, 100]", s.Percentile)
	}
	if !(s.LatencyMs > 0) {
		return inputerr.New("", 0, field, "latency_ms %v is not positive", s.LatencyMs)
	}
	return nil
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

// lineOfField finds the line of a validation error's field ("buffers[1].batch_size") by locating
// the n-th object of the list; good enough for the documents this tool writes, and 0 (no line) when it cannot tell.
func lineOfField(data []byte, field string) int {
	var idx int
	var list, key string
	if i := bytes.IndexByte([]byte(field), '['); i > 0 {
		list = field[:i]
		if _, err := fmt.Sscanf(field[i:], "[%d].%s", &idx, &key); err != nil {
			list = ""
		}
	}
	if list == "" {
		if strings.Contains(field, ".") { // "estimate.slo_attainment": each key after the one before it
			at := -1
			for _, key := range strings.Split(field, ".") {
				k := bytes.Index(data[at+1:], []byte(`"`+key+`"`))
				if k < 0 {
					break
				}
				at += 1 + k
			}
			if at >= 0 {
				return lineAt(data, int64(at))
			}
		}
		if k := []byte(`"` + field + `"`); bytes.Contains(data, k) {
			return lineAt(data, int64(bytes.Index(data, k)))
		}
		return 0
	}
	// a nested list ("schedule.windows"): each key after the one before it
	off := 0
	for _, k := range strings.Split(list, ".") {
		at := bytes.Index(data[off:], []byte(`"`+k+`"`))
		if at < 0 {
			return 0
		}
		off += at
	}
	for i := 0; i <= idx; i++ {
		j := bytes.IndexByte(data[off+1:], '{')
		if j < 0 {
			return 0
		}
		off += j + 1
		if i < idx { // skip to the end of this object, nested objects included
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

// fieldf names a field of the i-th object of a list: "buffers[1].batch_size".
func fieldf(list string, i int, key string) string { return fmt.Sprintf("%s[%d].%s", list, i, key) }
