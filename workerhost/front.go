package workerhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/internal/httpx"
)

// A worker's states. Only a ready worker takes batches; a dead one (its harness exited) answers 502.
const (
	stateStarting = iota
	stateReady
	stateDraining
	stateDead
)

// front is one worker's Open Inference Protocol v2 server: it takes the batches the gateway sends (input_ids and
// attention_mask, INT64 [n, pad]: what dispatch.Upstream sends), queues them, runs them one at a time on the
// worker's runner, and answers each with its n output rows.
type front struct {
	w        *Worker
	names    []string // model names it answers to: the service, and the plan's model for it
	token    string
	maxBody  int64
	log      *slog.Logger
	version  string
	jobs     chan *job // batches waiting for the worker; its capacity is the queue's bound
	quit     chan struct{}
	loopDone chan struct{}
	srv      *http.Server
	ln       net.Listener
	url      string

	mu      sync.Mutex
	state   int
	deadErr error
	run     runner // set once started
	width   int    // output values per row, learnt from the warm-up batch

	batches, requests atomic.Int64
}

type job struct {
	ids     [][]int64
	pad     int
	arrived time.Time
	done    chan jobResult
}

type jobResult struct {
	out       [][]float32
	serviceMs float64
	queueMs   float64
	code      int
	err       error
}

var errStopped = errors.New("the worker stopped before running this batch")

func newFront(w *Worker, ln net.Listener, url string, cfg *Config) *front {
	f := &front{w: w, names: []string{w.ServiceName}, token: cfg.AuthToken, maxBody: cfg.MaxBody,
		log: cfg.Logger.With("worker", w.ID), version: cfg.Version, ln: ln, url: url,
		jobs: make(chan *job, cfg.MaxQueue), quit: make(chan struct{}), loopDone: make(chan struct{})}
	if w.Model != "" && w.Model != w.ServiceName {
		f.names = append(f.names, w.Model)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", f.live)
	mux.HandleFunc("GET /v2/health/ready", f.ready)
	mux.HandleFunc("GET /v2", f.auth(f.serverMeta))
	mux.HandleFunc("GET /v2/models/{name}", f.auth(f.modelMeta))
	mux.HandleFunc("GET /v2/models/{name}/ready", f.auth(f.modelReady))
	mux.HandleFunc("POST /v2/models/{name}/infer", f.auth(f.infer))
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(f.log.Handler(), slog.LevelWarn)}
	return f
}

// serve starts the HTTP server (answering 503 until the runner is ready) and the batch loop.
func (f *front) serve() {
	go func() {
		if err := f.srv.Serve(f.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.log.Error("HTTP server stopped", "err", err)
		}
	}()
	go f.loop()
}

// start makes the worker ready with its runner, whose output width a warm-up batch found.
func (f *front) start(r runner, width int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.run, f.width, f.state = r, width, stateReady
}

func (f *front) status() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state, f.deadErr
}

// die marks the worker dead (its harness exited or fell out of step): it answers 502 from now on. It reports
// whether the worker was alive until now.
func (f *front) die(err error) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == stateDead {
		return false
	}
	f.state, f.deadErr = stateDead, err
	return true
}

// loop runs the queued batches one at a time until quit; then it answers what is still queued.
func (f *front) loop() {
	defer close(f.loopDone)
	for {
		select {
		case j := <-f.jobs:
			j.done <- f.do(j)
		case <-f.quit:
			for {
				select {
				case j := <-f.jobs:
					j.done <- jobResult{code: http.StatusServiceUnavailable, err: errStopped}
				default:
					return
				}
			}
		}
	}
}

