package lambda

import (
	"fmt"
	"math"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/trace"
)

// Robust plans. The search calibrates a plan to meet the SLO percentile on the planning trace and no more: the
// cheapest plan whose replay reaches 95.0 % for p95. On the next window of the same traffic that is a coin toss,
// because the plan has been fitted to this window's bursts (the replay calibration and the BO refinement both
// stop at the first plan that just meets the percentile, so they find the one whose misses fell luckily). A
// robust plan must reach the percentile plus a margin in sample.
//
// The margin is calibrated from the trace: the fitted plan is replayed over foldCount consecutive time folds of
// the planning trace, and the spread of its attainment across them (standard deviation s, in percentage points)
// says how much the attainment of a window moves with its traffic. A window K folds long varies by s/√K, so the
// attainment of the next window as long as this one differs from this one's by s·√(2/K) (one standard error of
// the difference); the margin is marginSEs of those standard errors, capped at half the miss budget. Three
// standard errors cover the uncertainty of s itself, estimated from a dozen folds, and the selection effect of
// the search; README.md ("Plans that hold on the next window") has the figures on the Azure scenario that chose it.
const (
	foldCount = 12
	marginSEs = 3.0
	// minFoldMisses is how many SLO misses a fold must expect for its attainment to say anything: folds are fewer
	// on short traces, and below minFolds no margin can be calibrated.
	minFoldMisses = 10
	minFolds      = 4
)

// maxMargin is the largest margin, in points, for an SLO percentile: half the share of requests it may miss, so a
// p95 plan is never asked for more than 97.5 % in sample.
func maxMargin(percentile float64) float64 { return (100 - percentile) / 2 }

// foldSpread replays bufs over consecutive equal-length time folds of tr and returns the standard deviation of
// the attainment across the folds that hold requests, in percentage points, with the number of such folds.
func (s *space) foldSpread(bufs []plan.Buffer, tr *trace.Trace) (float64, int, error) {
	n := tr.Len()
	k := min(foldCount, int(float64(n)*(1-s.slo.Percentile/100)/minFoldMisses))
	if k < minFolds || tr.Span() <= 0 {
		return 0, 0, nil
	}
	first, span := tr.Requests[0].At, tr.Span()
	var att []float64
	for i := range k {
		from, to := first+span*int64(i)/int64(k), first+span*int64(i+1)/int64(k)
		if i == k-1 {
			to = first + span + 1 // the last fold takes the last request
		}
		sub := tr.Slice(from, to)
		if sub.Len() == 0 {
			continue
		}
		res, err := s.replay(bufs, sub)
		if err != nil {
			return 0, 0, err
		}
		att = append(att, res.Estimate.SLOAttainment*100)
	}
	if len(att) < minFolds {
		return 0, 0, nil
	}
	mean := 0.0
	for _, a := range att {
		mean += a
	}
	mean /= float64(len(att))
	ss := 0.0
	for _, a := range att {
		ss += (a - mean) * (a - mean)
	}
	return math.Sqrt(ss / float64(len(att)-1)), len(att), nil
}

// calibratedMargin is the margin for a fold spread sd over k folds (see the top of this file).
func calibratedMargin(sd float64, k int, percentile float64) float64 {
	m := marginSEs * sd * math.Sqrt(2/float64(k))
	return math.Min(math.Round(m*100)/100, maxMargin(percentile))
}

// marginFor decides the margin of a search: the one given, or one calibrated from the spread of the fitted plan's
// attainment across time folds. fitted is the plan the search calibrated with no margin (nil when none met the
// SLO); a warning says why no margin could be calibrated.
func (s *space) marginFor(opt Options, fitted *candidate, tr *trace.Trace) (*plan.Margin, string, error) {
	if !opt.AutoMargin {
		if opt.Margin <= 0 {
			return nil, "", nil
		}
		m, note := opt.Margin, ""
		if top := maxMargin(s.slo.Percentile); m > top {
			m, note = top, fmt.Sprintf("a margin of %g points is more than half the share of requests p%g may miss; using %g", opt.Margin, s.slo.Percentile, top)
		}
		return &plan.Margin{Points: m, Method: "given"}, note, nil
	}
	if fitted == nil {
		return nil, "", nil // nothing meets the SLO even without a margin; the search's own fallbacks apply
	}
	sd, k, err := s.foldSpread(fitted.bufs, tr)
	if err != nil {
		return nil, "", err
	}
	if k == 0 {
		return nil, fmt.Sprintf("%d requests are too few to calibrate an attainment margin (each of %d time folds should expect %d SLO misses); the plan fits the trace exactly and may miss the SLO on the next window (--margin sets one)",
			tr.Len(), minFolds, minFoldMisses), nil
	}
	return &plan.Margin{Points: calibratedMargin(sd, k, s.slo.Percentile), Method: "calibrated", Folds: k,
		FoldSpreadPoints: math.Round(sd*1000) / 1000}, "", nil
}
