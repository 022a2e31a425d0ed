package dispatch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/inferplan/inferplan/loadgen"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/quantile"
)

// BenchmarkGatewayOverhead measures what the gateway adds to a request's latency: an open-loop client sends
// requests over loopback HTTP at a fixed rate to a server whose backend answers at once, and for each answer
// takes the client-side latency minus the batching wait and the backend's service time the gateway reports. What
// remains is HTTP, JSON, admission, routing and the hand-off between goroutines — the gateway's overhead — plus
// the loopback round trip and the client's own cost on the same two cores. The control sub-benchmark is a
// net/http handler that answers at once with no gateway: the machine's own floor for the same client.
//
// The client writes pre-built HTTP/1.1 requests on persistent connections and reads the answers with
// net/http.ReadResponse (no Transport goroutines), so that it takes as little of the machine as it can. The
// garbage collector runs as 'inferplan serve' sets it (ServeGCPercent).
//
// Reported: p50, p90 and p99 added latency in ms, and the worst lateness of the sender (when that grows, the
// machine could not keep the rate and the figures are not at that rate).
//
//	go test ./dispatch -run '^$' -bench GatewayOverhead -benchtime 20000x
func BenchmarkGatewayOverhead(b *testing.B) {
	for _, c := range []struct {
		name   string
		buffer plan.Buffer
	}{
		{"batch=1", plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024}},
		{"batch=8,timeout=2ms", plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 8, TimeoutMs: 2, MemoryMB: 1024}},
	} {
		b.Run(c.name+",rate=5000", func(b *testing.B) {
			g, err := New(testPlan(c.buffer), &Echo{}, Options{MaxQueue: 1 << 16, MaxInFlight: 1 << 12})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close(b.Context())
			defer debug.SetGCPercent(debug.SetGCPercent(ServeGCPercent(LiveHeap())))
			benchOpenLoop(b, NewServer(g, ServerOptions{ModelName: "m"}), 5000)
		})
	}
	b.Run("control=net/http,rate=5000", func(b *testing.B) {
		answer := []byte(`{"id":"r0","model_name":"m","model_version":"1","outputs":[{"name":"output","shape":[1,4],"datatype":"FP32","data":[1,16,1,16]}],` +
			`"parameters":{"inferplan_buffer":1,"inferplan_batch_size":1,"inferplan_wait_ms":0,"inferplan_service_ms":0,"inferplan_arrival_unix_us":1795436015615641}}`)
		defer debug.SetGCPercent(debug.SetGCPercent(ServeGCPercent(LiveHeap())))
		benchOpenLoop(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
		}), 5000)
	})
}

// rawConn is one persistent client connection.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func benchOpenLoop(b *testing.B, h http.Handler, rate float64) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	body := loadgen.RequestBody(0, 16, 1)
	req := fmt.Appendf(nil, "POST /v2/models/m/infer HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		addr, len(body), body)

	idle := make(chan *rawConn, 4096)
	defer func() {
		close(idle)
		for c := range idle {
			c.Close()
		}
	}()
	send := func() (float64, error) {
		var c *rawConn
		select {
		case c = <-idle:
		default:
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				return 0, err
			}
			c = &rawConn{Conn: nc, r: bufio.NewReaderSize(nc, 8192)}
		}
		t0 := time.Now()
		if _, err := c.Write(req); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(c.r, nil)
		if err != nil {
			return 0, err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		lat := time.Since(t0)
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d: %s (%v)", resp.StatusCode, data, err)
		}
		idle <- c
		var out struct{ Parameters ResponseParameters } // the outputs are skipped, not decoded
		if err := json.Unmarshal(data, &out); err != nil {
			return 0, err
		}
		return float64(lat.Microseconds())/1000 - out.Parameters.WaitMs - out.Parameters.ServiceMs, nil
	}
	// open 64 connections first so that the measured requests do not pay for TCP handshakes
	var warm sync.WaitGroup
	for range 64 {
		warm.Go(func() {
			for range 10 {
				if _, err := send(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	warm.Wait()

	added := make([]float64, b.N)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		maxLag time.Duration
	)
	interval := time.Duration(float64(time.Second) / rate)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		due := time.Duration(i) * interval
		if d := due - time.Since(start); d > 0 {
			time.Sleep(d)
		}
		maxLag = max(maxLag, time.Since(start)-due)
		wg.Go(func() {
			a, err := send()
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			added[i] = a
		})
	}
	wg.Wait()
	b.StopTimer()
	if len(errs) > 0 {
		b.Fatalf("%d of %d requests failed, first: %v", len(errs), b.N, errs[0])
	}
	slices.Sort(added)
	b.ReportMetric(quantile.NearestRank(added, 50), "p50-added-ms")
	b.ReportMetric(quantile.NearestRank(added, 90), "p90-added-ms")
	b.ReportMetric(quantile.NearestRank(added, 99), "p99-added-ms")
	b.ReportMetric(float64(maxLag.Microseconds())/1000, "max-send-lag-ms")
	b.ReportMetric(0, "ns/op") // the op is paced by the rate; its time says nothing
}

// BenchmarkInferHandler is the CPU one request costs the gateway with no network in between: the v2 handler,
// admission, a batch of one at a backend that answers at once, and the JSON answer.
func BenchmarkInferHandler(b *testing.B) {
	g, err := New(testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024}), &Echo{}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close(b.Context())
	h := NewServer(g, ServerOptions{ModelName: "m"})
	body := loadgen.RequestBody(0, 16, 1)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v2/models/m/infer", bytes.NewReader(body)))
		if w.Code != http.StatusOK {
			b.Fatal(w.Body.String())
		}
	}
}
