package profiler

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Inferer is a target that can also serve real inputs: ids holds each request's token ids (1 to pad of them), and
// it answers one output row per request and the batch's latency in milliseconds.
type Inferer interface {
	Infer(ctx context.Context, ids [][]int64, pad int) ([][]float32, float64, error)
}

// ServeHarness speaks the exec protocol on r and w for a target: the harness side, so any Target can be driven as
// a harness process (`inferplan harness` serves the built-in model this way). Requests with input_ids are served
// when the target is an Inferer. It returns when r is closed.
func ServeHarness(ctx context.Context, r io.Reader, w io.Writer, t Target) error {
	info := t.Info()
	enc := json.NewEncoder(w)
	ready := Reply{Ready: true, Info: &HarnessInfo{Platform: string(info.Platform), Hardware: info.Hardware, VCPUs: info.VCPUs,
		DType: info.DType, Model: info.Model, SizeUnit: info.SizeUnit, Source: info.Source}}
	if m, ok := t.(interface{ MaxSize() int }); ok {
		ready.Info.MaxSize = m.MaxSize()
	}
	if err := enc.Encode(ready); err != nil {
		return err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 64<<20) // a batch of input_ids: up to batch × size numbers on one line
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
	if req.InputIDs != nil {
		inf, ok := t.(Inferer)
		if !ok {
			return Reply{Error: "this harness times shapes only: it cannot serve input_ids"}
		}
		if len(req.InputIDs) != req.Batch {
			return Reply{Error: fmt.Sprintf("batch %d with %d rows of input_ids", req.Batch, len(req.InputIDs))}
		}
		for i, row := range req.InputIDs {
			if len(row) < 1 || len(row) > req.Size {
				return Reply{Error: fmt.Sprintf("input_ids row %d has %d tokens, outside 1–%d (size)", i, len(row), req.Size)}
			}
		}
		out, ms, err := inf.Infer(ctx, req.InputIDs, req.Size)
		if err != nil {
			return Reply{Error: err.Error()}
		}
		return Reply{LatencyMs: &ms, Outputs: out}
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
