package shuffle

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/inferplan/inferplan/internal/cluster"
	"github.com/inferplan/inferplan/internal/redisproc"
	"github.com/inferplan/inferplan/planner/job/channel"
	"github.com/inferplan/inferplan/profiler/network"
)

// TestMain makes the test binary a shuffle worker (SHUFFLE_TEST_WORKER=shuffle) or a network measurement worker
// (=network).
func TestMain(m *testing.M) {
	var err error
	switch os.Getenv("SHUFFLE_TEST_WORKER") {
	case "":
		os.Exit(m.Run())
	case "shuffle":
		err = WorkerMain(context.Background(), os.Args[1:])
	case "network":
		err = network.WorkerMain(context.Background(), os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

var (
	shuffleWorkers = cluster.Launcher{Command: []string{os.Args[0]}, Env: []string{"SHUFFLE_TEST_WORKER=shuffle", "GOMAXPROCS=1", "GOGC=off"}}
	networkWorkers = cluster.Launcher{Command: []string{os.Args[0]}, Env: []string{"SHUFFLE_TEST_WORKER=network", "GOMAXPROCS=1"}}
)

func TestRowsOf(t *testing.T) {
	// 10 rows over 4 workers: 3, 3, 2, 2
	for rank, want := range []int64{3, 3, 2, 2} {
		if got := RowsOf(10, rank, 4); got != want {
			t.Errorf("RowsOf(10, %d, 4) = %d, want %d", rank, got, want)
		}
	}
}

// TestKernels: partitioning sends every row to the worker that owns its key, and merging what each worker owns
// gives back every row, the same as one worker merging everything.
func TestKernels(t *testing.T) {
	cfg := Config{Rows: 5000, Keys: 100, Seed: 7}
	rows := Generate(cfg, 0, 1)
	if len(rows) != 5000*RowBytes {
		t.Fatalf("%d bytes", len(rows))
	}
	if again := Generate(cfg, 0, 1); string(again) != string(rows) {
		t.Fatal("Generate is not deterministic")
	}
	const n = 3
	parts := Partition(rows, n)
	whole := Merge([][]byte{rows}, 0, 1)
	var total int64
	var sum uint64
	for w, p := range parts {
		for o := 0; o < len(p); o += RowBytes {
			if Owner(binary.LittleEndian.Uint64(p[o:]), n) != w {
				t.Fatalf("partition %d holds a row of worker %d", w, Owner(binary.LittleEndian.Uint64(p[o:]), n))
			}
		}
		a := Merge([][]byte{p}, w, n)
		if a.Misrouted != 0 {
			t.Errorf("worker %d: %d misrouted", w, a.Misrouted)
		}
		total += a.Rows
		sum += a.ValueSum
		for k, v := range a.Sums {
			if whole.Sums[k] != v {
				t.Errorf("key %d: worker %d sums %d, whole %d", k, w, v, whole.Sums[k])
			}
		}
	}
	if total != whole.Rows || sum != whole.ValueSum {
		t.Errorf("partitions hold %d rows summing %d; want %d and %d", total, sum, whole.Rows, whole.ValueSum)
	}
	// a row merged at the wrong worker is caught
	if a := Merge([][]byte{parts[1]}, 0, n); a.Misrouted != a.Rows || a.Rows == 0 {
		t.Errorf("misrouted %d of %d", a.Misrouted, a.Rows)
	}
}

func TestExecuteDirect(t *testing.T) {
	r, err := Execute(context.Background(), shuffleWorkers, 3, Config{Channel: channel.Direct, Rows: 30_001, Keys: 1000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Verified || r.Groups < 900 || len(r.Phases) != len(Phases) {
		t.Fatalf("run %+v", r)
	}
	want := 0.0
	for i, p := range r.Phases {
		if p.Name != Phases[i] {
			t.Errorf("phase %d is %q, want %q", i, p.Name, Phases[i])
		}
		if p.Name != "generate" {
			want += p.Seconds
		}
	}
	if r.MeasuredS != want {
		t.Errorf("measured %g, want the sum of the measured phases %g", r.MeasuredS, want)
	}
}

func TestExecuteRedis(t *testing.T) {
	srv := redisproc.ForTest(t)
	r, err := Execute(context.Background(), shuffleWorkers, 4, Config{Channel: channel.Redis, Rows: 40_000, Keys: 1000, Seed: 2, Redis: srv.Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Verified {
		t.Fatal("not verified")
	}
}

// TestBenchAgreesWithModel runs the benchmark end to end, calibration included, and holds the model to within
// 50 % of the measurement: looser than the 25 % of the README's table, and an attempt that misses is run again
// (up to three), so a machine busy with other work does not flake the test, while a broken model (wrong units, a
// phase left out) misses every time.
func TestBenchAgreesWithModel(t *testing.T) {
	srv := redisproc.ForTest(t)
	for _, ch := range []string{channel.Direct, channel.Redis} {
		var errs []float64
		for attempt := 0; attempt < 3; attempt++ {
			res, err := Bench(context.Background(), BenchOptions{Channel: ch, Workers: 4, Rows: 600_000, Keys: DefaultKeys, Seed: 1, Repeat: 3,
				Redis: srv.Endpoint(), Launcher: shuffleWorkers, NetLauncher: networkWorkers, CalibrationRows: 300_000, CalibrationPeers: 4})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Verified || !(res.MeasuredS > 0) || !(res.PredictedS > 0) || len(res.Phases) != 4 {
				t.Fatalf("%s: %+v", ch, res)
			}
			t.Logf("%s: measured %.3f s, predicted %.3f s (%+.1f%%)", ch, res.MeasuredS, res.PredictedS, res.ErrorPct)
			errs = append(errs, res.ErrorPct)
			if math.Abs(res.ErrorPct) <= 50 {
				break
			}
		}
		if last := errs[len(errs)-1]; math.Abs(last) > 50 {
			t.Errorf("%s: the model missed the measurement by %.0f%% in every attempt", ch, errs)
		}
	}
}

// TestExecuteLocal: a calibration run partitions as a shuffle over Parts workers would and merges everything
// itself, exchanging nothing; the checks still hold.
func TestExecuteLocal(t *testing.T) {
	r, err := Execute(context.Background(), shuffleWorkers, 2, Config{Channel: channel.Direct, Rows: 20_000, Keys: 500, Seed: 3, Local: true, Parts: 8})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Verified || r.Groups < 2*450 {
		t.Errorf("run %+v: each worker aggregates its own rows over all keys", r)
	}
}
