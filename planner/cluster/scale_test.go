package cluster

import (
	"math"
	"reflect"
	"testing"

	"github.com/inferplan/inferplan/forecast"
	"github.com/inferplan/inferplan/planner/cluster/replay"
	"github.com/inferplan/inferplan/trace"
)

// a grid of 60 s windows, 10 s bins and a 20 s start-up over a 3-minute span
var grid = windows{w: 60e6, startup: 20e6, bin: 10e6, n: 3}

func TestWindowPeaksAndHistory(t *testing.T) {
	var reqs []trace.Request
	add := func(atS float64, n int) {
		for range n {
			reqs = append(reqs, trace.Request{At: int64(atS * 1e6)})
		}
	}
	add(5, 10)   // window 0, bin 0: 1 req/s
	add(45, 30)  // window 0, bin 4: 3 req/s — after window 1's decision at 40 s
	add(65, 20)  // window 1, bin 6: 2 req/s
	add(175, 50) // window 2, bin 17: 5 req/s
	bins := grid.binCounts(reqs)
	if got := grid.series(bins); !reflect.DeepEqual(got, []float64{3, 2, 5}) {
		t.Errorf("series = %v, want [3 2 5]", got)
	}
	// window 0: nothing is known yet
	if h := grid.history(bins, 0); len(h) != 0 {
		t.Errorf("history(0) = %v, want none", h)
	}
	// window 1 is decided at 40 s: window 0's burst at 45 s is not yet seen
	if h := grid.history(bins, 1); !reflect.DeepEqual(h, []float64{1}) {
		t.Errorf("history(1) = %v, want [1]", h)
	}
	// window 2 is decided at 100 s: window 0 whole, window 1 up to 100 s
	if h := grid.history(bins, 2); !reflect.DeepEqual(h, []float64{3, 2}) {
		t.Errorf("history(2) = %v, want [3 2]", h)
	}
	// counts: ceil(headroom × forecast / capacity) within [1, 4]; the first window gets the mean (0.6 req/s)
	counts, fc := grid.counts(bins, forecast.Last{}, 2, 1.5, 0.6, 1, 4)
	if !reflect.DeepEqual(counts, []int{1, 2, 3}) || !reflect.DeepEqual(fc, []float64{0.6, 1, 2}) {
		t.Errorf("counts, forecasts = %v, %v; want [1 2 3], [0.6 1 2]", counts, fc)
	}
	if counts, _ := grid.counts(bins, forecast.Last{}, 10, 1, 0.6, 2, 4); !reflect.DeepEqual(counts, []int{4, 4, 4}) {
		t.Errorf("counts capped = %v, want [4 4 4]", counts)
	}
}

func TestInstancesTimeline(t *testing.T) {
	// 1, 3, 2, 2 instances over four 60 s windows with a 20 s start-up
	g := windows{w: 60e6, startup: 20e6, bin: 10e6, n: 4}
	got := g.instances([]int{1, 3, 2, 2}, 1.5)
	inf := int64(math.MaxInt64)
	want := []replay.Instance{
		{USDPerHour: 1.5, Launch: 0, Ready: 0, Stop: inf},         // up from the start
		{USDPerHour: 1.5, Launch: 40e6, Ready: 60e6, Stop: inf},   // launched 20 s before window 1
		{USDPerHour: 1.5, Launch: 40e6, Ready: 60e6, Stop: 120e6}, // the latest launched stops first, when window 1 ends
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("instances =\n%+v\nwant\n%+v", got, want)
	}
	// a window that needs more again launches new instances; the old ones are not revived
	got = g.instances([]int{2, 1, 2, 2}, 1)
	if len(got) != 3 || got[1].Stop != 60e6 || got[2].Launch != 100e6 || got[2].Ready != 120e6 {
		t.Errorf("instances = %+v, want the second stopped at 60 s and a third launched at 100 s", got)
	}
}
