// Package channel models how long a data-parallel job's communication takes, and what it costs, over the
// channels serverless workers can use: direct TCP between functions (NAT hole punching through a rendezvous
// server), a Redis node, S3, and the network of an EC2 cluster.
//
// The structure is FMI's (Copik et al., ICS'23; github.com/spcl/fmi src/comm/{S3,Redis,Direct,PeerToPeer,
// ClientServer}.cpp): a message costs a per-message latency plus its bytes over a bandwidth, tree collectives
// take ⌈log₂ n⌉ rounds, storage channels pay log₂(p+c) request latencies and share an aggregate bandwidth.
// Every quantity here is in seconds, bytes, bytes per second and US dollars. FMI's configuration gives
// overheads in milliseconds and bandwidths in MB/s, and its code adds the two without converting; the
// defaults below are FMI's numbers converted once, here, so no formula mixes units.
package channel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// Channel names.
const (
	Direct = "direct" // TCP between workers, connected through a hole-punching rendezvous server
	Redis  = "redis"  // through a Redis node (ElastiCache)
	S3     = "s3"     // through S3 objects, received by polling
	EC2    = "ec2"    // the network of an EC2 cluster
)

// Lambda channels in the order plans list them.
var LambdaChannels = []string{Direct, Redis, S3}

// Link is one channel's point-to-point behaviour: a message of s bytes from one worker to another takes
// LatencyS + s / BandwidthBps, end to end (for a storage channel: from the start of the upload to the end of
// the download). AggregateBps caps all workers' messages together (a Redis node's network; a host whose
// processes share CPUs); 0 means no cap beyond each worker's own network.
type Link struct {
	LatencyS     float64 `json:"latency_s"`
	BandwidthBps float64 `json:"bandwidth_bytes_per_s"`
	AggregateBps float64 `json:"aggregate_bytes_per_s,omitempty"`
}

// DirectParams model direct TCP between Lambda functions.
type DirectParams struct {
	Link
	// SetupS is the time to connect one pair of workers through the rendezvous server. Each worker connects
	// to its peers one after another, all workers at once.
	SetupS float64 `json:"setup_s"`
	// ServerUSDPerHour is the rendezvous (hole-punching) server's VM, charged for the job's duration.
	ServerUSDPerHour float64 `json:"server_usd_per_hour"`
}

// RedisParams model a Redis node as the exchange. BandwidthBps is one client's stream; AggregateBps the node's.
type RedisParams struct {
	Link
	Node           string  `json:"node"` // a name from Nodes(), or "custom"
	NodeUSDPerHour float64 `json:"node_usd_per_hour"`
}

// S3Params model S3 as the exchange: a receiver polls for the object every PollS, waiting PollS/2 on average,
// for at most MaxWaitS.
type S3Params struct {
	Link
	PollS    float64 `json:"poll_s"`
	MaxWaitS float64 `json:"max_wait_s"`
	PutUSD   float64 `json:"put_usd"` // per PUT request
	GetUSD   float64 `json:"get_usd"` // per GET request, polls included
}

// ExpectedGets is the GET requests one received message costs: FMI's expected polls, (max wait / poll) / 2,
// at least one.
func (s S3Params) ExpectedGets() float64 {
	if s.PollS <= 0 {
		return 1
	}
	return math.Max(1, s.MaxWaitS/s.PollS/2)
}

// NetPoint is a Lambda function's network bandwidth at a memory size.
type NetPoint struct {
	MemoryMB int     `json:"memory_mb"`
	Bps      float64 `json:"bytes_per_s"`
}

// LambdaParams describe Lambda workers.
type LambdaParams struct {
	// Network is the bandwidth of one function's network by memory size, interpolated linearly between
	// points and flat beyond the first and last.
	Network []NetPoint `json:"network"`
	// MBPerVCPU is the memory that buys one vCPU: compute rates scale with memory / MBPerVCPU.
	MBPerVCPU float64 `json:"mb_per_vcpu"`
	// MaxDurationS is Lambda's timeout limit; a configuration that runs longer is infeasible.
	MaxDurationS float64 `json:"max_duration_s"`
	// StartS is added before the first stage: invoking the functions (and cold starts).
	StartS float64 `json:"start_s"`
}

