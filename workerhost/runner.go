package workerhost

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/profiler"
)

// runner runs a worker's batches, one at a time (the front's loop is its only caller).
type runner interface {
	// infer runs one batch: ids are the requests' token ids (1 to pad each), padded to pad.
	infer(ids [][]int64, pad int) (out [][]float32, serviceMs float64, err error)
	// broken says why the runner can take no more batches (its harness exited or fell out of step), or nil.
	broken() error
	// exited is closed when the runner stops by itself (a harness that exits); nil when it never does.
	exited() <-chan struct{}
	exitErr() error
	describe() string
	maxInput() int // the longest input it takes; 0 when it does not say
	close() error
}

// builtinRunner runs batches on the built-in encoder in this process (shared by the host's built-in workers:
// each of them runs one batch at a time, and the pool has a goroutine for each).
type builtinRunner struct {
	b *dispatch.Builtin
}

func (r *builtinRunner) infer(ids [][]int64, pad int) ([][]float32, float64, error) {
	start := time.Now()
	out, err := r.b.Infer(context.Background(), &dispatch.Batch{Inputs: ids, PadTo: pad})
	return out, float64(time.Since(start).Microseconds()) / 1000, err
}

func (r *builtinRunner) broken() error           { return nil }
func (r *builtinRunner) exited() <-chan struct{} { return nil }
func (r *builtinRunner) exitErr() error          { return nil }
func (r *builtinRunner) describe() string        { return r.b.Describe() + " on this machine's CPU" }
func (r *builtinRunner) maxInput() int           { return r.b.MaxSize() }
func (r *builtinRunner) close() error            { return nil } // the shared model is closed by the host

// harnessRunner sends batches to a harness process over the exec protocol.
type harnessRunner struct {
	e       *profiler.Exec
	timeout time.Duration // longest a batch may take before the harness is given up
	out     *prefixWriter
}

func (r *harnessRunner) infer(ids [][]int64, pad int) ([][]float32, float64, error) {
	return r.e.Infer(context.Background(), ids, pad, r.timeout)
}

func (r *harnessRunner) broken() error           { return r.e.Broken() }
func (r *harnessRunner) exited() <-chan struct{} { return r.e.Exited() }
func (r *harnessRunner) exitErr() error          { return r.e.ExitError() }

func (r *harnessRunner) describe() string {
	i := r.e.HarnessInfo()
	return fmt.Sprintf("harness: %s %s on %s %s", i.Model, i.DType, i.Platform, i.Hardware)
}

func (r *harnessRunner) maxInput() int { return r.e.HarnessInfo().MaxSize }

func (r *harnessRunner) close() error {
	err := r.e.Close()
	r.out.Flush()
	return err
}

// prefixWriter writes a harness's stderr to the host's, a whole line at a time, each line prefixed with the
// worker's id, so the logs of several harnesses stay apart.
type prefixWriter struct {
	mu     *sync.Mutex // shared by every worker's writer
	out    io.Writer
	prefix []byte
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.emit(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) > 4096 { // a very long line without an end: pass it on in pieces
		p.emit(append(p.buf, '\n'))
		p.buf = p.buf[:0]
	}
	return len(b), nil
}

// Flush writes what is left of an unfinished line.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.emit(append(p.buf, '\n'))
		p.buf = p.buf[:0]
	}
}

func (p *prefixWriter) emit(line []byte) {
	_, _ = p.out.Write(append(append([]byte(nil), p.prefix...), line...))
}
