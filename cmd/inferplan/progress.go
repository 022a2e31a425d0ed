package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress draws a bar per stage of long work on stderr, only when stderr is a terminal and --quiet is not given,
// so pipes and CI logs stay clean. Asked for off a terminal (plan --progress), it writes plain lines instead: one
// when a stage starts, one every tenth of it, one when it ends — readable in a CI log, where a bar's carriage
// returns are not. It is safe for concurrent use (the planner reports from several goroutines).
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	enabled bool
	lines   bool // plain lines rather than a bar
	stage   string
	bar     *progressbar.ProgressBar
	tenth   int // the last tenth of the stage a line was written for
}

func newProgress(io *ioStreams, quiet bool) *progress {
	return &progress{w: io.ErrOut, tty: io.ErrTTY, enabled: io.ErrTTY && !quiet}
}

// forced turns progress on when asked for explicitly, as lines when stderr is not a terminal.
func (p *progress) forced(on bool) *progress {
	if on {
		p.enabled, p.lines = true, !p.tty
	}
	return p
}

// report sets the progress of a stage (done of total); a new stage name starts a new bar.
func (p *progress) report(stage string, done, total int) {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lines {
		p.line(stage, done, total)
		return
	}
	if stage != p.stage || p.bar == nil {
		p.finishLocked()
		p.stage = stage
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(stage),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(28),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = p.bar.Set(done)
}

// done clears the last bar.
func (p *progress) done() {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
}

func (p *progress) finishLocked() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
		p.bar = nil
	}
}

// line writes a progress line when a stage starts, passes a tenth of its total, or ends.
func (p *progress) line(stage string, done, total int) {
	tenth := 0
	if total > 0 {
		tenth = min(done*10/total, 10)
	}
	switch {
	case stage != p.stage:
		p.stage, p.tenth = stage, tenth
	case tenth > p.tenth:
		p.tenth = tenth
	default:
		return
	}
	fmt.Fprintf(p.w, "progress: %s: %d/%d (%d%%)\n", stage, done, total, tenth*10)
}
