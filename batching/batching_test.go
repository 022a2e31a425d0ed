package batching

import (
	"fmt"
	"testing"

	"github.com/inferplan/inferplan/trace"
)

func reqs(pairs ...float64) []trace.Request {
	var out []trace.Request
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, trace.Request{At: int64(pairs[i]), Size: pairs[i+1]})
	}
	return out
}

func TestFormByContract(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reqs    []trace.Request
		batch   int
		timeout int64
		want    string // start-end@dispatch per batch, T when timed out
	}{
		// B=3, T=100: the request at exactly t0+T joins; the one a microsecond later opens the next batch
		{"timeout edge", reqs(0, 1, 100, 1, 101, 1), 3, 100, "[0-2@100T 2-3@201T]"},
		// full at the third arrival: dispatched at that arrival, not at the timeout
		{"full", reqs(0, 1, 5, 1, 7, 1, 8, 1), 3, 100, "[0-3@7 3-4@108T]"},
		// timeout 0 dispatches at once; a request arriving in the same microsecond is exactly at t0 + 0 and joins
		{"zero timeout", reqs(0, 1, 0, 1, 3, 1), 8, 0, "[0-2@0T 2-3@3T]"},
		// batch 1 leaves at each arrival, full
		{"batch one", reqs(0, 1, 4, 1), 1, 50, "[0-1@0 1-2@4]"},
		{"empty", nil, 4, 10, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, b := range Form(tc.reqs, tc.batch, tc.timeout, nil) {
				s := fmt.Sprintf("%d-%d@%d", b.Start, b.End, b.Dispatch)
				if b.TimedOut {
					s += "T"
				}
				got = append(got, s)
			}
			if fmt.Sprint(got) != tc.want && !(len(got) == 0 && tc.want == "[]") {
				t.Errorf("batches %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPaddingOfABatch(t *testing.T) {
	b := Form(reqs(0, 10, 1, 20, 2, 30), 3, 10, nil)[0]
	// 3 × 30 − (10 + 20 + 30) = 30
	if b.Max != 30 || b.Sum != 60 || b.Padding() != 30 {
		t.Errorf("batch %+v padding %v, want max 30 sum 60 padding 30", b, b.Padding())
	}
}

func TestRangesIndexNeverRefusesASize(t *testing.T) {
	r := Ranges{10, 20, NoUpperBound}
	for _, tc := range []struct {
		size float64
		want int
	}{{0.5, 0}, {10, 0}, {10.5, 1}, {20, 1}, {1e6, 2}} {
		if got := r.Index(tc.size); got != tc.want {
			t.Errorf("size %v → range %d, want %d", tc.size, got, tc.want)
		}
	}
	// a size above a bounded last range joins the last range
	if got := (Ranges{10, 20}).Index(99); got != 1 {
		t.Errorf("size above every range → %d, want 1", got)
	}
	parts := Route(r, reqs(0, 5, 1, 15, 2, 50, 3, 7))
	if len(parts[0]) != 2 || len(parts[1]) != 1 || len(parts[2]) != 1 || parts[0][1].At != 3 {
		t.Errorf("route = %v", parts)
	}
}

func TestTimeoutMicrosRounds(t *testing.T) {
	if got := TimeoutMicros(1.0005); got != 1001 {
		t.Errorf("1.0005 ms = %d µs, want 1001", got)
	}
}
