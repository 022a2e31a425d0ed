package loadgen

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/planner/cluster"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/quantile"
	"github.com/inferplan/inferplan/trace"
)

// ReplayCluster drives a cluster gateway with every service's trace of a workload at once: each trace from its
// own first arrival (as the cluster planner reads them), sped up, every request sent to its service's model with
// as many token ids as its size truncated at the service's max size (what a tokenizer that truncates sends).
func ReplayCluster(ctx context.Context, w *cluster.Workload, opt Options) (*Run, error) {
	if opt.Speedup <= 0 {
		opt.Speedup = 1
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 2 * time.Minute
	}
	if opt.Client == nil {
		opt.Client = defaultClient()
	}
	base := strings.TrimSuffix(opt.URL, "/")
	run := &Run{}
	var meta struct {
		Models []string `json:"models"`
	}
	if err := getJSON(ctx, opt, base+"/v2", &meta); err != nil {
		return nil, err
	}
	var p plan.Plan
	if err := getJSON(ctx, opt, base+"/inferplan/plan", &p); err != nil {
		return nil, fmt.Errorf("reading the served plan: %w", err)
	}
	if p.Cluster == nil {
		return nil, fmt.Errorf("the gateway at %s serves a %s plan, not a cluster plan: replay it with --trace", base, p.Platform)
	}
	run.Plan = &p
	var items []item
	var infer []string
	for i, s := range w.Services {
		if !slices.Contains(meta.Models, s.Name) {
			return nil, fmt.Errorf("the gateway does not serve the workload's service %s (it serves %s)", s.Name, strings.Join(meta.Models, ", "))
		}
		run.Services = append(run.Services, s.Name)
		infer = append(infer, base+"/v2/models/"+s.Name+"/infer")
		for _, q := range s.Trace.Requests { // truncated at the max size already
			items = append(items, item{at: q.At, size: q.Size, svc: i})
		}
	}
	slices.SortStableFunc(items, func(a, b item) int { return cmp.Compare(a.at, b.at) })
	if len(items) == 0 {
		return nil, ErrNoRequests
	}
	run.Outcomes = make([]Outcome, len(items))
	var err error
	if run.WorkersBefore, err = getWorkerMetrics(ctx, opt, base); err != nil {
		return nil, err
	}
	if err := sendAll(ctx, items, infer, opt, run); err != nil {
		return nil, err
	}
	if run.WorkersAfter, err = getWorkerMetrics(ctx, opt, base); err != nil {
		return nil, err
	}
	run.items = items
	return run, nil
}

func getWorkerMetrics(ctx context.Context, opt Options, base string) (WorkerSnapshot, error) {
	body, err := get(ctx, opt, base+"/metrics")
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return ParseWorkerMetrics(body)
}

func getJSON(ctx context.Context, opt Options, url string, v any) error {
	body, err := get(ctx, opt, url)
	if err != nil {
		return err
	}
	defer body.Close()
	return json.NewDecoder(body).Decode(v)
}

func get(ctx context.Context, opt Options, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if opt.Token != "" {
		req.Header.Set("Authorization", "Bearer "+opt.Token)
	}
	resp, err := opt.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(data)))
	}
	return resp.Body, nil
}

// ClusterReport is a cluster replay's outcome per service and per worker, beside the cluster simulator's for the
// same (sped-up) traces and for the arrivals as the gateway stamped them.
type ClusterReport struct {
	URL        string          `json:"url"`
	Workload   string          `json:"workload"`
	Speedup    float64         `json:"speedup"`
	Seed       uint64          `json:"seed"`
	Requests   int             `json:"requests"`
	OK         int             `json:"ok"`
	Errors     int             `json:"errors"`
	Lost       int             `json:"lost"`
	Duplicates int             `json:"duplicates"`
	Spilled    int             `json:"spilled"`
	Codes      map[string]int  `json:"codes"`
	DurationS  float64         `json:"duration_s"`
	MaxLagMs   float64         `json:"max_send_lag_ms"`
	Services   []ServiceResult `json:"services"`
	Workers    []WorkerResult  `json:"workers"`
	// BatchesMatch: every worker dispatched as many batches as the simulator forms over the gateway's own arrival
	// stamps (only when every request was answered OK by a worker, the answers that carry their stamp).
	BatchesMatch *bool    `json:"batches_match,omitempty"`
	Errs         []string `json:"error_samples,omitempty"`
}

