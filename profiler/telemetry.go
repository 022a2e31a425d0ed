package profiler

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/profiler/profile"
)

// Telemetry samples a GPU through NVML while a target runs and attributes each reading to the point being
// measured at that moment, so a profile records how busy the GPU was at each batch × size.
type Telemetry struct {
	Target
	src      hw.GPUs
	index    int
	mu       sync.Mutex
	current  Point
	active   bool
	acc      map[Point]*telemetryAcc
	stop     chan struct{}
	finished chan struct{}
}

type telemetryAcc struct {
	n                       int
	util, clock, mem, power float64
	maxPower                float64
}

// WithTelemetry wraps t, reading GPU index every interval while a run is in progress.
func WithTelemetry(t Target, src hw.GPUs, index int, interval time.Duration) *Telemetry {
	w := &Telemetry{Target: t, src: src, index: index, acc: map[Point]*telemetryAcc{}, stop: make(chan struct{}), finished: make(chan struct{})}
	go w.loop(interval)
	return w
}

func (w *Telemetry) loop(interval time.Duration) {
	defer close(w.finished)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		w.mu.Lock()
		active, p := w.active, w.current
		w.mu.Unlock()
		if !active {
			continue
		}
		s, err := w.src.Sample(w.index)
		if err != nil {
			continue // a failed reading is a missing reading, not a failed profile
		}
		w.mu.Lock()
		a := w.acc[p]
		if a == nil {
			a = &telemetryAcc{}
			w.acc[p] = a
		}
		a.n++
		a.util += s.UtilPct
		a.clock += s.SMClockMHz
		a.mem += s.MemUsedMiB
		a.power += s.PowerW
		a.maxPower = math.Max(a.maxPower, s.PowerW)
		w.mu.Unlock()
	}
}

// Run runs the wrapped target, marking the point as the one being measured.
func (w *Telemetry) Run(ctx context.Context, batch, size int) (Sample, error) {
	w.mu.Lock()
	w.current, w.active = Point{batch, size}, true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.active = false
		w.mu.Unlock()
	}()
	return w.Target.Run(ctx, batch, size)
}

// Annotate adds the mean readings of each measurement's point: gpu_util_pct, sm_clock_mhz, gpu_mem_used_mib,
// power_w, power_max_w and the number of readings.
func (w *Telemetry) Annotate(ms []profile.Measurement) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range ms {
		a := w.acc[Point{ms[i].Batch, int(ms[i].Size)}]
		if a == nil || a.n == 0 {
			continue
		}
		n := float64(a.n)
		setExtra(&ms[i], "gpu_util_pct", round3(a.util/n))
		setExtra(&ms[i], "sm_clock_mhz", round3(a.clock/n))
		setExtra(&ms[i], "gpu_mem_used_mib", round3(a.mem/n))
		setExtra(&ms[i], "power_w", round3(a.power/n))
		setExtra(&ms[i], "power_max_w", round3(a.maxPower))
		setExtra(&ms[i], "telemetry_samples", a.n)
	}
}

// Close stops sampling and closes the wrapped target.
func (w *Telemetry) Close() error {
	close(w.stop)
	<-w.finished
	return w.Target.Close()
}
