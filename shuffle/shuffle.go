// Package shuffle is a real mini data-parallel job: worker processes generate rows, hash-partition them by key,
// exchange the partitions all-to-all (directly over TCP, or through a Redis server), and aggregate what they
// receive by key. It times every phase on the coordinator's clock and checks the exchange lost, duplicated
// and misrouted nothing, so the planner's model can be compared with a run that really happened.
package shuffle

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/inferplan/inferplan/internal/cluster"
	"github.com/inferplan/inferplan/internal/resp"
	"github.com/inferplan/inferplan/planner/job/channel"
)

// RowBytes is the size of one row: an 8-byte key, an 8-byte value and 48 bytes of payload, the width of a
// narrow fact table.
const RowBytes = 64

// redisMaxBulk is Redis's default proto-max-bulk-len: a partition sent through Redis must be smaller.
const redisMaxBulk = 512 << 20

// Config is the job every worker runs.
type Config struct {
	Channel string        `json:"channel"` // direct or redis
	Rows    int64         `json:"rows"`    // in all, spread evenly over the workers
	Keys    int           `json:"keys"`    // distinct keys the rows are drawn from
	Seed    uint64        `json:"seed"`
	Redis   resp.Endpoint `json:"redis"`
	Prefix  string        `json:"prefix"` // Redis key prefix of this run
	// Local runs the kernels without the exchange: every worker splits its rows into Parts partitions (as a
	// shuffle over Parts workers would) and merges them all itself. Calibration runs are local.
	Local bool `json:"local,omitempty"`
	Parts int  `json:"parts,omitempty"`
}

// WorkerResult is what one worker reports: what it generated and received, for the coordinator's checks.
type WorkerResult struct {
	Rank          int    `json:"rank"`
	Generated     int64  `json:"generated"`
	GenKeySum     uint64 `json:"gen_key_sum"`
	GenValueSum   uint64 `json:"gen_value_sum"`
	Received      int64  `json:"received"` // rows this worker aggregated, its own partition included
	RecvKeySum    uint64 `json:"recv_key_sum"`
	RecvValueSum  uint64 `json:"recv_value_sum"`
	Misrouted     int64  `json:"misrouted"` // received rows whose key hashes to another worker
	Groups        int    `json:"groups"`
	GroupValueSum uint64 `json:"group_value_sum"`
	BytesSent     int64  `json:"bytes_sent"`
}

// Phases of a run, in order. The job's time is that of the measured ones: generating the input is not part of
// it (a real job reads its input; the planner's model starts from data in the workers' memory).
var (
	Phases   = []string{"generate", "connect", "partition", "exchange", "merge"}
	Measured = []string{"connect", "partition", "exchange", "merge"}
)

// splitmix64 is a small, fast, seedable generator (Steele, Lea, Flood 2014), the same on every machine.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	return mix(uint64(*s))
}

// mix is splitmix64's finaliser; it is also the partitioning hash.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// RowsOf is how many of rows worker rank of n generates: an even share, the remainder to the first ranks.
func RowsOf(rows int64, rank, n int) int64 {
	r := rows / int64(n)
	if int64(rank) < rows%int64(n) {
		r++
	}
	return r
}

// Generate makes worker rank's rows, deterministically from the seed.
func Generate(cfg Config, rank, n int) []byte {
	rows := RowsOf(cfg.Rows, rank, n)
	buf := make([]byte, rows*RowBytes)
	g := splitmix64(cfg.Seed ^ mix(uint64(rank)+1))
	keys := uint64(max(cfg.Keys, 1))
	for i := int64(0); i < rows; i++ {
		row := buf[i*RowBytes : (i+1)*RowBytes]
		k := g.next() % keys
		binary.LittleEndian.PutUint64(row[0:], k)
		binary.LittleEndian.PutUint64(row[8:], g.next()%1000)
		p := g.next()
		for o := 16; o < RowBytes; o += 8 {
			binary.LittleEndian.PutUint64(row[o:], p)
		}
	}
	return buf
}

// Owner is the worker a key belongs to.
func Owner(key uint64, n int) int { return int(mix(key) % uint64(n)) }

// Partition splits rows into one buffer per worker by the owner of each row's key.
func Partition(rows []byte, n int) [][]byte {
	parts := make([][]byte, n)
	guess := len(rows)/n + len(rows)/(8*n) + RowBytes
	for i := range parts {
		parts[i] = make([]byte, 0, guess)
	}
	for o := 0; o+RowBytes <= len(rows); o += RowBytes {
		row := rows[o : o+RowBytes]
		d := Owner(binary.LittleEndian.Uint64(row), n)
		parts[d] = append(parts[d], row...)
	}
	return parts
}

// Aggregate is a group-by-key sum, with the counts and sums the coordinator checks.
type Aggregate struct {
	Sums      map[uint64]uint64
	Rows      int64
	KeySum    uint64
	ValueSum  uint64
	Misrouted int64
}