// ServiceResult is one service measured beside the simulator.
type ServiceResult struct {
	Name          string   `json:"name"`
	SLO           plan.SLO `json:"slo"`
	Requests      int      `json:"requests"`
	OK            int      `json:"ok"`
	Spilled       int      `json:"spilled"`
	SLOAttainment float64  `json:"slo_attainment"` // share of sent requests answered OK within the SLO
	LatencyP50Ms  float64  `json:"latency_p50_ms"`
	LatencyP99Ms  float64  `json:"latency_p99_ms"`
	// the simulator over the sped-up trace (with the workload's profiles)
	PredAttainment float64 `json:"predicted_slo_attainment"`
	PredP99Ms      float64 `json:"predicted_latency_p99_ms"`
	PredSpilled    int     `json:"predicted_spilled"`
	// the simulator over the arrivals as the gateway stamped them
	ArrivedAttainment *float64 `json:"predicted_as_arrived_slo_attainment,omitempty"`
	ArrivedP99Ms      *float64 `json:"predicted_as_arrived_latency_p99_ms,omitempty"`
}

// WorkerResult is one worker's batches: dispatched by the gateway, and formed by the simulator.
type WorkerResult struct {
	ID                   string  `json:"id"`
	Service              string  `json:"service"`
	Requests             int     `json:"requests"`
	Batches              int     `json:"batches"`
	MeanBatch            float64 `json:"mean_batch"`
	PredBatches          int     `json:"predicted_batches"`
	PredBatchesAsArrived *int    `json:"predicted_batches_as_arrived,omitempty"`
}

