// Package cluster runs a data-parallel job on this host as real worker processes: a coordinator in the calling
// process is the job's rendezvous server (every worker registers the address it listens on and gets everyone
// else's back, as a hole-punching server hands out peer endpoints), runs named barriers between phases and
// collects each worker's result. Phase times come from the coordinator's one clock: from the release of one
// barrier to the last worker's arrival at the next.
//
// The control protocol is JSON lines over a loopback TCP connection per worker.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// message is one control line, in either direction.
type message struct {
	Type  string          `json:"type"` // hello, peers, barrier, release, result, error
	Rank  int             `json:"rank,omitempty"`
	Addr  string          `json:"addr,omitempty"`
	Addrs []string        `json:"addrs,omitempty"`
	Name  string          `json:"name,omitempty"`
	Task  json.RawMessage `json:"task,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
	Error string          `json:"error,omitempty"`
}

type ctrl struct {
	nc  net.Conn
	enc *json.Encoder
	dec *json.Decoder
	mu  sync.Mutex
}

func newCtrl(nc net.Conn) *ctrl {
	return &ctrl{nc: nc, enc: json.NewEncoder(nc), dec: json.NewDecoder(bufio.NewReader(nc))}
}

func (c *ctrl) send(m message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.enc.Encode(m)
}

func (c *ctrl) recv() (message, error) {
	var m message
	err := c.dec.Decode(&m)
	return m, err
}

// Phase is the coordinator's measurement of one phase: the time from the release of the barrier before it to
// the arrival of the last worker at the barrier that ends it.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Result is what a run returns: each worker's result document and the phases between barriers.
type Result struct {
	Workers []json.RawMessage
	Phases  []Phase
	// StartupS is the time from launching the processes to the last registration (process start, runtime
	// initialisation, rendezvous): reported, never part of a phase.
	StartupS float64
}

// Launcher says how to start one worker process: Command followed by --coord ADDR --rank I --workers N.
type Launcher struct {
	Command []string // executable and leading arguments, e.g. [/usr/bin/inferplan worker shuffle]
	Env     []string // added to this process's environment
}

// Run starts n workers, serves the rendezvous (task is sent to every worker with the peer table), the barriers
// and the results. Any worker failing, exiting early or ctx ending stops the run and every worker.
func Run(ctx context.Context, l Launcher, n int, task any) (*Result, error) {
	if n < 1 {
		return nil, fmt.Errorf("cluster: %d workers", n)
	}
	if len(l.Command) == 0 {
		return nil, errors.New("cluster: no worker command")
	}
	taskJSON, err := json.Marshal(task)
	if err != nil {
		return nil, fmt.Errorf("cluster: task: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cluster: rendezvous listener: %w", err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	start := time.Now()
	procs := make([]*proc, n)
	for i := range procs {
		p, err := startProc(l, ln.Addr().String(), i, n)
		if err != nil {
			cancel(err)
			stopAll(procs)
			return nil, err
		}
		procs[i] = p
		go func() {
			<-p.done
			if p.err != nil {
				cancel(fmt.Errorf("worker %d exited: %v%s", p.rank, p.err, p.stderrTail()))
			}
		}()
	}
	defer stopAll(procs)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	// rendezvous: every worker registers, then gets the table of all addresses
	ctrls := make([]*ctrl, n)
	addrs := make([]string, n)
	for got := 0; got < n; got++ {
		nc, err := ln.Accept()
		if err != nil {
			return nil, runErr(ctx, fmt.Errorf("cluster: rendezvous: %w", err))
		}
		c := newCtrl(nc)
		_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		m, err := c.recv()
		_ = nc.SetReadDeadline(time.Time{})
		if err != nil || m.Type != "hello" || m.Rank < 0 || m.Rank >= n || ctrls[m.Rank] != nil {
			nc.Close()
			return nil, runErr(ctx, fmt.Errorf("cluster: bad registration %+v: %v", m, err))
		}
		ctrls[m.Rank], addrs[m.Rank] = c, m.Addr
	}
	defer func() {
		for _, c := range ctrls {
			c.nc.Close()
		}
	}()
	stopConns := context.AfterFunc(ctx, func() {
		for _, c := range ctrls {
			c.nc.Close()
		}
	})
	defer stopConns()
	res := &Result{Workers: make([]json.RawMessage, n), StartupS: time.Since(start).Seconds()}
	released := time.Now()
	for _, c := range ctrls {
		if err := c.send(message{Type: "peers", Addrs: addrs, Task: taskJSON}); err != nil {
			return nil, runErr(ctx, fmt.Errorf("cluster: sending the peer table: %w", err))
		}
	}

	// every worker's messages arrive on one channel; the loop below is the only place that reads state
	type event struct {
		rank int
		m    message
		err  error
	}
	events := make(chan event, n)
	for i, c := range ctrls {
		go func() {
			for {
				m, err := c.recv()
				events <- event{i, m, err}
				if err != nil || m.Type == "result" || m.Type == "error" {
					return
				}
			}
		}()
	}
	arrived := map[string]int{}
	results := 0
	for results < n {
		var e event
		select {
		case e = <-events:
		case <-ctx.Done():
			return nil, runErr(ctx, ctx.Err())
		}
		switch {
		case e.err != nil:
			return nil, runErr(ctx, fmt.Errorf("cluster: worker %d hung up: %w%s", e.rank, e.err, procs[e.rank].stderrTail()))
		case e.m.Type == "error":
			return nil, fmt.Errorf("worker %d: %s", e.rank, e.m.Error)
		case e.m.Type == "barrier":
			arrived[e.m.Name]++
			if arrived[e.m.Name] == n {
				now := time.Now()
				res.Phases = append(res.Phases, Phase{Name: e.m.Name, Seconds: now.Sub(released).Seconds()})
				released = now
				for _, c := range ctrls {
					if err := c.send(message{Type: "release", Name: e.m.Name}); err != nil {
						return nil, runErr(ctx, fmt.Errorf("cluster: release %s: %w", e.m.Name, err))
					}
				}
			}
		case e.m.Type == "result":
			res.Workers[e.rank] = e.m.Data
			results++
		default:
			return nil, fmt.Errorf("cluster: worker %d sent %q", e.rank, e.m.Type)
		}
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("cluster: worker %d did not exit after its result", p.rank)
		}
		if p.err != nil {
			return nil, fmt.Errorf("worker %d exited: %v%s", p.rank, p.err, p.stderrTail())
		}
	}
	return res, nil
}

// runErr prefers the cause that cancelled the run (a worker that died says why) over the error it provoked.
func runErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

type proc struct {
	rank   int
	cmd    *exec.Cmd
	stderr *tailBuffer
	done   chan struct{}
	err    error
}

func startProc(l Launcher, coord string, rank, n int) (*proc, error) {
	args := append(append([]string{}, l.Command[1:]...), "--coord", coord, "--rank", strconv.Itoa(rank), "--workers", strconv.Itoa(n))
	cmd := exec.Command(l.Command[0], args...)
	cmd.Env = append(os.Environ(), l.Env...)
	p := &proc{rank: rank, cmd: cmd, stderr: &tailBuffer{max: 4 << 10}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cluster: starting worker %d (%s): %w", rank, l.Command[0], err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) stderrTail() string {
	s := strings.TrimSpace(p.stderr.String())
	if s == "" {
		return ""
	}
	return "; its output ends: " + s
}

func stopAll(procs []*proc) {
	for _, p := range procs {
		if p != nil && p.cmd.ProcessState == nil {
			select {
			case <-p.done:
			default:
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// Member is a worker's side of the run.
type Member struct {
	Rank, N int
	// Peers are the addresses every worker registered, indexed by rank (this worker's own included).
	Peers []string
	Task  json.RawMessage
	c     *ctrl
}

// Join registers with the coordinator (addr is where this worker accepts peer connections; empty when it
// accepts none) and waits for the peer table.
func Join(ctx context.Context, coord string, rank, n int, addr string) (*Member, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", coord)
	if err != nil {
		return nil, fmt.Errorf("joining %s: %w", coord, err)
	}
	c := newCtrl(nc)
	if err := c.send(message{Type: "hello", Rank: rank, Addr: addr}); err != nil {
		nc.Close()
		return nil, err
	}
	m, err := c.recv()
	if err != nil || m.Type != "peers" || len(m.Addrs) != n {
		nc.Close()
		return nil, fmt.Errorf("waiting for the peer table: got %q with %d addresses, %v", m.Type, len(m.Addrs), err)
	}
	context.AfterFunc(ctx, func() { nc.Close() })
	return &Member{Rank: rank, N: n, Peers: m.Addrs, Task: m.Task, c: c}, nil
}

// Barrier waits until every worker has reached the barrier of this name.
func (m *Member) Barrier(name string) error {
	if err := m.c.send(message{Type: "barrier", Name: name}); err != nil {
		return fmt.Errorf("barrier %s: %w", name, err)
	}
	r, err := m.c.recv()
	if err != nil || r.Type != "release" || r.Name != name {
		return fmt.Errorf("barrier %s: got %q %q, %v", name, r.Type, r.Name, err)
	}
	return nil
}

// Done sends this worker's result and closes the control connection.
func (m *Member) Done(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	err = m.c.send(message{Type: "result", Data: data})
	m.c.nc.Close()
	return err
}

// Fail tells the coordinator why this worker gives up, so the run's error says it.
func (m *Member) Fail(err error) {
	_ = m.c.send(message{Type: "error", Error: err.Error()})
	m.c.nc.Close()
}

// WorkerArgs reads the arguments Run gives every worker: --coord ADDR --rank I --workers N.
func WorkerArgs(args []string) (coord string, rank, n int, err error) {
	rank, n = -1, 0
	for i := 0; i < len(args); i++ {
		if i+1 >= len(args) {
			return "", 0, 0, fmt.Errorf("worker: %s needs a value", args[i])
		}
		v := args[i+1]
		switch args[i] {
		case "--coord":
			coord = v
		case "--rank":
			rank, err = strconv.Atoi(v)
		case "--workers":
			n, err = strconv.Atoi(v)
		default:
			return "", 0, 0, fmt.Errorf("worker: unknown argument %q", args[i])
		}
		if err != nil {
			return "", 0, 0, fmt.Errorf("worker: %s %q: %w", args[i], v, err)
		}
		i++
	}
	if coord == "" || n < 1 || rank < 0 || rank >= n {
		return "", 0, 0, fmt.Errorf("worker: want --coord ADDR --rank I --workers N with 0 ≤ I < N (got %q, %d, %d)", coord, rank, n)
	}
	return coord, rank, n, nil
}

// JoinFromArgs is how a worker process starts: it reads the arguments Run gave it, listens on loopback for its
// peers, joins the rendezvous, and decodes its task into task. On a bad task it tells the coordinator. The caller
// closes the listener.
func JoinFromArgs(ctx context.Context, args []string, task any) (*Member, net.Listener, error) {
	coord, rank, n, err := WorkerArgs(args)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	m, err := Join(ctx, coord, rank, n, ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	if err := json.Unmarshal(m.Task, task); err != nil {
		err = fmt.Errorf("task: %w", err)
		m.Fail(err)
		ln.Close()
		return nil, nil, err
	}
	return m, ln, nil
}
