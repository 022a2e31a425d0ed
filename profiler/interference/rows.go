package interference

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
)

// RowsOf groups a co-location profile's measurements — one per worker, with its batches per second, as
// `profile --colocate` writes them — into configurations, and gives each the solo latency and SM-bound work of its
// shape from solo: the profile of the same model alone on the same GPU. Measurements without a co-location count or
// a throughput are not co-location rows and are left out.
func RowsOf(coloc *profile.Profile, solo *profile.Profile) ([]Row, error) {
	type key struct {
		hw    string
		mode  Mode
		n     int
		pct   float64
		batch int
		size  float64
	}
	sums := map[key]float64{}
	var keys []key
	for _, m := range coloc.Measurements {
		raw, ok := m.Extra["batches_per_s"]
		if m.Platform != profile.GPU || m.Colocated < 1 || !ok {
			continue
		}
		var bps float64
		if err := json.Unmarshal(raw, &bps); err != nil || !(bps > 0) {
			return nil, fmt.Errorf("interference: line %d: batches_per_s %s is not a positive number", m.Line, raw)
		}
		mode := TimeSlice
		if m.Sharing == string(MPS) {
			mode = MPS
		}
		pct := m.MPSPct
		if mode == MPS && pct == 0 {
			pct = 100
		}
		k := key{m.Hardware, mode, m.Colocated, pct, m.Batch, m.Size}
		if _, seen := sums[k]; !seen {
			keys = append(keys, k)
		}
		sums[k] += bps
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("interference: %s has no co-location measurements (colocated workers with batches_per_s)", coloc.Model)
	}
	curves := map[string]*latency.Curve{}
	slopes := map[string]float64{}
	tab := latency.NewTable(solo)
	for _, k := range tab.Keys() {
		if k.Platform == profile.GPU && k.Colocated == 0 && k.Sharing == "" {
			if _, seen := curves[k.Hardware]; !seen {
				c, _ := tab.Curve(k)
				curves[k.Hardware], slopes[k.Hardware] = c, Slope(c)
			}
		}
	}
	var rows []Row
	for _, k := range keys {
		c := curves[k.hw]
		if c == nil {
			return nil, fmt.Errorf("interference: co-location data on %s needs the solo profile of %s on the same GPU", k.hw, coloc.Model)
		}
		l, err := c.Latency(k.batch, k.size)
		if err != nil {
			return nil, fmt.Errorf("interference: %w", err)
		}
		rows = append(rows, Row{Hardware: k.hw, Mode: k.mode, Workers: k.n, MPSPct: k.pct, Batch: k.batch, Size: k.size,
			SoloMs: l, WorkMs: round4(Work(slopes[k.hw], k.batch, k.size, l)), Measured: round3(sums[k])})
	}
	// stable, readable order: shape, then mode, then workers and share
	slices.SortStableFunc(rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Batch*int(a.Size), b.Batch*int(b.Size)), cmp.Compare(a.Mode, b.Mode),
			cmp.Compare(a.Workers, b.Workers), cmp.Compare(b.MPSPct, a.MPSPct))
	})
	return rows, nil
}

var (
	//go:embed data/gpu-h100-bert-base-colocation.json
	h100Colocation []byte
	//go:embed data/gpu-h100-bert-base-float16.json
	h100Solo []byte

	defaultOnce  sync.Once
	defaultModel *Model
	defaultErr   error
)

// DefaultSource names the measurements the default model is fitted to.
const DefaultSource = "fitted to the shared H100 co-location measurements (bert-base fp16; 8×128, 32×256, 64×512 under " +
	"time-slicing and MPS) against the solo profile of the same model and GPU"

// Default is the model fitted to the embedded H100 co-location data (data/README.md), for plans whose inputs hold
// no co-location measurements of their own.
func Default() (*Model, error) {
	defaultOnce.Do(func() {
		coloc, err := profile.Parse(h100Colocation, "data/gpu-h100-bert-base-colocation.json")
		if err != nil {
			defaultErr = err
			return
		}
		solo, err := profile.Parse(h100Solo, "data/gpu-h100-bert-base-float16.json")
		if err != nil {
			defaultErr = err
			return
		}
		rows, err := RowsOf(coloc, solo)
		if err != nil {
			defaultErr = err
			return
		}
		defaultModel, defaultErr = Fit(rows, DefaultSource)
	})
	return defaultModel, defaultErr
}
