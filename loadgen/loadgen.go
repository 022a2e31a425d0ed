// Package loadgen drives a running gateway with a trace, open loop: every request leaves at its (sped-up) trace
// time whatever came back before, and the run is then measured beside the simulator's prediction for the same
// arrivals (Summarize) — what the plan promised against what the runtime did.
package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/trace"
)

// Options configure a trace replay against a running gateway.
type Options struct {
	URL     string  // the gateway's base address
	Model   string  // "" asks the gateway
	Token   string  // bearer token
	Speedup float64 // trace time runs this many times faster (default 1)
	// Timeout is how long a request may go unanswered before it counts as lost (default 2 min).
	Timeout time.Duration
	Seed    uint64 // seeds the token ids
	// Progress, when set, hears how many requests were sent and answered, about every 100 ms.
	Progress func(sent, answered, total int)
	Client   *http.Client
}

// Outcome is what happened to one request.
type Outcome struct {
	SentAt    time.Duration // from the start of the run
	LatencyMs float64       // answer time − send time (0 if lost)
	Code      int           // HTTP status; 0 if lost
	Buffer    int           // 1-based, as the gateway reported (0 if not answered OK)
	Service   int           // a cluster replay's service (index into Run.Services)
	Worker    string        // a cluster gateway's worker, or lambda:SERVICE:N when spilled
	Spilled   bool
	BatchSize int
	ArrivalUs int64  // when the gateway admitted it, Unix microseconds (0 if not answered OK)
	Lost      bool   // sent but never answered: no HTTP response at all
	Err       string // the gateway's error or the transport's
}

// Run is a replay's raw record: one outcome per request, in trace order.
type Run struct {
	Model      string
	Outcomes   []Outcome
	Duplicates int           // answers for another request than the one sent (ids that do not match)
	Elapsed    time.Duration // first send to last answer
	MaxLag     time.Duration // the latest a request left after its scheduled time
	Before     MetricsSnapshot
	After      MetricsSnapshot
	Plan       *plan.Plan // the plan the gateway served (from /inferplan/plan)
	// a cluster replay's: the services, and the gateway's per-worker counters before and after
	Services                    []string
	WorkersBefore, WorkersAfter WorkerSnapshot
	items                       []item // what was sent, in outcome order
}

// Replay sends every request of tr at its (sped-up) trace time, each with a distinct id and as many token ids
// as its size, without waiting for earlier answers (open loop), and records what came back.
func Replay(ctx context.Context, tr *trace.Trace, opt Options) (*Run, error) {
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
	get := func(path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		if opt.Token != "" {
			req.Header.Set("Authorization", "Bearer "+opt.Token)
		}
		resp, err := opt.Client.Do(req)
		if err != nil {
			return fmt.Errorf("gateway %s: %w", base, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("GET %s%s: %s: %s", base, path, resp.Status, strings.TrimSpace(string(body)))
		}
		if s, ok := v.(*MetricsSnapshot); ok {
			snap, err := ParseMetrics(resp.Body)
			*s = snap
			return err
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	run := &Run{Model: opt.Model, Outcomes: make([]Outcome, len(tr.Requests))}
	var meta struct {
		Models []string `json:"models"`
	}
	if err := get("/v2", &meta); err != nil {
		return nil, err
	}
	if run.Model == "" {
		if len(meta.Models) != 1 {
			return nil, fmt.Errorf("the gateway serves %d models; name one with --model", len(meta.Models))
		}
		run.Model = meta.Models[0]
	}
	var p plan.Plan
	if err := get("/inferplan/plan", &p); err != nil {
		return nil, fmt.Errorf("reading the served plan: %w", err)
	}
	run.Plan = &p
	if err := get("/metrics", &run.Before); err != nil {
		return nil, err
	}

	items := make([]item, len(tr.Requests))
	for i, r := range tr.Requests {
		items[i] = item{at: r.At, size: r.Size}
	}
	if err := sendAll(ctx, items, []string{base + "/v2/models/" + run.Model + "/infer"}, opt, run); err != nil {
		return nil, err
	}
	if err := get("/metrics", &run.After); err != nil {
		return nil, err
	}
	return run, nil
}

// defaultClient keeps a connection per request in flight: an open-loop replay has thousands at once.
func defaultClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: nil, DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: 90 * time.Second,
	}}
}

// item is one request to send: its trace time, its size, its service (index into the infer URLs).
type item struct {
	at   int64
	size float64
	svc  int
}

