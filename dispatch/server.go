package dispatch

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
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/inferplan/inferplan/internal/httpx"
	"github.com/inferplan/inferplan/planner/plan"
)

// ServerOptions configure the HTTP front of the gateway.
type ServerOptions struct {
	ModelName   string        // the name in /v2/models/{name}
	AuthToken   string        // bearer token required on infer, metadata and metrics ("" = none)
	MaxBodyByte int64         // largest request body (default 1 MiB)
	MaxInput    int           // longest input accepted (default 512 tokens)
	Timeout     time.Duration // longest a request may take, queueing included (default 5 min)
	Priority    Priority      // the model's priority when a request names none
	Version     string
	Logger      *slog.Logger
}

// Server serves the Open Inference Protocol v2 in front of a gateway.
type Server struct {
	g   *Gateway
	opt ServerOptions
	mux *http.ServeMux
}

// NewServer builds the handler.
func NewServer(g *Gateway, opt ServerOptions) *Server {
	opt.defaults()
	s := &Server{g: g, opt: opt, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	s.mux.HandleFunc("GET /v2/health/ready", s.ready)
	s.mux.HandleFunc("GET /v2", s.auth(s.serverMeta))
	s.mux.HandleFunc("GET /v2/models/{name}", s.auth(s.modelMeta))
	s.mux.HandleFunc("GET /v2/models/{name}/ready", s.auth(s.modelReady))
	s.mux.HandleFunc("POST /v2/models/{name}/infer", s.auth(s.infer))
	s.mux.HandleFunc("GET /inferplan/plan", s.auth(s.activePlan))
	s.mux.Handle("GET /metrics", s.auth(promhttp.HandlerFor(g.opt.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP))
	return s
}

func (opt *ServerOptions) defaults() {
	if opt.MaxBodyByte <= 0 {
		opt.MaxBodyByte = 1 << 20
	}
	if opt.MaxInput <= 0 {
		opt.MaxInput = 512
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Minute
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// IsLoopback reports whether a listen address binds only to the loopback interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return httpx.Bearer(s.opt.AuthToken, inferRefused(s.g.opt.Metrics.requests), h)
}

// inferRefused counts an inference request turned away for its token (code 401, no buffer or service).
func inferRefused(requests *prometheus.CounterVec) func(*http.Request) {
	return func(r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/infer") {
			requests.WithLabelValues("", strconv.Itoa(http.StatusUnauthorized)).Inc()
		}
	}
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) { answerReady(w, s.g.Draining()) }

func (s *Server) serverMeta(w http.ResponseWriter, _ *http.Request) {
	// models is ours, beside the protocol's fields: what `inferplan replay` sends to
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"name": "inferplan", "version": s.opt.Version, "extensions": []string{},
		"models": []string{s.opt.ModelName}})
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) bool {
	if name := r.PathValue("name"); name != s.opt.ModelName {
		httpx.WriteError(w, http.StatusNotFound, fmt.Sprintf("no model %q here (this gateway serves %q)", name, s.opt.ModelName))
		return false
	}
	return true
}

func (s *Server) modelMeta(w http.ResponseWriter, r *http.Request) {
	if !s.model(w, r) {
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"name": s.opt.ModelName, "versions": []string{"1"}, "platform": "inferplan",
		"inputs":  []map[string]any{{"name": "input_ids", "datatype": "INT64", "shape": []int{1, -1}}},
		"outputs": []map[string]any{{"name": "output", "datatype": "FP32", "shape": []int{1, -1}}},
		"parameters": map[string]any{"backend": s.g.backend.Describe(), "buffers": len(s.g.Plan().Lambda.Buffers),
			"max_input": s.opt.MaxInput},
	})
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) {
	if s.model(w, r) {
		s.ready(w, r)
	}
}

func (s *Server) activePlan(w http.ResponseWriter, _ *http.Request) { answerPlan(w, s.g.Plan()) }

