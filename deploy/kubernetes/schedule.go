package kubernetes

import (
	"fmt"
	"math"
	"time"

	"github.com/inferplan/inferplan/planner/plan"
)

const minutesPerDay = 24 * 60

// A scaled plan's schedule is relative to the start of its traces. On a cluster it runs every day: window 0
// starts at Options.ScheduleStart in Options.Timezone, and outside the schedule's span a pool keeps its fewest
// instances (min_count). Cron works in whole minutes, so the times are rounded outwards: a scale-up happens at
// the minute at or before (window start − startup_s), a scale-down at the minute at or after the window's end.

// Run is a stretch of consecutive windows in which a pool has the same count: its instances must be up from
// StartS − startup_s to EndS (seconds from the schedule's start).
type Run struct {
	FirstWindow, LastWindow int
	StartS, EndS            float64
	Count                   int
}

// Runs cuts a pool's column of the schedule into runs.
func Runs(sc *plan.Schedule, pool int) []Run {
	var runs []Run
	for i, w := range sc.Windows {
		n := w.Counts[pool]
		if len(runs) > 0 && runs[len(runs)-1].Count == n {
			runs[len(runs)-1].LastWindow, runs[len(runs)-1].EndS = i, w.EndS
			continue
		}
		runs = append(runs, Run{FirstWindow: i, LastWindow: i, StartS: w.StartS, EndS: w.EndS, Count: n})
	}
	return runs
}

// CronWindow is a run on the clock: Count instances from minute Start to minute End of the day (End exclusive;
// End < Start when the run crosses midnight).
type CronWindow struct {
	Start, End int // minutes after midnight, in [0, 1440)
	Count      int
	Run        Run
}

// CronWindows places a pool's runs on the daily clock, window 0 at start. It fails when the schedule, with the
// start-up lead, does not fit in a day, since the next day's repetition would overlap it.
func CronWindows(sc *plan.Schedule, pool int, start time.Duration) ([]CronWindow, error) {
	runs := Runs(sc, pool)
	if len(runs) == 0 {
		return nil, nil
	}
	base := start.Seconds()
	first := math.Floor((base + runs[0].StartS - sc.StartupS) / 60)
	last := math.Ceil((base + runs[len(runs)-1].EndS) / 60)
	if last-first > minutesPerDay {
		return nil, fmt.Errorf("the schedule spans %.0f minutes with its %gs start-up lead, more than a day: it cannot repeat daily", last-first, sc.StartupS)
	}
	var out []CronWindow
	for _, r := range runs {
		s := math.Floor((base + r.StartS - sc.StartupS) / 60)
		e := math.Ceil((base + r.EndS) / 60)
		if e-s >= minutesPerDay {
			return nil, fmt.Errorf("windows %d–%d last a day or more with their start-up lead: they cannot repeat daily", r.FirstWindow, r.LastWindow)
		}
		out = append(out, CronWindow{Start: mod(int(s), minutesPerDay), End: mod(int(e), minutesPerDay), Count: r.Count, Run: r})
	}
	return out, nil
}

// Desired is the count a pool should have in each minute of the day under its cron windows: the largest count of
// the windows that hold the minute, and minCount where none does. It is what KEDA does with several cron
// triggers (the HorizontalPodAutoscaler takes the largest of its metrics, and minReplicaCount when no trigger is
// active), and what the CronJobs of --no-keda set.
func Desired(ws []CronWindow, minCount int) [minutesPerDay]int {
	var d [minutesPerDay]int
	for m := range d {
		d[m] = minCount
	}
	for _, w := range ws {
		for m := w.Start; m != w.End; m = (m + 1) % minutesPerDay {
			d[m] = max(d[m], w.Count)
		}
	}
	return d
}

// Change is a minute of the day at which a pool's desired count changes, and the count from then on.
type Change struct {
	Minute, Count int
}

// Changes lists the minutes of the day at which Desired changes, in order of the day.
func Changes(d [minutesPerDay]int) []Change {
	var out []Change
	for m := range d {
		if d[m] != d[mod(m-1, minutesPerDay)] {
			out = append(out, Change{Minute: m, Count: d[m]})
		}
	}
	return out
}

// cronAt is the cron expression for a minute of every day.
func cronAt(minute int) string { return fmt.Sprintf("%d %d * * *", minute%60, minute/60) }

// clock writes a minute of the day as HH:MM.
func clock(minute int) string { return fmt.Sprintf("%02d:%02d", minute/60, minute%60) }

func mod(a, m int) int { return (a%m + m) % m }
