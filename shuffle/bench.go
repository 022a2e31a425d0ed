package shuffle

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/inferplan/inferplan/internal/cluster"
	"github.com/inferplan/inferplan/internal/resp"
	"github.com/inferplan/inferplan/planner/job"
	"github.com/inferplan/inferplan/planner/job/channel"
	"github.com/inferplan/inferplan/profiler/network"
)

// BenchOptions configure a benchmark: the shuffle to run and how to calibrate the model that predicts it.
type BenchOptions struct {
	Channel string
	Workers int
	Rows    int64
	Keys    int
	Seed    uint64
	Repeat  int // runs, each after its own calibration; the medians are reported
	Redis   resp.Endpoint
	// Launcher starts shuffle workers; NetLauncher starts network measurement workers.
	Launcher, NetLauncher cluster.Launcher
	// Params are calibrated channel parameters; nil measures the channel first with CalibrationPeers workers.
	Params           *channel.Params
	CalibrationPeers int
	// CalibrationRows is the sample each calibration worker partitions and merges to measure the compute rates.
	CalibrationRows int64
	// Cores is the CPUs the workers share (runtime.NumCPU() when 0): with more workers than cores each gets
	// cores/workers of one, as a Lambda function gets its memory's share of a vCPU.
	Cores int
}

// Defaults of a benchmark.
const (
	DefaultKeys             = 65536
	DefaultCalibrationPeers = 4
	DefaultCalibrationRows  = 1_000_000
)

// PhaseCompare is one phase, measured and predicted.
type PhaseCompare struct {
	Name       string  `json:"name"`
	MeasuredS  float64 `json:"measured_s"`
	PredictedS float64 `json:"predicted_s"`
}

// Trial is one run and the prediction calibrated just before it.
type Trial struct {
	MeasuredS  float64 `json:"measured_s"`
	PredictedS float64 `json:"predicted_s"`
}

// Calibration is what a prediction was calibrated with.
type Calibration struct {
	Rows            int64           `json:"rows"`    // each calibration worker's sample
	Workers         int             `json:"workers"` // calibration workers side by side: min(cores, the job's workers)
	PartitionMBPerS float64         `json:"partition_mb_per_s"`
	MergeMBPerS     float64         `json:"merge_mb_per_s"`
	ComputeMBPerS   float64         `json:"compute_mb_per_s"` // partition and merge together, as the job's stage
	Network         *network.Result `json:"network,omitempty"`
	ParamsSource    string          `json:"params_source"`
}

// BenchResult is a benchmark's report.
type BenchResult struct {
	Channel    string         `json:"channel"`
	Workers    int            `json:"workers"`
	Rows       int64          `json:"rows"`
	RowBytes   int            `json:"row_bytes"`
	Bytes      float64        `json:"bytes"`
	Keys       int            `json:"keys"`
	Seed       uint64         `json:"seed"`
	MeasuredS  float64        `json:"measured_s"`
	PredictedS float64        `json:"predicted_s"`
	ErrorPct   float64        `json:"error_pct"` // (predicted − measured) / measured
	Phases     []PhaseCompare `json:"phases"`
	// Trials are every run with the prediction from its own calibration; MeasuredS and PredictedS are their
	// medians.
	Trials    []Trial `json:"trials"`
	GenerateS float64 `json:"generate_s"`
	StartupS  float64 `json:"startup_s"`
	Verified  bool    `json:"verified"`
	Groups    int     `json:"groups"`
	Cores     int     `json:"cores"`
	// LoadAverage is the host's one-minute load average before the runs (Linux); well above zero, other
	// processes were competing with the workers for the CPUs the prediction assumes they have.
	LoadAverage    *float64       `json:"load_average,omitempty"`
	VCPUsPerWorker float64        `json:"vcpus_per_worker"`
	Calibration    Calibration    `json:"calibration"`
	ChannelParams  channel.Params `json:"channel_params"`
}

// Bench calibrates the model (unless given parameters), runs the shuffle and sets the prediction beside it.
func Bench(ctx context.Context, o BenchOptions) (*BenchResult, error) {
	if o.Channel != channel.Direct && o.Channel != channel.Redis {
		return nil, fmt.Errorf("shuffle: channel %q: want direct or redis", o.Channel)
	}
	if o.Workers < 1 || o.Rows < int64(o.Workers) {
		return nil, fmt.Errorf("shuffle: %d rows over %d workers: want at least one worker and a row each", o.Rows, o.Workers)
	}
	o.Keys = max(o.Keys, 1)
	o.Repeat = max(o.Repeat, 1)
	if o.Cores <= 0 {
		o.Cores = runtime.NumCPU()
	}
	if o.CalibrationRows <= 0 {
		o.CalibrationRows = DefaultCalibrationRows
	}
	if o.CalibrationPeers < 2 {
		o.CalibrationPeers = DefaultCalibrationPeers
	}
	load := loadAverage()
	share := math.Min(1, float64(o.Cores)/float64(o.Workers))
	// Every run gets its own calibration just before it, so a host whose other load comes and goes skews one
	// pair, not every prediction; the medians of the measurements and of the predictions are reported.
	var trials []trial
	for range o.Repeat {
		t, err := o.trial(ctx, share)
		if err != nil {
			return nil, err
		}
		trials = append(trials, t)
	}
	byPrediction := slices.Clone(trials)
	slices.SortStableFunc(byPrediction, func(a, b trial) int { return cmpFloat(a.predicted(), b.predicted()) })
	mid := byPrediction[len(byPrediction)/2] // its calibration is the one reported
	runs := slices.Clone(trials)
	slices.SortStableFunc(runs, func(a, b trial) int { return cmpFloat(a.run.MeasuredS, b.run.MeasuredS) })
	run := runs[len(runs)/2].run

	res := &BenchResult{
		Channel: o.Channel, Workers: o.Workers, Rows: o.Rows, RowBytes: RowBytes, Bytes: run.Bytes, Keys: o.Keys, Seed: o.Seed,
		GenerateS: run.Phase("generate"), StartupS: run.StartupS, Verified: run.Verified, Groups: run.Groups,
		Cores: o.Cores, VCPUsPerWorker: share, LoadAverage: load, Calibration: mid.cal, ChannelParams: mid.params,
	}
	for _, name := range Measured {
		var m, p []float64
		for _, t := range trials {
			m, p = append(m, t.run.Phase(name)), append(p, t.phase(name))
		}
		res.Phases = append(res.Phases, PhaseCompare{Name: name, MeasuredS: median(m), PredictedS: median(p)})
	}
	var m, p []float64
	for _, t := range trials {
		res.Trials = append(res.Trials, Trial{MeasuredS: t.run.MeasuredS, PredictedS: t.predicted()})
		m, p = append(m, t.run.MeasuredS), append(p, t.predicted())
	}
	res.MeasuredS, res.PredictedS = median(m), median(p)
	res.ErrorPct = (res.PredictedS - res.MeasuredS) / res.MeasuredS * 100
	return res, nil
}