// answerReady is readiness: 200, or 503 once a shutdown has started.
func answerReady(w http.ResponseWriter, draining bool) {
	if draining {
		httpx.WriteError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// answerPlan answers the plan being served, as its file.
func answerPlan(w http.ResponseWriter, p *plan.Plan) {
	data, err := p.Marshal()
	if err != nil {
		httpx.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// InferRequest is the v2 request the gateway takes: one input of token ids, shape [1, n] or [n].
type InferRequest struct {
	ID         string            `json:"id,omitempty"`
	Parameters map[string]any    `json:"parameters,omitempty"`
	Inputs     []InferInput      `json:"inputs"`
	Outputs    []json.RawMessage `json:"outputs,omitempty"`
}

// InferInput is one input tensor.
type InferInput struct {
	Name       string         `json:"name"`
	Shape      []int64        `json:"shape"`
	Datatype   string         `json:"datatype"`
	Data       Numbers        `json:"data"` // checked to be whole
	Parameters map[string]any `json:"parameters,omitempty"`
}

// Numbers is a flat JSON array of numbers. It decodes itself because encoding/json's reflection, per element,
// was a tenth of the gateway's CPU time at 5,000 requests/s.
type Numbers []float64

// UnmarshalJSON reads [n, n, …]. encoding/json has checked that data is valid JSON before calling it, so every
// token that is not a bracket, comma or space is a JSON literal, and strconv reads JSON numbers exactly.
func (n *Numbers) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		*n = nil
		return nil
	}
	if len(data) < 2 || data[0] != '[' || data[len(data)-1] != ']' {
		return errors.New("data: want a flat array of numbers")
	}
	out := (*n)[:0]
	rest := data[1 : len(data)-1]
	for len(bytes.TrimSpace(rest)) > 0 {
		tok := rest
		if i := bytes.IndexByte(rest, ','); i >= 0 {
			tok, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) == 0 || (tok[0] != '-' && (tok[0] < '0' || tok[0] > '9')) {
			return fmt.Errorf("data, value %d: %.20s is not a number (want a flat array of numbers)", len(out), tok)
		}
		v, err := strconv.ParseFloat(string(tok), 64)
		if err != nil {
			return fmt.Errorf("data, value %d: %.20s: %w", len(out), tok, err)
		}
		out = append(out, v)
	}
	*n = out
	return nil
}

// InferResponse is the v2 response.
type InferResponse struct {
	ID           string             `json:"id,omitempty"`
	ModelName    string             `json:"model_name"`
	ModelVersion string             `json:"model_version"`
	Outputs      []InferOutput      `json:"outputs"`
	Parameters   ResponseParameters `json:"parameters"`
}

// ResponseParameters tell a caller how its request was batched.
type ResponseParameters struct {
	Buffer int `json:"inferplan_buffer"` // 1-based: a Lambda plan's buffer; a cluster plan's worker in fleet order
	// Worker is the cluster worker that ran the request (its id in the plan's fleet), or lambda:SERVICE:N for a
	// request the spill rule sent to Lambda's buffer N.
	Worker    string  `json:"inferplan_worker,omitempty"`
	Spilled   bool    `json:"inferplan_spilled,omitempty"`
	BatchSize int     `json:"inferplan_batch_size"`
	WaitMs    float64 `json:"inferplan_wait_ms"`    // arrival to dispatch
	ServiceMs float64 `json:"inferplan_service_ms"` // the batch at the backend
	// ArrivalUs is when the gateway admitted the request (Unix microseconds): with it a client can replay the
	// arrivals exactly as the gateway saw them.
	ArrivalUs int64 `json:"inferplan_arrival_unix_us"`
}

// InferOutput is one output tensor.
type InferOutput struct {
	Name     string    `json:"name"`
	Shape    []int     `json:"shape"`
	Datatype string    `json:"datatype"`
	Data     []float32 `json:"data"`
}

// bodyPool holds request-body buffers: the decoded request copies what it keeps, so a buffer is free again when
// parseInfer returns, and reusing it spares the garbage collector most of a request's allocation.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// parseInfer validates a request strictly and returns its token ids and priority.
func (s *Server) parseInfer(r *http.Request) (*InferRequest, []int64, Priority, int, error) {
	return parseInfer(r, s.opt)
}

// parseInfer validates a request strictly against opt's limits and returns its token ids and priority (opt's
// when it names none), or the HTTP status and error to answer with.
func parseInfer(r *http.Request, opt ServerOptions) (*InferRequest, []int64, Priority, int, error) {
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 { // a rare huge body is not kept alive
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, opt.MaxBodyByte)) + 1)
	}
	_, err := buf.ReadFrom(r.Body)
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, 0, http.StatusRequestEntityTooLarge, fmt.Errorf("request body above %d bytes", opt.MaxBodyByte)
		}
		return nil, nil, 0, http.StatusBadRequest, fmt.Errorf("reading the request: %v", err)
	}
	var req InferRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, nil, 0, http.StatusBadRequest, fmt.Errorf("not a v2 inference request: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, 0, http.StatusBadRequest, errors.New("trailing data after the request")
	}
	if len(req.Inputs) != 1 {
		return nil, nil, 0, http.StatusBadRequest, fmt.Errorf("want exactly one input (the token ids), got %d", len(req.Inputs))
	}
	in := req.Inputs[0]
	if in.Datatype != "INT64" && in.Datatype != "INT32" {
		return nil, nil, 0, http.StatusBadRequest, fmt.Errorf("input %q: datatype %q, want INT64 or INT32", in.Name, in.Datatype)
	}
	n := int64(len(in.Data))
	switch {
	case len(in.Shape) == 1 && in.Shape[0] == n, len(in.Shape) == 2 && in.Shape[0] == 1 && in.Shape[1] == n:
	default:
		return nil, nil, 0, http.StatusBadRequest, fmt.Errorf("input %q: shape %v does not match its %d values (want [1, n] or [n]: one request at a time)", in.Name, in.Shape, n)
	}
	if n == 0 {
		return nil, nil, 0, http.StatusBadRequest, fmt.Errorf("input %q is empty", in.Name)
	}
	if n > int64(opt.MaxInput) {
		return nil, nil, 0, http.StatusRequestEntityTooLarge, fmt.Errorf("input %q has %d tokens, above the limit of %d", in.Name, n, opt.MaxInput)
	}
	ids := make([]int64, n)
	for i, v := range in.Data {
		if v != math.Trunc(v) || v < 0 || v > math.MaxInt32 {
			return nil, nil, 0, http.StatusBadRequest, fmt.Errorf("input %q, value %d: %v is not a token id (a whole number ≥ 0)", in.Name, i, v)
		}
		ids[i] = int64(v)
	}
	pr := opt.Priority
	if v, ok := req.Parameters["priority"]; ok {
		str, isStr := v.(string)
		p, err := ParsePriority(str)
		if !isStr {
			err = fmt.Errorf("parameter priority: %v is not a string (want low, normal or high)", v)
		}
		if err != nil {
			return nil, nil, 0, http.StatusBadRequest, err
		}
		pr = p
	}
	return &req, ids, pr, 0, nil
}

