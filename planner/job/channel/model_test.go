package channel

import (
	"math"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, want %.12g", name, got, want)
	}
}

func TestLog2Ceil(t *testing.T) {
	for n, want := range map[int]int{1: 0, 2: 1, 3: 2, 4: 2, 5: 3, 8: 3, 9: 4, 64: 6, 100: 7} {
		if got := Log2Ceil(n); got != want {
			t.Errorf("Log2Ceil(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestDefaultsAreFMIsInSI pins the unit conversion FMI's own code skips: 0.34 ms is 0.00034 s, 400 MB/s is
// 4e8 bytes/s, so a 4 MB message over direct TCP costs 0.00034 + 0.01 s, not 0.34 + 0.01 "units".
func TestDefaultsAreFMIsInSI(t *testing.T) {
	p := Defaults()
	near(t, "direct latency", p.Direct.LatencyS, 0.00034)
	near(t, "direct bandwidth", p.Direct.BandwidthBps, 4e8)
	near(t, "redis latency", p.Redis.LatencyS, 0.0052)
	near(t, "redis single", p.Redis.BandwidthBps, 1e8)
	near(t, "redis aggregate", p.Redis.AggregateBps, 4e8)
	near(t, "s3 latency", p.S3.LatencyS, 0.0404)
	near(t, "s3 bandwidth", p.S3.BandwidthBps, 5e7)
	near(t, "s3 expected gets", p.S3.ExpectedGets(), 5) // (1000 ms / 100 ms) / 2
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	m := Model{p}
	c, _ := m.Time(Direct, Broadcast, Workers{N: 2, NICBps: 4e8}, 4e6)
	near(t, "one 4 MB direct message", c.Seconds, 0.00034+0.01)
}

func TestLambdaNetworkAndVCPUs(t *testing.T) {
	l := Defaults().Lambda
	near(t, "1769 MB", l.NetworkBps(1769), 4e8)
	near(t, "10240 MB", l.NetworkBps(10240), 4e8)
	near(t, "128 MB", l.NetworkBps(128), 4e8*128/1769)
	// 948.5 MB is halfway between the 128 and 1769 MB points
	near(t, "948.5 MB", l.NetworkBps(948)+(l.NetworkBps(949)-l.NetworkBps(948))/2, (4e8*128/1769+4e8)/2)
	near(t, "64 MB (below the table)", l.NetworkBps(64), 4e8*128/1769)
	near(t, "vCPUs at 3538 MB", l.VCPUs(3538), 2)
	near(t, "vCPUs at 10240 MB", l.VCPUs(10240), 10240.0/1769)
}

// handParams are FMI's defaults with a round loopback link for EC2 workers that share an instance, so the hand
// computations below do not move when the measured default does.
func handParams() Params {
	p := Defaults()
	p.EC2.Local = Link{LatencyS: 25e-6, BandwidthBps: 2e9}
	return p
}

func TestModelAgainstHandComputedValues(t *testing.T) {
	m := Model{handParams()}
	lambda := func(n int) Workers { return Workers{N: n, NICBps: 4e8, PerHost: 1} }
	cases := []struct {
		name, ch, op string
		w            Workers
		bytes        float64
		want         float64
	}{
		// partition s = 1.6e9/4² = 1e8; 3 rounds × (0.00034 + 1e8/4e8) = 3 × 0.25034
		{"direct shuffle n=4 1.6 GB", Direct, Shuffle, lambda(4), 1.6e9, 0.75102},
		// s = 1e8; 3 messages × (0.0404 + 0.1/2 poll wait + 1e8/5e7) = 3 × 2.0904
		{"s3 shuffle n=4 1.6 GB", S3, Shuffle, lambda(4), 1.6e9, 6.2712},
		// s = 6.4e8/64 = 1e7; bandwidth min(1e8, 4e8/8) = 5e7; 7 × (0.0052 + 0.2)
		{"redis shuffle n=8 640 MB", Redis, Shuffle, lambda(8), 6.4e8, 1.4364},
		// ⌈log₂ 5⌉ = 3 rounds × (0.00034 + 4e6/4e8)
		{"direct broadcast n=5 4 MB", Direct, Broadcast, lambda(5), 4e6, 0.03102},
		{"direct reduce n=5 4 MB", Direct, Reduce, lambda(5), 4e6, 0.03102},
		// rounds receive 1, 2, 1 blocks: 3 × 0.00034 + 4 × 4e6/4e8
		{"direct gather n=5 4 MB", Direct, Gather, lambda(5), 4e6, 0.04102},
		// 2 × 3 rounds × (0.00034 + 6.4e7/4e8)
		{"direct allreduce n=8 64 MB", Direct, Allreduce, lambda(8), 6.4e7, 0.96204},
		// FMI latency(1, 7, 8e6): log₂ 8 × (0.0404 + 0.05) + 7·8e6 / (7·5e7)
		{"s3 broadcast n=8 8 MB", S3, Broadcast, lambda(8), 8e6, 0.4312},
		// FMI latency(4, 1, 1e7): log₂ 5 × 0.0052 + max(4e7 / min(4·1e8, 4e8), root's 4e7 / 4e8)
		{"redis gather n=5 10 MB", Redis, Gather, lambda(5), 1e7, math.Log2(5)*0.0052 + 0.1},
		// reduce latency(7,1) + broadcast latency(1,7), s = 1e6 over Redis:
		// up: log₂ 8 × 0.0052 + max(7e6 / min(7e8, 4e8), 7e6/4e8) = 0.0156 + 0.0175
		// down: log₂ 8 × 0.0052 + 7e6 / min(7e8, 4e8) = 0.0156 + 0.0175
		{"redis allreduce n=8 1 MB", Redis, Allreduce, lambda(8), 1e6, 2 * (0.0156 + 0.0175)},
		// EC2, 8 workers on 2 hosts of 1e9 B/s: s = 6.4e8/64 = 1e7
		// 3 local rounds × (25e-6 + 1e7/2e9) + 4 remote rounds × (0.00034 + 1e7/min(6.25e8, 1e9/4))
		{"ec2 shuffle n=8 on 2 hosts", EC2, Shuffle, Workers{N: 8, PerHost: 4, HostBps: 1e9}, 6.4e8, 3*0.005025 + 4*0.04034},
		// tree rounds 2^0, 2^1 stay on the host (< 4), round 2^2 crosses: 2 × (2 × (25e-6 + 1e6/2e9) + (0.00034 + 1e6/2.5e8))
		{"ec2 allreduce n=8 on 2 hosts", EC2, Allreduce, Workers{N: 8, PerHost: 4, HostBps: 1e9}, 1e6, 2 * (2*0.000525 + 0.00434)},
		{"one worker talks to nobody", Direct, Shuffle, lambda(1), 1e9, 0},
	}
	for _, c := range cases {
		got, err := m.Time(c.ch, c.op, c.w, c.bytes)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		near(t, c.name, got.Seconds, c.want)
	}
}

// TestNetworkLimits: a worker's own network caps every message; a storage node's aggregate caps all workers
// streaming at once; direct TCP calibrated on one host has an aggregate too.
func TestNetworkLimits(t *testing.T) {
	m := Model{Defaults()}
	// a 128 MB function: 4e8·128/1769 = 28.94 MB/s; s = 1e8/4 = 2.5e7 per partition, n=2: one round
	slow := Workers{N: 2, NICBps: 4e8 * 128 / 1769}
	c, _ := m.Time(Direct, Shuffle, slow, 1e8)
	near(t, "direct at 128 MB", c.Seconds, 0.00034+2.5e7/(4e8*128/1769))
	p := Defaults()
	p.Direct.AggregateBps = 8e8 // 8 workers share 8e8: 1e8 each, below the 4e8 stream
	c, _ = Model{p}.Time(Direct, Shuffle, Workers{N: 8, NICBps: 4e8}, 6.4e8)
	near(t, "direct with an aggregate cap", c.Seconds, 7*(0.00034+1e7/1e8))
}

func TestStorageRequestCountsAndPrices(t *testing.T) {
	m := Model{Defaults()}
	c, _ := m.Time(S3, Shuffle, Workers{N: 4, NICBps: 4e8}, 1.6e9)
	// 4 × 3 objects; each received with FMI's 5 expected polls
	if c.Puts != 12 || c.Gets != 60 {
		t.Errorf("S3 shuffle n=4: %v PUTs, %v GETs; want 12, 60", c.Puts, c.Gets)
	}
	near(t, "S3 shuffle requests", m.RequestsUSD(S3, c), 12*0.0000054+60*0.00000043)
	near(t, "redis requests are free", m.RequestsUSD(Redis, c), 0)
	// servers are charged for the job's duration: 0.0134 $/h × 90 s
	near(t, "rendezvous server for 90 s", m.ServerUSD(Direct, 90), 0.0134*90/3600)
	near(t, "redis node for 90 s", m.ServerUSD(Redis, 90), 0.0038*90/3600)
	near(t, "s3 has no server", m.ServerUSD(S3, 90), 0)
}

func TestSetup(t *testing.T) {
	m := Model{handParams()}
	near(t, "direct n=64", m.Setup(Direct, Workers{N: 64}), 63*4*0.00034)
	// 3 loopback handshakes and 4 across hosts, one round trip each
	near(t, "ec2 n=8 on 2 hosts", m.Setup(EC2, Workers{N: 8, PerHost: 4}), 3*2*25e-6+4*2*0.00034)
	near(t, "s3 n=8", m.Setup(S3, Workers{N: 8}), 0)
}

func TestUnknownChannelAndOp(t *testing.T) {
	m := Model{Defaults()}
	if _, err := m.Time("pigeon", Shuffle, Workers{N: 2}, 1); err == nil {
		t.Error("unknown channel accepted")
	}
	if _, err := m.Time(Direct, "scan", Workers{N: 2}, 1); err == nil {
		t.Error("unknown op accepted")
	}
}

func TestParseParams(t *testing.T) {
	p, err := Parse([]byte(`{"version": 1, "direct": {"latency_s": 0.001}}`), "p.json")
	if err != nil {
		t.Fatal(err)
	}
	near(t, "overridden latency", p.Direct.LatencyS, 0.001)
	near(t, "kept bandwidth", p.Direct.BandwidthBps, 4e8)
	if p.Source != "p.json" {
		t.Errorf("source %q", p.Source)
	}
	p, err = Parse([]byte(`{"version": 1, "redis": {"node": "cache.m7g.large"}}`), "p.json")
	if err != nil {
		t.Fatal(err)
	}
	// 937 Mbit/s baseline = 117.125 MB/s
	near(t, "node aggregate", p.Redis.AggregateBps, 937e6/8)
	near(t, "node price", p.Redis.NodeUSDPerHour, 0.158)
	p, err = Parse([]byte(`{"version": 1, "redis": {"node": "cache.m7g.large", "node_usd_per_hour": 0.2}}`), "p.json")
	if err != nil || p.Redis.NodeUSDPerHour != 0.2 {
		t.Errorf("a price beside the node name must win: %v, %v", p.Redis.NodeUSDPerHour, err)
	}
	for _, c := range []struct{ doc, field, line string }{
		{"{\"version\": 1,\n \"direct\": {\"latency\": 1}}", "latency", "p.json:2"},
		{"{\"version\": 1,\n \"redis\": {\"node\": \"cache.x1\"}}", "redis.node", "p.json:2"},
		{"{\"version\": 1,\n \"s3\": {\n \"bandwidth_bytes_per_s\": -5}}", "s3.bandwidth_bytes_per_s", "p.json:3"},
		{"{\"version\": 2}", "version", "p.json:1"},
		{"{\"version\": 1, \"lambda\": {\"network\": []}}", "lambda.network", "p.json"},
		{"{\"version\": 1, \"direct\": {\"latency_s\": \"x\"}}", "direct.latency_s", "p.json:1"},
	} {
		_, err := Parse([]byte(c.doc), "p.json")
		if !inputerr.Is(err) || !strings.Contains(err.Error(), c.field) || !strings.HasPrefix(err.Error(), c.line) {
			t.Errorf("%s: error %v; want an input error at %s naming %s", c.doc, err, c.line, c.field)
		}
	}
	// what Marshal writes, Parse reads back unchanged
	d := Defaults()
	data, _ := d.Marshal()
	back, err := Parse(data, FMISource)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Marshal()
	if string(again) != string(data) {
		t.Errorf("round trip changed the parameters:\n%s\n%s", data, again)
	}
}