// trial is one calibration and the run right after it.
type trial struct {
	cal    Calibration
	params channel.Params
	run    *Run
	pred   job.Breakdown
	share  float64
	perMB  float64 // each worker's megabytes
}

func (t trial) predicted() float64 { return t.pred.SetupS + t.pred.ComputeS + t.pred.CommS }

// phase splits the prediction as the run's phases fall: the stage's compute into partition and merge by
// their calibrated rates.
func (t trial) phase(name string) float64 {
	switch name {
	case "connect":
		return t.pred.SetupS
	case "partition":
		return t.perMB / (t.cal.PartitionMBPerS * t.share)
	case "exchange":
		return t.pred.CommS
	case "merge":
		return t.perMB / (t.cal.MergeMBPerS * t.share)
	}
	return 0
}

func (o *BenchOptions) trial(ctx context.Context, share float64) (trial, error) {
	t := trial{share: share, cal: Calibration{Rows: o.CalibrationRows}}
	// compute: as many workers as will run at once (one per CPU, at most the job's) each partition a sample into
	// as many partitions as the job has workers, and merge it, with nothing exchanged. Run side by side, they
	// share the CPUs, memory bandwidth and whatever else runs on the host as the job's workers will.
	k := min(o.Cores, o.Workers)
	one, err := Execute(ctx, o.Launcher, k, Config{Channel: channel.Direct, Rows: o.CalibrationRows * int64(k), Keys: o.Keys, Seed: o.Seed,
		Local: true, Parts: o.Workers})
	if err != nil {
		return t, fmt.Errorf("calibrating compute: %w", err)
	}
	sample := one.Bytes / 1e6 / float64(k)
	t.cal.Workers = k
	t.cal.PartitionMBPerS = sample / one.Phase("partition")
	t.cal.MergeMBPerS = sample / one.Phase("merge")
	t.cal.ComputeMBPerS = 1 / (1/t.cal.PartitionMBPerS + 1/t.cal.MergeMBPerS)
	if o.Params != nil {
		t.params = *o.Params
		t.cal.ParamsSource = t.params.Source
	} else {
		// at the job's message size: what a byte costs depends on it (Redis moves a 1 MB value more than twice
		// as fast per byte as a 64 MB one on the machine this was written on)
		msg := CalibrationMessageBytes(float64(o.Rows*RowBytes), o.Workers)
		nr, err := network.Measure(ctx, network.Options{Channel: o.Channel, Peers: o.CalibrationPeers, Redis: o.Redis,
			Launcher: o.NetLauncher, AllToAllBytes: msg})
		if err != nil {
			return t, fmt.Errorf("calibrating the %s channel: %w", o.Channel, err)
		}
		t.params = channel.Defaults()
		nr.Apply(&t.params)
		t.params.Source = fmt.Sprintf("measured on this host before each run: %d peers, %d-byte all-to-all messages", o.CalibrationPeers, msg)
		t.cal.Network, t.cal.ParamsSource = nr, t.params.Source
	}
	t.run, err = Execute(ctx, o.Launcher, o.Workers, Config{Channel: o.Channel, Rows: o.Rows, Keys: o.Keys, Seed: o.Seed, Redis: o.Redis})
	if err != nil {
		return t, err
	}
	t.perMB = t.run.Bytes / 1e6 / float64(o.Workers)
	j := &job.Job{InputGB: t.run.Bytes / 1e9, Stages: []job.Stage{{Op: channel.Shuffle, ComputeMBPerS: t.cal.ComputeMBPerS}}}
	t.pred, _, err = job.Predict(j, channel.Model{P: t.params}, job.Cluster{Channel: o.Channel, VCPUsPerWorker: share,
		Workers: channel.Workers{N: o.Workers, PerHost: 1}})
	return t, err
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadAverage reads the one-minute load average from /proc/loadavg; nil where there is none.
func loadAverage() *float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return nil
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return nil
	}
	return &v
}

// CalibrationMessageBytes is the all-to-all message a calibration uses for a shuffle of bytes over workers: the
// shuffle's own partition size, bytes / workers², kept between 64 KiB and 64 MiB.
func CalibrationMessageBytes(bytes float64, workers int) int {
	s := int(bytes / float64(workers*workers))
	return min(max(s, 64<<10), 64<<20)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