func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	if !s.model(w, r) {
		s.g.opt.Metrics.requests.WithLabelValues("", strconv.Itoa(http.StatusNotFound)).Inc()
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxBodyByte)
	req, ids, pr, code, err := s.parseInfer(r)
	m := s.g.opt.Metrics
	if err != nil {
		m.requests.WithLabelValues("", strconv.Itoa(code)).Inc()
		httpx.WriteError(w, code, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.Timeout)
	defer cancel()
	res := s.g.Submit(ctx, ids, pr)
	label := strconv.Itoa(res.Buffer + 1)
	// a batch of a full buffer leaves within its timeout: about when there is room again
	retry := 1.0
	if bufs := s.g.Plan().Lambda.Buffers; res.Buffer < len(bufs) {
		retry = max(math.Ceil(bufs[res.Buffer].TimeoutMs/1000), 1)
	}
	code = statusOf(w, res.Err, retry)
	m.requests.WithLabelValues(label, strconv.Itoa(code)).Inc()
	if code != http.StatusOK {
		httpx.WriteError(w, code, res.Err.Error())
		return
	}
	httpx.WriteJSON(w, http.StatusOK, InferResponse{ID: req.ID, ModelName: s.opt.ModelName, ModelVersion: "1",
		Outputs: []InferOutput{{Name: "output", Shape: []int{1, len(res.Output)}, Datatype: "FP32", Data: res.Output}},
		Parameters: ResponseParameters{Buffer: res.Buffer + 1, BatchSize: res.BatchSize,
			WaitMs: float64(res.Wait.Microseconds()) / 1000, ServiceMs: float64(res.Service.Microseconds()) / 1000,
			ArrivalUs: res.Arrival.UnixMicro()}})
}

// statusOf is the HTTP status of a submitted request's outcome, with Retry-After set on w where a retry may
// succeed (queueFullS seconds for a full queue).
func statusOf(w http.ResponseWriter, err error, queueFullS float64) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrQueueFull):
		w.Header().Set("Retry-After", strconv.Itoa(int(queueFullS)))
		return http.StatusTooManyRequests
	case errors.Is(err, ErrDraining):
		w.Header().Set("Retry-After", "1")
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return 499 // the client went away
	}
	return http.StatusBadGateway
}

// GCHeadroom is the heap growth 'inferplan serve' lets the garbage collector allow between collections.
const GCHeadroom = 64 << 20

// ServeGCPercent is the garbage collector's target (GOGC) for a gateway whose live heap is live bytes: $GOGC when
// set, else the percentage that lets the heap grow by GCHeadroom before a collection, between 100 and 2,000. A
// gateway in front of a remote backend keeps a few MB live, so the default 100 would collect every few thousand
// requests and every cycle shows in the latency tail; with the built-in model's weights live, it stays near 100.
func ServeGCPercent(live uint64) int {
	if v, ok := os.LookupEnv("GOGC"); ok {
		if v == "off" {
			return -1
		}
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	if live == 0 {
		return 2000
	}
	return int(min(max(100*GCHeadroom/live, 100), 2000))
}

// LiveHeap collects garbage and returns the bytes still in use: what ServeGCPercent wants, once the backend is up.
func LiveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
