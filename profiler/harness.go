package profiler

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// ServeHarness speaks the exec protocol on r and w for a target: the harness side, so any Target can be driven as
// a harness process (`inferplan harness` serves the built-in model this way). It returns when r is closed.
func ServeHarness(ctx context.Context, r io.Reader, w io.Writer, t Target) error {
	info := t.Info()
	enc := json.NewEncoder(w)
	ready := Reply{Ready: true, Info: &HarnessInfo{Platform: string(info.Platform), Hardware: info.Hardware, VCPUs: info.VCPUs,
		DType: info.DType, Model: info.Model, SizeUnit: info.SizeUnit, Source: info.Source}}
	if err := enc.Encode(ready); err != nil {
		return err
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			if err := enc.Encode(Reply{Error: fmt.Sprintf("not a request: %v", err)}); err != nil {
				return err
			}
			continue
		}
		if err := enc.Encode(answer(ctx, t, req)); err != nil {
			return err
		}
	}
	return sc.Err()
}

func answer(ctx context.Context, t Target, req Request) Reply {
	if req.Batch < 1 || req.Size < 1 {
		return Reply{Error: fmt.Sprintf("batch %d and size %d must be positive", req.Batch, req.Size)}
	}
	if req.RepeatForS <= 0 {
		s, err := t.Run(ctx, req.Batch, req.Size)
		if err != nil {
			return Reply{Error: err.Error()}
		}
		return Reply{LatencyMs: &s.LatencyMs}
	}
	// a sharing sweep: wait for the common start, then run back to back for the window
	time.Sleep(time.Until(time.UnixMilli(req.StartAtMs)))
	end := time.Now().Add(time.Duration(req.RepeatForS * float64(time.Second)))
	var lat []float64
	for time.Now().Before(end) {
		s, err := t.Run(ctx, req.Batch, req.Size)
		if err != nil {
			return Reply{Error: err.Error()}
		}
		lat = append(lat, s.LatencyMs)
	}
	return Reply{LatenciesMs: lat}
}