// NetworkBps is one function's network bandwidth at a memory size.
func (l LambdaParams) NetworkBps(memoryMB int) float64 {
	pts := l.Network
	if len(pts) == 0 {
		return math.Inf(1)
	}
	m := float64(memoryMB)
	if m <= float64(pts[0].MemoryMB) {
		return pts[0].Bps
	}
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if m <= float64(b.MemoryMB) {
			f := (m - float64(a.MemoryMB)) / float64(b.MemoryMB-a.MemoryMB)
			return a.Bps + f*(b.Bps-a.Bps)
		}
	}
	return pts[len(pts)-1].Bps
}

// VCPUs is the share of vCPUs Lambda gives a memory size.
func (l LambdaParams) VCPUs(memoryMB int) float64 { return float64(memoryMB) / l.MBPerVCPU }

// EC2Params describe the network of an EC2 cluster whose workers (one per vCPU) talk over TCP.
type EC2Params struct {
	// Link is between instances: LatencyS one way, BandwidthBps the single-flow limit (the instance's own
	// network bandwidth, from the catalog, is shared by the workers on it).
	Link
	// Local is between two workers on the same instance (loopback).
	Local Link `json:"local"`
	// BillingMinimumS: EC2 Linux on-demand bills per second with a one-minute minimum.
	BillingMinimumS float64 `json:"billing_minimum_s"`
	// BootS is added to the job's time and bill: launching the instances.
	BootS float64 `json:"boot_s"`
	// DefaultNetworkBps is assumed for an instance type whose network bandwidth the catalog does not know.
	DefaultNetworkBps float64 `json:"default_network_bytes_per_s"`
}

// Params are every channel's parameters. A parameters file holds any subset; the rest keep their defaults.
type Params struct {
	Version int          `json:"version"`
	Source  string       `json:"source"`
	Direct  DirectParams `json:"direct"`
	Redis   RedisParams  `json:"redis"`
	S3      S3Params     `json:"s3"`
	Lambda  LambdaParams `json:"lambda"`
	EC2     EC2Params    `json:"ec2"`
	// Measured records what a calibration measured, for people; the model does not read it.
	Measured json.RawMessage `json:"measured,omitempty"`
}

const (
	mb = 1e6 // FMI's MB: bandwidths in its configuration are 10⁶ bytes per second
	ms = 1e-3
)

// FMISource says where the defaults come from.
const FMISource = "FMI's published model defaults (github.com/spcl/fmi config/fmi.json, ICS'23), converted to seconds and bytes"