// sendAll sends every item at its (sped-up) time from the first, open loop, to its service's infer URL, and
// records each outcome in run.Outcomes (in item order).
func sendAll(ctx context.Context, items []item, infer []string, opt Options, run *Run) error {
	var (
		wg         sync.WaitGroup
		answered   atomic.Int64
		duplicates atomic.Int64
		lastAnswer atomic.Int64 // ns since start
	)
	start := time.Now()
	stopProgress, progressDone := make(chan struct{}), make(chan struct{})
	// stop ends the progress reports before Replay returns, so the caller's callback is never called after
	stop := func() {
		close(stopProgress)
		<-progressDone
	}
	var first int64
	if len(items) > 0 {
		first = items[0].at
	}
	if opt.Progress == nil {
		close(progressDone)
	} else {
		go func() {
			defer close(progressDone)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-tick.C:
				}
				d := time.Since(start)
				sent, _ := slices.BinarySearchFunc(items, d, func(r item, d time.Duration) int {
					return cmp.Compare(scaled(r.at-first, opt.Speedup), d)
				})
				opt.Progress(sent, int(answered.Load()), len(items))
			}
		}()
	}
	for i, r := range items {
		due := scaled(r.at-first, opt.Speedup)
		if wait := due - time.Since(start); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				wg.Wait()
				stop()
				return ctx.Err()
			}
		}
		sent := time.Since(start)
		run.MaxLag = max(run.MaxLag, sent-due)
		body := RequestBody(i, r.size, opt.Seed)
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := send(ctx, opt, infer[r.svc], i, body, &duplicates)
			o.SentAt, o.Service = sent, r.svc
			run.Outcomes[i] = o
			answered.Add(1)
			at := int64(time.Since(start))
			for {
				cur := lastAnswer.Load()
				if at <= cur || lastAnswer.CompareAndSwap(cur, at) {
					break
				}
			}
		}()
	}
	wg.Wait()
	stop()
	run.Elapsed = time.Duration(lastAnswer.Load())
	run.Duplicates = int(duplicates.Load())
	return nil
}

func scaled(us int64, speedup float64) time.Duration {
	return time.Duration(math.Round(float64(us) * 1000 / speedup))
}

// RequestBody is request i's v2 body: id "r<i>" and round(size) token ids (at least one), drawn from the seed.
func RequestBody(i int, size float64, seed uint64) []byte {
	n := max(int(math.Round(size)), 1)
	var b bytes.Buffer
	b.Grow(64 + 6*n)
	fmt.Fprintf(&b, `{"id":"r%d","inputs":[{"name":"input_ids","datatype":"INT64","shape":[1,%d],"data":[`, i, n)
	x := seed + uint64(i+1)*0x9e3779b97f4a7c15 // never 0, so the xorshift moves
	for p := range n {
		if p > 0 {
			b.WriteByte(',')
		}
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		b.WriteString(strconv.FormatUint(1+(x*0x2545f4914f6cdd1d)>>40%30000, 10))
	}
	b.WriteString("]}]}")
	return b.Bytes()
}

func send(ctx context.Context, opt Options, url string, i int, body []byte, duplicates *atomic.Int64) Outcome {
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Outcome{Lost: true, Err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	if opt.Token != "" {
		req.Header.Set("Authorization", "Bearer "+opt.Token)
	}
	t0 := time.Now()
	resp, err := opt.Client.Do(req)
	if err != nil {
		return Outcome{Lost: true, Err: err.Error()}
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	lat := float64(time.Since(t0).Microseconds()) / 1000
	if err != nil {
		return Outcome{Lost: true, Err: "reading the answer: " + err.Error()}
	}
	o := Outcome{LatencyMs: lat, Code: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		o.Err = e.Error
		return o
	}
	var out struct {
		ID         string `json:"id"`
		Parameters struct {
			Buffer    int    `json:"inferplan_buffer"`
			Worker    string `json:"inferplan_worker"`
			Spilled   bool   `json:"inferplan_spilled"`
			BatchSize int    `json:"inferplan_batch_size"`
			ArrivalUs int64  `json:"inferplan_arrival_unix_us"`
		} `json:"parameters"`
		Outputs []json.RawMessage `json:"outputs"`
	}
	if err := json.Unmarshal(data, &out); err != nil || len(out.Outputs) == 0 {
		o.Code, o.Err = -1, "the answer is not a v2 response"
		return o
	}
	if out.ID != "r"+strconv.Itoa(i) {
		duplicates.Add(1)
		o.Code, o.Err = -1, fmt.Sprintf("answered with id %q", out.ID)
		return o
	}
	o.Buffer, o.BatchSize, o.ArrivalUs = out.Parameters.Buffer, out.Parameters.BatchSize, out.Parameters.ArrivalUs
	o.Worker, o.Spilled = out.Parameters.Worker, out.Parameters.Spilled
	return o
}

// ErrNoRequests means a replay was given an empty trace.
var ErrNoRequests = errors.New("the trace has no requests in the chosen window")
