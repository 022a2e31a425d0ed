package main

import (
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress draws a bar per stage of long work on stderr, only when stderr is a terminal and --quiet is not given,
// so pipes and CI logs stay clean. It is safe for concurrent use (the planner reports from several goroutines).
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	enabled bool
	stage   string
	bar     *progressbar.ProgressBar
}

func newProgress(io *ioStreams, quiet bool) *progress {
	return &progress{w: io.ErrOut, enabled: io.ErrTTY && !quiet}
}

// report sets the progress of a stage (done of total); a new stage name starts a new bar.
func (p *progress) report(stage string, done, total int) {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
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
