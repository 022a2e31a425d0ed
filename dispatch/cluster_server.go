package dispatch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/inferplan/inferplan/admission"
	"github.com/inferplan/inferplan/internal/httpx"
)

// ClusterServer serves the Open Inference Protocol v2 in front of a cluster gateway: every service of the plan
// is a model (/v2/models/SERVICE/infer). Admission runs before routing: a request over its service's concurrency
// cap or its tenant's rate gets 429 with Retry-After.
type ClusterServer struct {
	c   *ClusterGateway
	opt ServerOptions
	mux *http.ServeMux
}

// NewClusterServer builds the handler; opt.ModelName is unused (the services are the models).
func NewClusterServer(c *ClusterGateway, opt ServerOptions) *ClusterServer {
	opt.defaults()
	s := &ClusterServer{c: c, opt: opt, mux: http.NewServeMux()}
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return httpx.Bearer(opt.AuthToken, inferRefused(c.Metrics().svcRequests), h)
	}
	s.mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	s.mux.HandleFunc("GET /v2/health/ready", s.ready)
	s.mux.HandleFunc("GET /v2", auth(s.serverMeta))
	s.mux.HandleFunc("GET /v2/models/{name}", auth(s.modelMeta))
	s.mux.HandleFunc("GET /v2/models/{name}/ready", auth(s.modelReady))
	s.mux.HandleFunc("POST /v2/models/{name}/infer", auth(s.infer))
	s.mux.HandleFunc("GET /inferplan/plan", auth(s.activePlan))
	s.mux.Handle("GET /metrics", auth(promhttp.HandlerFor(c.Metrics().Registry, promhttp.HandlerOpts{}).ServeHTTP))
	return s
}

// ServeHTTP implements http.Handler.
func (s *ClusterServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *ClusterServer) ready(w http.ResponseWriter, _ *http.Request) { answerReady(w, s.c.Draining()) }

func (s *ClusterServer) serverMeta(w http.ResponseWriter, _ *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"name": "inferplan", "version": s.opt.Version, "extensions": []string{},
		"models": s.c.Services()})
}

// service is the request's service, or false after answering 404.
func (s *ClusterServer) service(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if _, ok := s.c.services[name]; !ok {
		httpx.WriteError(w, http.StatusNotFound, fmt.Sprintf("no model %q here (this gateway serves the plan's services: %v)", name, s.c.Services()))
		return "", false
	}
	return name, true
}

func (s *ClusterServer) modelMeta(w http.ResponseWriter, r *http.Request) {
	name, ok := s.service(w, r)
	if !ok {
		return
	}
	var workers []string
	for _, wk := range s.c.fleet.Workers {
		if s.c.fleet.Services[wk.Service].Name == name && s.c.workers[wk.Index] != nil {
			workers = append(workers, wk.ID)
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"name": name, "versions": []string{"1"}, "platform": "inferplan",
		"inputs":     []map[string]any{{"name": "input_ids", "datatype": "INT64", "shape": []int{1, -1}}},
		"outputs":    []map[string]any{{"name": "output", "datatype": "FP32", "shape": []int{1, -1}}},
		"parameters": map[string]any{"workers": workers, "spills": s.c.services[name].spill != nil, "max_input": s.opt.MaxInput},
	})
}

func (s *ClusterServer) modelReady(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.service(w, r); ok {
		s.ready(w, r)
	}
}

func (s *ClusterServer) activePlan(w http.ResponseWriter, _ *http.Request) { answerPlan(w, s.c.Plan()) }

func (s *ClusterServer) infer(w http.ResponseWriter, r *http.Request) {
	m := s.c.Metrics()
	name, ok := s.service(w, r)
	if !ok {
		m.svcRequests.WithLabelValues("", strconv.Itoa(http.StatusNotFound)).Inc()
		return
	}
	answer := func(code int) { m.svcRequests.WithLabelValues(name, strconv.Itoa(code)).Inc() }
	r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxBodyByte)
	opt := s.opt
	opt.Priority = s.c.Admission().Priority(name)
	req, ids, pr, code, err := parseInfer(r, opt)
	if err != nil {
		answer(code)
		httpx.WriteError(w, code, err.Error())
		return
	}
	adm := s.c.Admission()
	release, err := adm.Admit(name, r.Header.Get(adm.TenantHeader()))
	if err != nil {
		var ref *admission.Refusal
		if errors.As(err, &ref) {
			m.admission.WithLabelValues(name, string(ref.Reason)).Inc()
			w.Header().Set("Retry-After", strconv.Itoa(int(max(math.Ceil(ref.RetryAfter.Seconds()), 1))))
		}
		answer(http.StatusTooManyRequests)
		httpx.WriteError(w, http.StatusTooManyRequests, err.Error())
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.Timeout)
	defer cancel()
	res := s.c.Submit(ctx, name, ids, pr)
	// a full worker queue drains at the worker's pace; a second is the protocol's smallest Retry-After
	code = statusOf(w, res.Err, 1)
	answer(code)
	if code != http.StatusOK {
		httpx.WriteError(w, code, res.Err.Error())
		return
	}
	params := ResponseParameters{Buffer: res.Buffer + 1, BatchSize: res.BatchSize, WaitMs: float64(res.Wait.Microseconds()) / 1000,
		ServiceMs: float64(res.Service.Microseconds()) / 1000, ArrivalUs: res.Arrival.UnixMicro(), Spilled: res.Spilled}
	if res.Spilled {
		params.Worker = "lambda:" + name + ":" + strconv.Itoa(res.Buffer+1)
	} else {
		params.Worker = s.c.WorkerLabel(res.Buffer)
	}
	httpx.WriteJSON(w, http.StatusOK, InferResponse{ID: req.ID, ModelName: name, ModelVersion: "1",
		Outputs:    []InferOutput{{Name: "output", Shape: []int{1, len(res.Output)}, Datatype: "FP32", Data: res.Output}},
		Parameters: params})
}
