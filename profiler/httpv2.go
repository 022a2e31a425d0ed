package profiler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/inferplan/inferplan/profiler/profile"
)

// HTTPV2 measures a model served over the Open Inference Protocol v2 (KServe v2: Triton, TorchServe, MLServer,
// KServe): each run POSTs {model URL}/infer with one INT64 tensor of shape [batch, size] and times the round trip.
type HTTPV2 struct {
	url         string // …/v2/models/NAME
	client      *http.Client
	header      http.Header
	concurrency int
	input       string // the model's first input name, from its metadata
	desc        Info
}

// ModelMetadata is the part of GET /v2/models/NAME that the profiler reads.
type ModelMetadata struct {
	Name     string `json:"name"`
	Platform string `json:"platform"`
	Inputs   []struct {
		Name     string `json:"name"`
		Datatype string `json:"datatype"`
	} `json:"inputs"`
}

// InferRequest is an OIP v2 inference request with INT64 token ids.
type InferRequest struct {
	ID     string        `json:"id,omitempty"`
	Inputs []InferTensor `json:"inputs"`
}

// InferTensor is one input or output tensor.
type InferTensor struct {
	Name     string  `json:"name"`
	Shape    []int   `json:"shape"`
	Datatype string  `json:"datatype"`
	Data     []int64 `json:"data,omitempty"`
}

// NewHTTPV2 reads the model's metadata and prepares a target. device (cpu or gpu) and hardware describe where the
// server runs, which the protocol does not say.
func NewHTTPV2(ctx context.Context, url string, concurrency int, header http.Header, device, hardware string) (*HTTPV2, error) {
	url = strings.TrimRight(url, "/")
	if !strings.Contains(url, "/v2/models/") {
		return nil, fmt.Errorf("http target %q: want http(s)://HOST[:PORT]/v2/models/NAME", url)
	}
	h := &HTTPV2{url: url, client: &http.Client{Timeout: 10 * time.Minute}, header: header, concurrency: max(concurrency, 1), input: "input_ids"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	h.setHeader(req)
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("model metadata: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("model metadata: %s: %s", resp.Status, truncate(strings.TrimSpace(string(body)), 300))
	}
	var meta ModelMetadata
	if err := json.Unmarshal(body, &meta); err != nil {
		return nil, fmt.Errorf("model metadata: not OIP v2 JSON: %w", err)
	}
	if len(meta.Inputs) > 0 {
		h.input = meta.Inputs[0].Name
	}
	if device != string(profile.CPU) && device != string(profile.GPU) {
		return nil, fmt.Errorf("device %q: want cpu or gpu", device)
	}
	if hardware == "" {
		hardware = "served at " + url
	}
	h.desc = Info{Platform: profile.Platform(device), Hardware: hardware, Model: meta.Name, SizeUnit: "tokens",
		Source: fmt.Sprintf("Open Inference Protocol v2 model %q (%s) at %s; wall-clock round trip of one POST …/infer of an INT64 [batch, size] tensor, %d in flight",
			meta.Name, meta.Platform, url, h.concurrency)}
	return h, nil
}

func (h *HTTPV2) setHeader(req *http.Request) {
	for k, vs := range h.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
}

func (h *HTTPV2) Info() Info { return h.desc }

// Run sends concurrency requests at once and returns the median round trip.
func (h *HTTPV2) Run(ctx context.Context, batch, size int) (Sample, error) {
	ids := TokenIDs(batch, size, 30522)
	data := make([]int64, 0, batch*size)
	for _, row := range ids {
		for _, id := range row {
			data = append(data, int64(id))
		}
	}
	body, err := json.Marshal(InferRequest{Inputs: []InferTensor{{Name: h.input, Shape: []int{batch, size}, Datatype: "INT64", Data: data}}})
	if err != nil {
		return Sample{}, err
	}
	lat := make([]float64, h.concurrency)
	errs := make([]error, h.concurrency)
	var wg sync.WaitGroup
	for i := range lat {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[i], errs[i] = h.post(ctx, body)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return Sample{}, err
		}
	}
	slices.Sort(lat)
	return Sample{LatencyMs: lat[len(lat)/2]}, nil
}

func (h *HTTPV2) post(ctx context.Context, body []byte) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/infer", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	h.setHeader(req)
	start := time.Now()
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, err
	}
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(out, &e)
		if e.Error == "" {
			e.Error = truncate(strings.TrimSpace(string(out)), 300)
		}
		return 0, fmt.Errorf("infer: %s: %s", resp.Status, e.Error)
	}
	return float64(elapsed.Nanoseconds()) / 1e6, nil
}

func (h *HTTPV2) Close() error {
	h.client.CloseIdleConnections()
	return nil
}