// Merge aggregates received partitions by key; rows whose key another worker owns count as misrouted.
func Merge(parts [][]byte, rank, n int) Aggregate {
	a := Aggregate{Sums: map[uint64]uint64{}}
	for _, p := range parts {
		for o := 0; o+RowBytes <= len(p); o += RowBytes {
			k := binary.LittleEndian.Uint64(p[o:])
			v := binary.LittleEndian.Uint64(p[o+8:])
			if Owner(k, n) != rank {
				a.Misrouted++
			}
			a.Sums[k] += v
			a.Rows++
			a.KeySum += k
			a.ValueSum += v
		}
	}
	return a
}

func sums(rows []byte) (keys, values uint64) {
	for o := 0; o+RowBytes <= len(rows); o += RowBytes {
		keys += binary.LittleEndian.Uint64(rows[o:])
		values += binary.LittleEndian.Uint64(rows[o+8:])
	}
	return keys, values
}

// WorkerMain is a worker process; args are the ones cluster.Run passes.
func WorkerMain(ctx context.Context, args []string) error {
	var cfg Config
	m, ln, err := cluster.JoinFromArgs(ctx, args, &cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	res, err := work(ctx, m, cfg, ln)
	if err != nil {
		m.Fail(err)
		return err
	}
	return m.Done(res)
}

// exchanger is one channel's all-to-all.
type exchanger interface {
	// exchange sends parts[j] to every worker j ≠ rank and returns what the others sent this worker.
	exchange(parts [][]byte) ([][]byte, int64, error)
	close()
}

func work(ctx context.Context, m *cluster.Member, cfg Config, ln net.Listener) (WorkerResult, error) {
	res := WorkerResult{Rank: m.Rank}
	rows := Generate(cfg, m.Rank, m.N)
	res.Generated = int64(len(rows) / RowBytes)
	res.GenKeySum, res.GenValueSum = sums(rows)
	if err := m.Barrier("generate"); err != nil {
		return res, err
	}
	var ex exchanger
	var err error
	switch cfg.Channel {
	case channel.Direct:
		ex, err = connectDirect(ctx, m, ln)
	case channel.Redis:
		ex, err = connectRedis(ctx, m, cfg)
	default:
		err = fmt.Errorf("unknown channel %q", cfg.Channel)
	}
	if err != nil {
		return res, err
	}
	defer ex.close()
	if err := m.Barrier("connect"); err != nil {
		return res, err
	}
	local := cfg.Local || m.N == 1
	nparts := m.N
	if local && cfg.Parts > 0 {
		nparts = cfg.Parts
	}
	parts := Partition(rows, nparts)
	rows = nil
	if err := m.Barrier("partition"); err != nil {
		return res, err
	}
	var received [][]byte
	if !local {
		var sent int64
		received, sent, err = ex.exchange(parts)
		if err != nil {
			return res, fmt.Errorf("exchange: %w", err)
		}
		res.BytesSent = sent
	}
	if err := m.Barrier("exchange"); err != nil {
		return res, err
	}
	mine, rank, n := [][]byte{parts[m.Rank]}, m.Rank, m.N
	if local {
		mine, rank, n = parts, 0, 1 // every partition stays, and every key is this worker's
	}
	agg := Merge(append(received, mine...), rank, n)
	if err := m.Barrier("merge"); err != nil {
		return res, err
	}
	res.Received, res.RecvKeySum, res.RecvValueSum, res.Misrouted = agg.Rows, agg.KeySum, agg.ValueSum, agg.Misrouted
	res.Groups = len(agg.Sums)
	for _, v := range agg.Sums {
		res.GroupValueSum += v
	}
	return res, nil
}

type directEx struct {
	m    *cluster.Member
	mesh *cluster.Mesh
}

func connectDirect(ctx context.Context, m *cluster.Member, ln net.Listener) (*directEx, error) {
	mesh, _, err := m.ConnectMesh(ctx, ln)
	if err != nil {
		return nil, err
	}
	return &directEx{m: m, mesh: mesh}, nil
}

// exchange is a pairwise exchange: in round r this worker sends to rank+r while it receives from rank-r.
func (d *directEx) exchange(parts [][]byte) ([][]byte, int64, error) {
	n, me := d.m.N, d.m.Rank
	var got [][]byte
	var sent int64
	for r := 1; r < n; r++ {
		to, from := (me+r)%n, (me-r+n)%n
		in, err := d.mesh.Exchange(to, parts[to], from)
		if err != nil {
			return nil, sent, err
		}
		sent += int64(len(parts[to]))
		got = append(got, in)
	}
	return got, sent, nil
}

func (d *directEx) close() { d.mesh.Close() }

type redisEx struct {
	ctx    context.Context
	m      *cluster.Member
	c      *resp.Conn
	prefix string
}

func connectRedis(ctx context.Context, m *cluster.Member, cfg Config) (*redisEx, error) {
	c, err := resp.Dial(ctx, cfg.Redis)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return &redisEx{ctx: ctx, m: m, c: c, prefix: cfg.Prefix}, nil
}

// Inbox is the Redis list a worker's partitions arrive in.
func Inbox(prefix string, rank int) string { return prefix + ":inbox:" + strconv.Itoa(rank) }

// exchange pushes one partition to each peer's inbox, then pops the n-1 partitions from its own (BLPOP waits
// on the server, so nobody polls).
func (r *redisEx) exchange(parts [][]byte) ([][]byte, int64, error) {
	n, me := r.m.N, r.m.Rank
	var sent int64
	for k := 1; k < n; k++ {
		to := (me + k) % n
		if len(parts[to]) >= redisMaxBulk {
			return nil, sent, fmt.Errorf("a %d-byte partition is over Redis's 512 MB value limit; use more workers or fewer rows", len(parts[to]))
		}
		if err := r.c.RPush(r.ctx, Inbox(r.prefix, to), parts[to]); err != nil {
			return nil, sent, err
		}
		sent += int64(len(parts[to]))
	}
	var got [][]byte
	for k := 1; k < n; k++ {
		_, v, err := r.c.BLPop(r.ctx, 60*time.Second, Inbox(r.prefix, me))
		if err != nil {
			return nil, sent, err
		}
		got = append(got, v)
	}
	return got, sent, nil
}

func (r *redisEx) close() { r.c.Close() }

// Run is one shuffle with n worker processes.
type Run struct {
	Channel string          `json:"channel"`
	Workers int             `json:"workers"`
	Rows    int64           `json:"rows"`
	Bytes   float64         `json:"bytes"`
	Keys    int             `json:"keys"`
	Seed    uint64          `json:"seed"`
	Phases  []cluster.Phase `json:"phases"`
	// MeasuredS is the job's time: the measured phases (connect, partition, exchange, merge).
	MeasuredS float64 `json:"measured_s"`
	// StartupS is process start and rendezvous, before any phase; reported, not part of the job's time.
	StartupS float64 `json:"startup_s"`
	// Verified says every row arrived exactly once at the worker that owns its key, with its value.
	Verified bool `json:"verified"`
	Groups   int  `json:"groups"`
}

// Phase returns the measured seconds of a named phase.
func (r *Run) Phase(name string) float64 {
	for _, p := range r.Phases {
		if p.Name == name {
			return p.Seconds
		}
	}
	return 0
}

// Execute runs the shuffle with real worker processes and checks the exchange.
func Execute(ctx context.Context, l cluster.Launcher, n int, cfg Config) (*Run, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("inferplan:shuffle:%d:%d", os.Getpid(), time.Now().UnixNano())
	}
	res, err := cluster.Run(ctx, l, n, cfg)
	if err != nil {
		if cfg.Channel == channel.Redis {
			cleanRedis(cfg, n)
		}
		return nil, fmt.Errorf("shuffle over %s with %d workers: %w", cfg.Channel, n, err)
	}
	run := &Run{Channel: cfg.Channel, Workers: n, Rows: cfg.Rows, Bytes: float64(cfg.Rows * RowBytes), Keys: cfg.Keys,
		Seed: cfg.Seed, Phases: res.Phases, StartupS: res.StartupS}
	var tot WorkerResult
	for i, raw := range res.Workers {
		var w WorkerResult
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("shuffle: worker %d result: %w", i, err)
		}
		tot.Generated += w.Generated
		tot.GenKeySum += w.GenKeySum
		tot.GenValueSum += w.GenValueSum
		tot.Received += w.Received
		tot.RecvKeySum += w.RecvKeySum
		tot.RecvValueSum += w.RecvValueSum
		tot.Misrouted += w.Misrouted
		tot.GroupValueSum += w.GroupValueSum
		run.Groups += w.Groups
	}
	switch {
	case tot.Generated != cfg.Rows:
		return nil, fmt.Errorf("shuffle: workers generated %d rows, want %d", tot.Generated, cfg.Rows)
	case tot.Received != tot.Generated:
		return nil, fmt.Errorf("shuffle: %d rows generated but %d received", tot.Generated, tot.Received)
	case tot.RecvKeySum != tot.GenKeySum || tot.RecvValueSum != tot.GenValueSum:
		return nil, fmt.Errorf("shuffle: the rows received are not the rows sent (key or value checksums differ)")
	case tot.Misrouted != 0:
		return nil, fmt.Errorf("shuffle: %d rows reached a worker that does not own their key", tot.Misrouted)
	case tot.GroupValueSum != tot.GenValueSum:
		return nil, fmt.Errorf("shuffle: the group-by sums do not add up to the values generated")
	}
	run.Verified = true
	for _, name := range Measured {
		run.MeasuredS += run.Phase(name)
	}
	return run, nil
}

// cleanRedis deletes the inboxes a failed run may have left behind (a finished run pops every partition, and
// Redis deletes an empty list).
func cleanRedis(cfg Config, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := resp.Dial(ctx, cfg.Redis)
	if err != nil {
		return
	}
	defer c.Close()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = Inbox(cfg.Prefix, i)
	}
	_, _ = c.Del(ctx, keys...)
}