func (f *front) do(j *job) jobResult {
	queued := float64(time.Since(j.arrived).Microseconds()) / 1000
	state, dead := f.status()
	if state == stateDead {
		return jobResult{code: http.StatusBadGateway, err: dead, queueMs: queued}
	}
	f.mu.Lock()
	r := f.run
	f.mu.Unlock()
	out, ms, err := r.infer(j.ids, j.pad)
	if err != nil {
		if broken := r.broken(); broken != nil {
			if f.die(broken) {
				f.log.Error("worker lost its harness: its server answers 502 to batches and 503 to health checks; workers does not restart it", "err", broken)
			}
			go func() { _ = r.close() }() // a harness out of step is stopped; one that exited is reaped
			return jobResult{code: http.StatusBadGateway, err: broken, queueMs: queued}
		}
		return jobResult{code: http.StatusInternalServerError, err: err, queueMs: queued}
	}
	f.batches.Add(1)
	f.requests.Add(int64(len(j.ids)))
	return jobResult{out: out, serviceMs: ms, queueMs: queued}
}

func (f *front) auth(h http.HandlerFunc) http.HandlerFunc { return httpx.Bearer(f.token, nil, h) }

// live answers 200 while the worker can run batches or is getting there; 503 once its harness is gone (a
// liveness probe then restarts the host's workers).
func (f *front) live(w http.ResponseWriter, _ *http.Request) {
	if state, err := f.status(); state == stateDead {
		httpx.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}

// ready answers 200 only while the worker takes batches.
func (f *front) ready(w http.ResponseWriter, _ *http.Request) {
	switch state, err := f.status(); state {
	case stateReady:
		w.WriteHeader(http.StatusOK)
	case stateStarting:
		httpx.WriteError(w, http.StatusServiceUnavailable, "starting")
	case stateDraining:
		httpx.WriteError(w, http.StatusServiceUnavailable, "shutting down")
	default:
		httpx.WriteError(w, http.StatusServiceUnavailable, err.Error())
	}
}

func (f *front) serverMeta(w http.ResponseWriter, _ *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"name": "inferplan-worker", "version": f.version, "extensions": []string{},
		"models": []string{f.w.ServiceName}})
}

func (f *front) model(w http.ResponseWriter, r *http.Request) bool {
	name := r.PathValue("name")
	for _, n := range f.names {
		if name == n {
			return true
		}
	}
	httpx.WriteError(w, http.StatusNotFound, fmt.Sprintf("no model %q here (worker %s serves %q)", name, f.w.ID, f.w.ServiceName))
	return false
}

func (f *front) modelMeta(w http.ResponseWriter, r *http.Request) {
	if !f.model(w, r) {
		return
	}
	f.mu.Lock()
	width, backend, maxIn := f.width, "starting", 0
	if f.run != nil {
		backend, maxIn = f.run.describe(), f.run.maxInput()
	}
	f.mu.Unlock()
	if width == 0 {
		width = -1
	}
	params := map[string]any{"worker": f.w.ID, "service": f.w.ServiceName, "model": f.w.Model, "backend": backend,
		"batch_size": f.w.BatchSize, "timeout_ms": f.w.TimeoutMs, "min_size": f.w.MinSize, "max_size": f.w.MaxSize,
		"queue": cap(f.jobs)}
	if maxIn > 0 {
		params["max_input"] = maxIn
	}
	if f.w.GPU >= 0 {
		params["gpu"], params["sharing"] = f.w.GPU, f.w.Sharing
		params["on_cpu"] = f.w.OnCPU
		if f.w.MPSPct > 0 {
			params["mps_active_thread_pct"] = f.w.MPSPct
		}
		if f.w.MIGDevice != "" {
			params["mig_device"] = f.w.MIGDevice
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"name": f.w.ServiceName, "versions": []string{"1"}, "platform": "inferplan-worker",
		"inputs": []map[string]any{
			{"name": "input_ids", "datatype": "INT64", "shape": []int{-1, -1}},
			{"name": "attention_mask", "datatype": "INT64", "shape": []int{-1, -1}, "optional": true},
		},
		"outputs":    []map[string]any{{"name": "output", "datatype": "FP32", "shape": []int{-1, width}}},
		"parameters": params,
	})
}

func (f *front) modelReady(w http.ResponseWriter, r *http.Request) {
	if f.model(w, r) {
		f.ready(w, r)
	}
}

