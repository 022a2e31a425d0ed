package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain makes the test binary a worker when CLUSTER_TEST_WORKER names a behaviour.
func TestMain(m *testing.M) {
	if mode := os.Getenv("CLUSTER_TEST_WORKER"); mode != "" {
		os.Exit(testWorker(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func testWorker(mode string, args []string) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	coord := fs.String("coord", "", "")
	rank := fs.Int("rank", -1, "")
	n := fs.Int("workers", 0, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	defer ln.Close()
	m, err := Join(context.Background(), *coord, *rank, *n, ln.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var task struct{ SleepMs int }
	_ = json.Unmarshal(m.Task, &task)
	switch mode {
	case "mesh":
		// a pairwise exchange over the mesh: in round r send to rank+r, receive from rank-r
		mesh, setups, err := m.ConnectMesh(context.Background(), ln)
		if err != nil {
			m.Fail(err)
			return 1
		}
		defer mesh.Close()
		got := []string{}
		for r := 1; r < m.N; r++ {
			to, from := (m.Rank+r)%m.N, (m.Rank-r+m.N)%m.N
			in, err := mesh.Exchange(to, []byte(fmt.Sprintf("%d->%d", m.Rank, to)), from)
			if err != nil {
				m.Fail(err)
				return 1
			}
			got = append(got, string(in))
		}
		if err := m.Done(map[string]any{"got": got, "dialled": len(setups)}); err != nil {
			return 1
		}
		return 0
	case "crash":
		if m.Rank == 1 {
			fmt.Fprintln(os.Stderr, "rank 1 crashes on purpose")
			return 3
		}
	case "fail":
		if m.Rank == 0 {
			m.Fail(errors.New("rank 0 gives up on purpose"))
			return 1
		}
	}
	// rank r sleeps r × SleepMs in phase one: the phase lasts as long as its slowest worker
	time.Sleep(time.Duration(m.Rank*task.SleepMs) * time.Millisecond)
	if err := m.Barrier("one"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := m.Barrier("two"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := m.Done(map[string]any{"rank": m.Rank, "peers": m.Peers}); err != nil {
		return 1
	}
	return 0
}

func launcher(mode string) Launcher {
	return Launcher{Command: []string{os.Args[0]}, Env: []string{"CLUSTER_TEST_WORKER=" + mode}}
}

func TestRunRendezvousBarriersResults(t *testing.T) {
	res, err := Run(context.Background(), launcher("ok"), 3, map[string]int{"SleepMs": 60})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Workers) != 3 || len(res.Phases) != 2 || res.Phases[0].Name != "one" || res.Phases[1].Name != "two" {
		t.Fatalf("result %+v", res)
	}
	var first []string
	for i, w := range res.Workers {
		var r struct {
			Rank  int
			Peers []string
		}
		if err := json.Unmarshal(w, &r); err != nil || r.Rank != i || len(r.Peers) != 3 {
			t.Fatalf("worker %d result %s: %v", i, w, err)
		}
		if first == nil {
			first = r.Peers
		} else if strings.Join(first, ",") != strings.Join(r.Peers, ",") {
			t.Errorf("workers got different peer tables: %v and %v", first, r.Peers)
		}
	}
	// the slowest worker sleeps 2 × 60 ms before the first barrier
	if s := res.Phases[0].Seconds; s < 0.11 || s > 2 {
		t.Errorf("phase one took %.3f s, want about 0.12 s (the slowest worker)", s)
	}
	if s := res.Phases[1].Seconds; s > 0.1 {
		t.Errorf("phase two took %.3f s with nothing in it", s)
	}
}

// TestMeshExchange: every worker gets exactly one message from each peer, addressed to it, over connections it
// dialled to lower ranks and accepted from higher ones.
func TestMeshExchange(t *testing.T) {
	res, err := Run(context.Background(), launcher("mesh"), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range res.Workers {
		var r struct {
			Got     []string
			Dialled int
		}
		if err := json.Unmarshal(w, &r); err != nil {
			t.Fatal(err)
		}
		if r.Dialled != i {
			t.Errorf("worker %d dialled %d peers, want %d (every lower rank)", i, r.Dialled, i)
		}
		for k, msg := range r.Got {
			from := (i - (k + 1) + 4) % 4
			if want := fmt.Sprintf("%d->%d", from, i); msg != want {
				t.Errorf("worker %d round %d got %q, want %q", i, k+1, msg, want)
			}
		}
	}
}

func TestRunReportsAWorkerThatFails(t *testing.T) {
	_, err := Run(context.Background(), launcher("fail"), 2, nil)
	if err == nil || !strings.Contains(err.Error(), "rank 0 gives up on purpose") {
		t.Fatalf("err = %v, want the worker's own reason", err)
	}
	_, err = Run(context.Background(), launcher("crash"), 3, nil)
	if err == nil || !strings.Contains(err.Error(), "rank 1 crashes on purpose") {
		t.Fatalf("err = %v, want the crashed worker's output", err)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, launcher("ok"), 2, map[string]int{"SleepMs": 5000})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %v; want an error soon after the deadline", err, time.Since(start))
	}
}
