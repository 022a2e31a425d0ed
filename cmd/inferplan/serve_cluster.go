package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/inferplan/inferplan/admission"
	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/planner/plan"
)

// clusterServeFlags are serve's flags that only a cluster plan takes, and those it refuses.
var (
	clusterOnlyFlags = []string{"workers", "admission", "spill-lambda"}
	lambdaServeFlags = []string{"backend", "model", "upstream-model", "builtin-workers", "max-inflight"}
)

// serveCluster serves a cluster plan: a gateway in front of the plan's workers (their URLs from --workers
// mappings), with the plan's spill rules, the admission policy and per-service metrics.
func serveCluster(ctx context.Context, o *serveOptions, changed func(string) bool, p *plan.Plan, log *slog.Logger) error {
	for _, f := range lambdaServeFlags {
		if changed(f) {
			return flagErrorf("--%s is for Lambda plans; a cluster plan's workers are its backends (--workers FILE)", f)
		}
	}
	if len(o.workerFiles) == 0 {
		return flagErrorf("a cluster plan needs --workers FILE: the mapping of the plan's workers to URLs that `inferplan workers` prints (one per host)")
	}
	f, err := fleet.Expand(p)
	if err != nil {
		return err
	}
	var maps []*fleet.Mapping
	for _, path := range o.workerFiles {
		m, err := fleet.ReadMapping(path)
		if err != nil {
			return err
		}
		maps = append(maps, m)
	}
	urls, err := f.URLs(maps...)
	if err != nil {
		return &flagError{err: fmt.Errorf("--workers: %w", err)}
	}
	var ctl *admission.Controller
	if o.admissionPath != "" {
		pol, err := admission.ReadPolicy(o.admissionPath)
		if err != nil {
			return err
		}
		var names []string
		for _, s := range f.Services {
			names = append(names, s.Name)
		}
		if err := pol.CheckServices(names); err != nil {
			return &flagError{err: fmt.Errorf("--admission %s: %w", o.admissionPath, err)}
		}
		ctl = admission.New(pol, nil)
	}
	spill, prices, err := o.spillBackends(ctx, f)
	if err != nil {
		return err
	}
	if o.authToken == "" {
		o.authToken = os.Getenv("INFERPLAN_AUTH_TOKEN")
	}
	if !dispatch.IsLoopback(o.listen) && o.authToken == "" {
		return flagErrorf("--listen %s is reachable beyond this host: set --auth-token (or INFERPLAN_AUTH_TOKEN), or listen on 127.0.0.1", o.listen)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
	backends := make([]dispatch.Backend, len(f.Workers))
	for i, w := range f.Workers {
		if urls[i] == "" {
			continue
		}
		be, err := dispatch.NewUpstream(urls[i], f.Services[w.Service].Name, os.Getenv("INFERPLAN_UPSTREAM_TOKEN"), client)
		if err != nil {
			return &flagError{err: fmt.Errorf("--workers: worker %s: %w", w.ID, err)}
		}
		backends[i] = be
	}
	metrics := dispatch.NewClusterMetrics()
	g, err := dispatch.NewCluster(p, f, backends, dispatch.ClusterOptions{
		Options: dispatch.Options{MaxQueue: o.maxQueue, Attempts: o.attempts, BackendTimeout: o.backendTO, Seed: o.seed,
			Logger: log, Metrics: metrics},
		Admission: ctl, Spill: spill, SpillPricing: prices})
	if err != nil {
		return err
	}
	maxInput := o.maxInput
	if maxInput <= 0 {
		maxInput = 16384
	}
	srv := &http.Server{
		Handler: dispatch.NewClusterServer(g, dispatch.ServerOptions{AuthToken: o.authToken, MaxBodyByte: o.maxBody,
			MaxInput: maxInput, Timeout: o.requestTO, Version: versionString(), Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	live := dispatch.LiveHeap()
	debug.SetGCPercent(dispatch.ServeGCPercent(live))
	memLimit := applyMemoryLimit(o.memoryLimit, live)
	addr := ln.Addr().String()
	up := 0
	for _, u := range urls {
		if u != "" {
			up++
		}
	}
	log.Info("serving", "url", "http://"+addr, "platform", "cluster", "plan", o.planPath, "services", strings.Join(g.Services(), ","),
		"workers", up, "spill", len(spill), "admission", o.admissionPath != "", "auth", o.authToken != "",
		"memory_limit", memoryLimitText(memLimit))
	return o.serveUntilStopped(ctx, log, g, srv, ln, func() {
		log.Warn("SIGHUP: a cluster plan is not reloaded in place (its workers would change under it); restart serve with the new plan and mapping")
	})
}

// spillBackends are the Lambda backends of the services whose plan spills, from --spill-lambda SERVICE=FUNCTION,
// with the Lambda prices of each rule's architecture.
func (o *serveOptions) spillBackends(ctx context.Context, f *fleet.Fleet) (map[string]dispatch.Backend, map[string]plan.Pricing, error) {
	fns := map[string]string{}
	for _, kv := range o.spillLambda {
		svc, fn, ok := strings.Cut(kv, "=")
		if !ok || svc == "" || fn == "" {
			return nil, nil, flagErrorf("--spill-lambda %q: want SERVICE=FUNCTION", kv)
		}
		if _, dup := fns[svc]; dup {
			return nil, nil, flagErrorf("--spill-lambda: service %s named twice", svc)
		}
		fns[svc] = fn
	}
	spills := map[string]*plan.SpillRule{}
	var names []string
	for _, s := range f.Services {
		names = append(names, s.Name)
		if s.Spill != nil {
			spills[s.Name] = s.Spill
		}
	}
	for svc := range fns {
		switch {
		case !slices.Contains(names, svc):
			return nil, nil, flagErrorf("--spill-lambda: the plan has no service %q (it has %s)", svc, strings.Join(names, ", "))
		case spills[svc] == nil:
			return nil, nil, flagErrorf("--spill-lambda: the plan does not spill service %s (its spill rule is empty)", svc)
		}
	}
	if len(fns) == 0 {
		return nil, nil, nil
	}
	cfg, err := o.aws.config(ctx)
	if err != nil {
		return nil, nil, err
	}
	cat, err := catalog(o.io)
	if err != nil {
		return nil, nil, err
	}
	client := dispatch.NewLambdaClient(cfg, o.aws.endpoint)
	backends, prices := map[string]dispatch.Backend{}, map[string]plan.Pricing{}
	for svc, fn := range fns {
		lp, ok := cat.Lambda(spills[svc].Arch)
		if !ok {
			return nil, nil, fmt.Errorf("service %s spills to Lambda on %s, which the price catalog does not have", svc, spills[svc].Arch)
		}
		backends[svc] = dispatch.NewLambda(client, fn)
		prices[svc] = plan.Pricing{GBSecondUSD: lp.GBSecondUSD(), RequestUSD: lp.RequestUSD, AsOf: cat.AsOf()}
	}
	return backends, prices, nil
}

// gateway is what shutdown drains: a Lambda plan's or a cluster plan's.
type gateway interface {
	Drain()
	Close(ctx context.Context) error
	Counts() (admitted, answered int64)
}

var (
	_ gateway = (*dispatch.Gateway)(nil)
	_ gateway = (*dispatch.ClusterGateway)(nil)
)

// checkLambdaPlanFlags refuses the cluster-only flags for a Lambda plan (--workers N is the old spelling of
// --builtin-workers, read by the caller).
func checkLambdaPlanFlags(changed func(string) bool) error {
	for _, f := range clusterOnlyFlags {
		if f != "workers" && changed(f) {
			return flagErrorf("--%s is for cluster plans", f)
		}
	}
	return nil
}