// Defaults are FMI's published model parameters in consistent units, with what FMI does not model filled
// from the sources named beside each value.
func Defaults() Params {
	return Params{
		Version: 1,
		Source:  FMISource,
		Direct: DirectParams{
			Link: Link{LatencyS: 0.34 * ms, BandwidthBps: 400 * mb}, // fmi.json Direct: overhead 0.34 (ms), bandwidth 400 (MB/s)
			// FMI does not model connection set-up. Hole punching is one round trip to the rendezvous server
			// (register, get the peer's endpoint) and one between the peers (simultaneous open): two round
			// trips, four one-way latencies.
			SetupS:           4 * 0.34 * ms,
			ServerUSDPerHour: 0.0134, // fmi.json Direct: vm_price
		},
		Redis: RedisParams{
			// fmi.json Redis: overhead 5.2 (ms), bandwidth_single 100 (MB/s), bandwidth_multiple 400 (MB/s)
			Link:           Link{LatencyS: 5.2 * ms, BandwidthBps: 100 * mb, AggregateBps: 400 * mb},
			Node:           FMINode,
			NodeUSDPerHour: 0.0038, // fmi.json Redis: instance_price
		},
		S3: S3Params{
			Link:     Link{LatencyS: 40.4 * ms, BandwidthBps: 50 * mb}, // fmi.json S3: overhead 40.4 (ms), bandwidth 50 (MB/s)
			PollS:    100 * ms,                                         // fmi.json backends.S3.timeout (ms)
			MaxWaitS: 1000 * ms,                                        // fmi.json backends.S3.max_timeout (ms)
			PutUSD:   0.0000054,                                        // fmi.json S3: upload_price (eu-central-1)
			GetUSD:   0.00000043,                                       // fmi.json S3: download_price
		},
		Lambda: LambdaParams{
			// An assumption, not a measurement: a function's network grows with its memory like its CPU share
			// does, up to one vCPU (1,769 MB), where it reaches the 400 MB/s FMI measured between functions,
			// and stays there. Reports agree that throughput grows with memory at the low end; none we could
			// read gives figures. Calibrate on Lambda and pass the measured table to replace it.
			Network:      []NetPoint{{MemoryMB: 128, Bps: 400 * mb * 128 / 1769}, {MemoryMB: 1769, Bps: 400 * mb}, {MemoryMB: 10240, Bps: 400 * mb}},
			MBPerVCPU:    1769, // AWS Lambda developer guide: 1,769 MB = one vCPU
			MaxDurationS: 900,  // Lambda's 15-minute timeout
		},
		EC2: EC2Params{
			// Between instances: FMI's direct latency (FMI has no EC2 figure) and the 5 Gbps single-flow limit
			// outside a cluster placement group (EC2 User Guide, "Amazon EC2 instance network bandwidth").
			Link: Link{LatencyS: 0.34 * ms, BandwidthBps: 5e9 / 8},
			// Between workers on one instance: loopback TCP, measured (LocalLatencyS).
			Local:             Link{LatencyS: LocalLatencyS, BandwidthBps: LocalBandwidthBps},
			BillingMinimumS:   60,
			DefaultNetworkBps: 5e9 / 8,
		},
	}
}

// Loopback TCP between two worker processes on one host, the default for workers that share an EC2 instance:
// `inferplan profile network --channel direct --peers 2` on a 2-vCPU Intel Xeon build VM, 2026-11-30T07:13Z,
// measured 7.0 µs one way and 1.44 GB/s (README, "Data-parallel jobs").
const (
	LocalLatencyS     = 7.0e-6
	LocalBandwidthBps = 1.44e9
)

// Validate checks every parameter is usable: positive latencies and bandwidths, sorted network points, a Redis
// node that exists.
func (p *Params) Validate() error {
	type check struct {
		field string
		v     float64
		zero  bool // zero allowed
	}
	checks := []check{
		{"direct.latency_s", p.Direct.LatencyS, true}, {"direct.bandwidth_bytes_per_s", p.Direct.BandwidthBps, false},
		{"direct.aggregate_bytes_per_s", p.Direct.AggregateBps, true}, {"direct.setup_s", p.Direct.SetupS, true},
		{"direct.server_usd_per_hour", p.Direct.ServerUSDPerHour, true},
		{"redis.latency_s", p.Redis.LatencyS, true}, {"redis.bandwidth_bytes_per_s", p.Redis.BandwidthBps, false},
		{"redis.aggregate_bytes_per_s", p.Redis.AggregateBps, true}, {"redis.node_usd_per_hour", p.Redis.NodeUSDPerHour, true},
		{"s3.latency_s", p.S3.LatencyS, true}, {"s3.bandwidth_bytes_per_s", p.S3.BandwidthBps, false},
		{"s3.aggregate_bytes_per_s", p.S3.AggregateBps, true}, {"s3.poll_s", p.S3.PollS, true}, {"s3.max_wait_s", p.S3.MaxWaitS, true},
		{"s3.put_usd", p.S3.PutUSD, true}, {"s3.get_usd", p.S3.GetUSD, true},
		{"lambda.mb_per_vcpu", p.Lambda.MBPerVCPU, false}, {"lambda.max_duration_s", p.Lambda.MaxDurationS, false},
		{"lambda.start_s", p.Lambda.StartS, true},
		{"ec2.latency_s", p.EC2.LatencyS, true}, {"ec2.bandwidth_bytes_per_s", p.EC2.BandwidthBps, false},
		{"ec2.local.latency_s", p.EC2.Local.LatencyS, true}, {"ec2.local.bandwidth_bytes_per_s", p.EC2.Local.BandwidthBps, false},
		{"ec2.billing_minimum_s", p.EC2.BillingMinimumS, true}, {"ec2.boot_s", p.EC2.BootS, true},
		{"ec2.default_network_bytes_per_s", p.EC2.DefaultNetworkBps, false},
	}
	for _, c := range checks {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) || c.v < 0 || c.v == 0 && !c.zero {
			want := "a positive number"
			if c.zero {
				want = "zero or a positive number"
			}
			return inputerr.New("", 0, c.field, "%v: want %s", c.v, want)
		}
	}
	if len(p.Lambda.Network) == 0 {
		return inputerr.New("", 0, "lambda.network", "empty: give at least one {memory_mb, bytes_per_s}")
	}
	for i, pt := range p.Lambda.Network {
		f := fmt.Sprintf("lambda.network[%d]", i)
		if !(pt.Bps > 0) || math.IsInf(pt.Bps, 0) {
			return inputerr.New("", 0, f+".bytes_per_s", "%v: want a positive number", pt.Bps)
		}
		if i > 0 && pt.MemoryMB <= p.Lambda.Network[i-1].MemoryMB {
			return inputerr.New("", 0, f+".memory_mb", "%d: points must be in increasing memory order", pt.MemoryMB)
		}
	}
	return nil
}