// InferParameters tell the gateway how its batch went at the worker.
type InferParameters struct {
	Worker    string  `json:"inferplan_worker"`
	QueueMs   float64 `json:"inferplan_queue_ms"`   // waiting for the worker's earlier batches
	ServiceMs float64 `json:"inferplan_service_ms"` // the batch itself (the harness's own timing when it has one)
}

// inferResponse is the v2 answer: one output, FP32 [n, width], a row per input row.
type inferResponse struct {
	ID           string                 `json:"id,omitempty"`
	ModelName    string                 `json:"model_name"`
	ModelVersion string                 `json:"model_version"`
	Outputs      []dispatch.InferOutput `json:"outputs"`
	Parameters   InferParameters        `json:"parameters"`
}

func (f *front) infer(w http.ResponseWriter, r *http.Request) {
	if !f.model(w, r) {
		return
	}
	switch state, err := f.status(); state {
	case stateStarting:
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("worker %s is starting", f.w.ID))
		return
	case stateDraining:
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("worker %s is shutting down", f.w.ID))
		return
	case stateDead:
		httpx.WriteError(w, http.StatusBadGateway, fmt.Sprintf("worker %s: %v", f.w.ID, err))
		return
	}
	f.mu.Lock()
	maxIn := f.run.maxInput()
	f.mu.Unlock()
	r.Body = http.MaxBytesReader(w, r.Body, f.maxBody)
	id, ids, pad, code, err := parseBatch(r.Body, maxIn)
	if err != nil {
		httpx.WriteError(w, code, err.Error())
		return
	}
	j := &job{ids: ids, pad: pad, arrived: time.Now(), done: make(chan jobResult, 1)}
	select {
	case f.jobs <- j:
	default:
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("worker %s is busy: %d batches already wait for it", f.w.ID, cap(f.jobs)))
		return
	}
	var res jobResult
	select {
	case res = <-j.done:
	case <-r.Context().Done(): // the caller went away; the batch still runs, and its answer is dropped
		return
	}
	if res.err != nil {
		httpx.WriteError(w, res.code, fmt.Sprintf("worker %s: %v", f.w.ID, res.err))
		return
	}
	n, width := len(res.out), len(res.out[0])
	data := make([]float32, 0, n*width)
	for _, row := range res.out {
		data = append(data, row...)
	}
	for _, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			httpx.WriteError(w, http.StatusInternalServerError, fmt.Sprintf("worker %s: the model answered %v, which JSON cannot carry", f.w.ID, v))
			return
		}
	}
	httpx.WriteJSON(w, http.StatusOK, inferResponse{ID: id, ModelName: f.w.ServiceName, ModelVersion: "1",
		Outputs:    []dispatch.InferOutput{{Name: "output", Shape: []int{n, width}, Datatype: "FP32", Data: data}},
		Parameters: InferParameters{Worker: f.w.ID, QueueMs: res.queueMs, ServiceMs: math.Round(res.serviceMs*1000) / 1000}})
}

