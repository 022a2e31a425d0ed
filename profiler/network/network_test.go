package network

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/inferplan/inferplan/internal/cluster"
	"github.com/inferplan/inferplan/internal/redisproc"
	"github.com/inferplan/inferplan/planner/job/channel"
)

// TestMain makes the test binary a measurement worker when NETWORK_TEST_WORKER is set.
func TestMain(m *testing.M) {
	if os.Getenv("NETWORK_TEST_WORKER") == "1" {
		if err := WorkerMain(context.Background(), os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var launcher = cluster.Launcher{Command: []string{os.Args[0]}, Env: []string{"NETWORK_TEST_WORKER=1", "GOMAXPROCS=1"}}

func TestFit(t *testing.T) {
	// y = 0.002 + x / 1e8 exactly
	xs := []float64{1e5, 1e6, 4e6, 1.6e7}
	ys := make([]float64, len(xs))
	for i, x := range xs {
		ys[i] = 0.002 + x/1e8
	}
	a, b, r2 := Fit(xs, ys)
	if math.Abs(a-0.002) > 1e-12 || math.Abs(1/b-1e8) > 1e-3 || math.Abs(r2-1) > 1e-12 {
		t.Errorf("Fit = %g, %g, %g; want 0.002, 1e-8, 1", a, b, r2)
	}
}

// check asserts what any real measurement on one host must show, loosely enough for a busy CI machine.
func check(t *testing.T, r *Result) {
	t.Helper()
	if !(r.LatencyS > 0 && r.LatencyS < 0.05) {
		t.Errorf("latency %g s: want a positive one-way latency below 50 ms on one host", r.LatencyS)
	}
	if !(r.BandwidthBps > 20e6) {
		t.Errorf("bandwidth %g B/s: want more than 20 MB/s on one host", r.BandwidthBps)
	}
	if len(r.Points) != 3 || !(r.Points[2].Seconds > r.Points[0].Seconds) {
		t.Errorf("points %+v: a 2 MiB message must take longer than a 128 KiB one", r.Points)
	}
	if !(r.AllToAllS > 0 && r.AggregateBps > 0) {
		t.Errorf("all-to-all %g s, aggregate %g B/s", r.AllToAllS, r.AggregateBps)
	}
	p := channel.Defaults()
	r.Apply(&p)
	if err := p.Validate(); err != nil {
		t.Errorf("applied parameters do not validate: %v", err)
	}
}

func opts(ch string) Options {
	return Options{Channel: ch, Peers: 3, Launcher: launcher, Sizes: []int{128 << 10, 512 << 10, 2 << 20}, Reps: 3, PingPongs: 50, AllToAllBytes: 1 << 20}
}

func TestMeasureDirect(t *testing.T) {
	r, err := Measure(context.Background(), opts(channel.Direct))
	if err != nil {
		t.Fatal(err)
	}
	check(t, r)
	if !(r.SetupS > 0) {
		t.Errorf("set-up %g s: direct workers dial each other", r.SetupS)
	}
	p := channel.Defaults()
	r.Apply(&p)
	if p.Direct.LatencyS != r.LatencyS || p.Direct.BandwidthBps != r.BandwidthBps || p.Direct.SetupS != r.SetupS {
		t.Errorf("Apply did not write the direct section: %+v", p.Direct)
	}
}

func TestMeasureRedis(t *testing.T) {
	srv := redisproc.ForTest(t)
	o := opts(channel.Redis)
	o.Redis = srv.Endpoint()
	r, err := Measure(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	check(t, r)
	p := channel.Defaults()
	r.Apply(&p)
	if p.Redis.LatencyS != r.LatencyS || p.Redis.Node != "custom" {
		t.Errorf("Apply did not write the redis section: %+v", p.Redis)
	}
}

func TestMeasureRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Channel: "s3", Peers: 2}, {Channel: channel.Direct, Peers: 1}, {Channel: channel.Direct, Peers: 2, Sizes: []int{1}}} {
		if _, err := Measure(context.Background(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