// Read reads a parameters file (as `inferplan profile network` writes it) over the defaults: fields it leaves
// out keep FMI's values. A node name under redis picks that node's bandwidth and price from the catalog unless
// the file gives them too.
func Read(path string) (Params, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Params{}, fmt.Errorf("channel parameters: %w", err)
	}
	return Parse(data, path)
}

// Parse is Read for bytes already read; name is used in messages.
func Parse(data []byte, name string) (Params, error) {
	p := Defaults()
	p.Source = name
	// a node name alone picks the node's figures: look at the raw document first
	var peek struct {
		Redis map[string]json.RawMessage `json:"redis"`
	}
	if err := json.Unmarshal(data, &peek); err != nil {
		return Params{}, jsonErr(name, data, err)
	}
	if raw, ok := peek.Redis["node"]; ok {
		var node string
		if err := json.Unmarshal(raw, &node); err == nil && node != "custom" {
			n, ok := LookupNode(node)
			if !ok {
				return Params{}, inputerr.New(name, lineOf(data, `"node"`), "redis.node", "%q is not a known node type; known: %s", node, strings.Join(NodeNames(), ", "))
			}
			p.Redis.Node, p.Redis.AggregateBps, p.Redis.NodeUSDPerHour = n.Name, n.NetworkBps, n.USDPerHour
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Params{}, jsonErr(name, data, err)
	}
	if p.Version != 1 {
		return Params{}, inputerr.New(name, lineOf(data, `"version"`), "version", "%d: this inferplan reads version 1", p.Version)
	}
	if err := p.Validate(); err != nil {
		if ie, ok := err.(*inputerr.Error); ok {
			ie.File = name
			ie.Line = lineOf(data, `"`+lastPart(ie.Field)+`"`)
		}
		return Params{}, err
	}
	return p, nil
}

func lastPart(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		field = field[i+1:]
	}
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	return field
}

// lineOf is the 1-based line of the first occurrence of s in data, or 0.
func lineOf(data []byte, s string) int {
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		return 0
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}

func jsonErr(name string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return inputerr.New(name, bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))+1, "", "%v", err)
	case errors.As(err, &te):
		return inputerr.New(name, bytes.Count(data[:min(int(te.Offset), len(data))], []byte("\n"))+1, strings.ReplaceAll(te.Field, ".Link", ""), "%v: want %v", te.Value, te.Type)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return inputerr.New(name, lineOf(data, `"`+f+`"`), f, "unknown field")
	}
	return inputerr.New(name, 0, "", "%v", err)
}

// Marshal writes the parameters as indented JSON with a final newline.
func (p *Params) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Names returns the known channel names, sorted.
func Names() []string {
	n := append([]string{}, LambdaChannels...)
	slices.Sort(n)
	return n
}
