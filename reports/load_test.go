package reports

import (
	"strings"
	"testing"

	"github.com/inferplan/inferplan/loadgen"
)

func TestArrivalNotes(t *testing.T) {
	rep := func(bufs ...loadgen.Buffer) *loadgen.Report { return &loadgen.Report{Buffers: bufs} }
	cases := []struct {
		name string
		r    *loadgen.Report
		want []string // substrings, one per note
	}{
		{"all equal", rep(loadgen.Buffer{Buffer: 1, Requests: 91, Batches: 69, PredBatches: 70, PredBatchesAsArrived: 69},
			loadgen.Buffer{Buffer: 2, Requests: 9, Batches: 5, PredBatches: 5, PredBatchesAsArrived: 5}),
			[]string{"forms exactly its batches"}},
		{"one off", rep(loadgen.Buffer{Buffer: 1, Requests: 91, Batches: 69, PredBatchesAsArrived: 69},
			loadgen.Buffer{Buffer: 2, Requests: 5000, Batches: 1204, PredBatchesAsArrived: 1206}),
			[]string{"buffer 2 formed 1,204 batches where the simulator forms 1,206"}},
		{"an idle buffer", rep(loadgen.Buffer{Buffer: 1, Requests: 4, Batches: 2, PredBatchesAsArrived: 2},
			loadgen.Buffer{Buffer: 2}), []string{"forms exactly its batches"}},
		{"arrivals unknown", rep(loadgen.Buffer{Buffer: 1, Requests: 5, Batches: 3}), nil},
		{"no buffers", rep(), nil},
	}
	for _, c := range cases {
		got := arrivalNotes(c.r)
		if len(got) != len(c.want) {
			t.Errorf("%s: notes %q, want %d", c.name, got, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: note %q, want it to say %q", c.name, got[i], w)
			}
		}
	}
}