// SummarizeCluster measures a cluster run per service and worker and sets the cluster simulator's figures beside
// them: over the sped-up traces, and over the arrivals as the gateway stamped them.
func SummarizeCluster(run *Run, w *cluster.Workload, opt Options) (*ClusterReport, error) {
	p := run.Plan
	f, err := fleet.Expand(p)
	if err != nil {
		return nil, err
	}
	speed := opt.Speedup
	if speed <= 0 {
		speed = 1
	}
	r := &ClusterReport{URL: opt.URL, Workload: w.File, Speedup: speed, Seed: opt.Seed, Requests: len(run.Outcomes),
		Codes: map[string]int{}, DurationS: run.Elapsed.Seconds(), MaxLagMs: float64(run.MaxLag.Microseconds()) / 1000}
	lat := make([][]float64, len(w.Services))
	sr := make([]ServiceResult, len(w.Services))
	for i, s := range w.Services {
		sr[i] = ServiceResult{Name: s.Name, SLO: s.SLO}
	}
	seen := map[string]bool{}
	allStamped := true
	for _, o := range run.Outcomes {
		s := &sr[o.Service]
		s.Requests++
		switch {
		case o.Lost:
			r.Lost++
		case o.Code == 200:
			r.OK++
			s.OK++
			lat[o.Service] = append(lat[o.Service], o.LatencyMs)
			if o.LatencyMs <= s.SLO.LatencyMs {
				s.SLOAttainment++
			}
			if o.Spilled {
				s.Spilled++
				r.Spilled++
			}
		default:
			r.Errors++
		}
		if o.Code != 200 || o.ArrivalUs == 0 || o.Spilled {
			allStamped = false
		}
		if !o.Lost {
			r.Codes[strconv.Itoa(o.Code)]++
		}
		if o.Err != "" && !seen[o.Err] && len(r.Errs) < 5 {
			seen[o.Err] = true
			r.Errs = append(r.Errs, o.Err)
		}
	}
	r.Duplicates = run.Duplicates
	for i := range sr {
		if sr[i].Requests > 0 {
			sr[i].SLOAttainment /= float64(sr[i].Requests)
		}
		if l := lat[i]; len(l) > 0 {
			slices.Sort(l)
			sr[i].LatencyP50Ms, sr[i].LatencyP99Ms = quantile.NearestRank(l, 50), quantile.NearestRank(l, 99)
		}
	}

	// the simulator over the sped-up traces
	fast := make([]*trace.Trace, len(w.Services))
	for i, s := range w.Services {
		fast[i] = trace.Cut(s.Trace, 0, 0, 0, speed)
	}
	fw, err := w.WithTraces(fast)
	if err != nil {
		return nil, err
	}
	pred, err := cluster.Replay(p, fw, cluster.Options{})
	if err != nil {
		return nil, fmt.Errorf("simulating the served plan: %w", err)
	}
	for i := range sr {
		if e := serviceEstimate(pred.Estimate, sr[i].Name); e != nil {
			sr[i].PredAttainment, sr[i].PredP99Ms, sr[i].PredSpilled = e.SLOAttainment, e.LatencyP99Ms, e.Spilled
		}
	}
	// and over the arrivals as the gateway stamped them, from the earliest stamp
	var arrived *cluster.Workload
	if allStamped {
		stamped := make([]*trace.Trace, len(w.Services))
		origin := int64(math.MaxInt64)
		for _, o := range run.Outcomes {
			origin = min(origin, o.ArrivalUs)
		}
		for i := range stamped {
			stamped[i] = &trace.Trace{Source: "gateway arrival stamps"}
		}
		for k, o := range run.Outcomes {
			stamped[o.Service].Requests = append(stamped[o.Service].Requests, trace.Request{At: o.ArrivalUs - origin, Size: run.items[k].size})
		}
		for _, tr := range stamped {
			slices.SortStableFunc(tr.Requests, func(a, b trace.Request) int { return cmp.Compare(a.At, b.At) })
		}
		if arrived, err = w.WithTraces(stamped); err != nil {
			return nil, err
		}
	}
	var asArrived = pred
	if arrived != nil {
		if asArrived, err = cluster.Replay(p, arrived, cluster.Options{}); err != nil {
			return nil, err
		}
		for i := range sr {
			if e := serviceEstimate(asArrived.Estimate, sr[i].Name); e != nil {
				a, p99 := e.SLOAttainment, e.LatencyP99Ms
				sr[i].ArrivedAttainment, sr[i].ArrivedP99Ms = &a, &p99
			}
		}
	}
	r.Services = sr
	if p.Cluster.Schedule != nil {
		return r, nil // a scaled fleet's workers come and go: the simulator's are not the gateway's one for one
	}
	delta := run.WorkersAfter.Sub(run.WorkersBefore)
	match := arrived != nil
	for i, wk := range f.Workers {
		if i >= len(pred.Workers) {
			break
		}
		m := delta[wk.ID]
		wr := WorkerResult{ID: wk.ID, Service: f.Services[wk.Service].Name, Requests: int(math.Round(m.Requests)),
			Batches: int(math.Round(m.Batches)), PredBatches: pred.Workers[i].Batches}
		if wr.Batches > 0 {
			wr.MeanBatch = float64(wr.Requests) / float64(wr.Batches)
		}
		if arrived != nil {
			n := asArrived.Workers[i].Batches
			wr.PredBatchesAsArrived = &n
			match = match && n == wr.Batches
		}
		r.Workers = append(r.Workers, wr)
	}
	if arrived != nil {
		r.BatchesMatch = &match
	}
	return r, nil
}

func serviceEstimate(e plan.Estimate, name string) *plan.ServiceEstimate {
	for i := range e.Services {
		if e.Services[i].Name == name {
			return &e.Services[i]
		}
	}
	return nil
}