// parseBatch reads a v2 batch: input_ids (INT64 or INT32, shape [n, pad], or [pad] for one request) and an
// optional attention_mask of the same shape whose rows are 1s then 0s (a row's real tokens, then its padding).
// Without a mask every token is real. It returns each row's real token ids and the padded length; maxInput (0:
// none) bounds pad.
func parseBatch(body io.Reader, maxInput int) (string, [][]int64, int, int, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", nil, 0, http.StatusRequestEntityTooLarge, fmt.Errorf("request body above %d bytes", mbe.Limit)
		}
		return "", nil, 0, http.StatusBadRequest, fmt.Errorf("reading the request: %v", err)
	}
	var req dispatch.InferRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return "", nil, 0, http.StatusBadRequest, fmt.Errorf("not a v2 inference request: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", nil, 0, http.StatusBadRequest, errors.New("trailing data after the request")
	}
	var ids, mask *dispatch.InferInput
	for i := range req.Inputs {
		in := &req.Inputs[i]
		switch {
		case in.Name == "input_ids" && ids == nil:
			ids = in
		case in.Name == "attention_mask" && mask == nil:
			mask = in
		default:
			return "", nil, 0, http.StatusBadRequest, fmt.Errorf("input %q: want input_ids and, optionally, attention_mask, once each", in.Name)
		}
	}
	if ids == nil {
		return "", nil, 0, http.StatusBadRequest, errors.New("no input_ids input")
	}
	n, pad, err := batchShape(ids)
	if err != nil {
		return "", nil, 0, http.StatusBadRequest, err
	}
	if maxInput > 0 && pad > maxInput {
		return "", nil, 0, http.StatusRequestEntityTooLarge, fmt.Errorf("input_ids are padded to %d tokens, above the model's %d", pad, maxInput)
	}
	lengths := make([]int, n)
	for i := range lengths {
		lengths[i] = pad
	}
	if mask != nil {
		mn, mp, err := batchShape(mask)
		if err != nil {
			return "", nil, 0, http.StatusBadRequest, err
		}
		if mn != n || mp != pad {
			return "", nil, 0, http.StatusBadRequest, fmt.Errorf("attention_mask is [%d, %d], input_ids [%d, %d]", mn, mp, n, pad)
		}
		for i := range n {
			row := mask.Data[i*pad : (i+1)*pad]
			l := 0
			for l < pad && row[l] == 1 {
				l++
			}
			for p := l; p < pad; p++ {
				if row[p] != 0 {
					return "", nil, 0, http.StatusBadRequest, fmt.Errorf("attention_mask row %d: want 1s for its tokens then 0s for the padding, found %v at %d", i, row[p], p)
				}
			}
			if l == 0 {
				return "", nil, 0, http.StatusBadRequest, fmt.Errorf("attention_mask row %d masks every token", i)
			}
			lengths[i] = l
		}
	}
	rows := make([][]int64, n)
	for i := range n {
		rows[i] = make([]int64, lengths[i])
		for p := range lengths[i] {
			v := ids.Data[i*pad+p]
			if v != math.Trunc(v) || v < 0 || v > math.MaxInt32 {
				return "", nil, 0, http.StatusBadRequest, fmt.Errorf("input_ids row %d, token %d: %v is not a token id (a whole number ≥ 0)", i, p, v)
			}
			rows[i][p] = int64(v)
		}
	}
	return req.ID, rows, pad, 0, nil
}

// batchShape checks a tensor is integers of shape [n, pad] (or [pad]: one row) holding n × pad values.
func batchShape(in *dispatch.InferInput) (int, int, error) {
	if in.Datatype != "INT64" && in.Datatype != "INT32" {
		return 0, 0, fmt.Errorf("input %q: datatype %q, want INT64 or INT32", in.Name, in.Datatype)
	}
	var n, pad int64
	switch len(in.Shape) {
	case 1:
		n, pad = 1, in.Shape[0]
	case 2:
		n, pad = in.Shape[0], in.Shape[1]
	default:
		return 0, 0, fmt.Errorf("input %q: shape %v, want [n, pad]", in.Name, in.Shape)
	}
	if n < 1 || pad < 1 || n*pad != int64(len(in.Data)) || n > math.MaxInt32 || pad > math.MaxInt32 {
		return 0, 0, fmt.Errorf("input %q: shape %v does not hold its %d values (want [n, pad], both ≥ 1)", in.Name, in.Shape, len(in.Data))
	}
	return int(n), int(pad), nil
}

// drain stops taking batches and waits (until ctx ends) for every batch already taken to be answered.
func (f *front) drain(ctx context.Context) error {
	f.mu.Lock()
	if f.state != stateDead {
		f.state = stateDraining
	}
	f.mu.Unlock()
	err := f.srv.Shutdown(ctx) // closes the listener; waits for every handler, and each for its batch
	if err != nil {
		_ = f.srv.Close()
	}
	return err
}

// stop ends the runner and the batch loop, which answers what is still queued (nothing, after a drain that
// finished). A harness in the middle of a batch finishes it, or is killed a few seconds after its stdin closes.
func (f *front) stop() error {
	close(f.quit)
	f.mu.Lock()
	r := f.run
	f.mu.Unlock()
	var err error
	if r != nil {
		err = r.close()
	}
	<-f.loopDone
	return err
}
