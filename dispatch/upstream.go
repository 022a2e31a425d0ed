package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/inferplan/inferplan/planner/plan"
)

// Upstream sends every batch as one Open Inference Protocol v2 request to a model server (Triton, KServe, …):
// input_ids INT64 [n, pad] padded with 0 and attention_mask INT64 [n, pad], and reads back the first output as
// n rows.
type Upstream struct {
	infer  string // …/v2/models/{model}/infer
	model  string // …/v2/models/{model}
	client *http.Client
	token  string
}

// NewUpstream targets rawURL: a server's base address (the model named by model) or a model's own address
// (…/v2/models/NAME, with or without /infer). token, when set, is sent as a bearer token.
func NewUpstream(rawURL, model, token string, client *http.Client) (*Upstream, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("backend %q is not an http(s) URL", rawURL)
	}
	path := strings.TrimSuffix(u.Path, "/")
	path = strings.TrimSuffix(path, "/infer")
	if !strings.Contains(path, "/v2/models/") {
		if model == "" {
			return nil, fmt.Errorf("backend %q names no model: give …/v2/models/NAME or --model", rawURL)
		}
		path += "/v2/models/" + url.PathEscape(model)
	}
	u.Path, u.RawPath = path, ""
	if client == nil {
		client = &http.Client{}
	}
	return &Upstream{model: u.String(), infer: u.String() + "/infer", client: client, token: token}, nil
}

type upstreamTensor struct {
	Name     string  `json:"name"`
	Shape    []int   `json:"shape"`
	Datatype string  `json:"datatype"`
	Data     []int64 `json:"data"`
}

type upstreamResponse struct {
	Outputs []struct {
		Name     string    `json:"name"`
		Shape    []int     `json:"shape"`
		Datatype string    `json:"datatype"`
		Data     []float32 `json:"data"`
	} `json:"outputs"`
	Error string `json:"error"`
}

// Infer posts the batch. Connection failures, 429 and 5xx answers are retryable; other 4xx answers are not.
func (u *Upstream) Infer(ctx context.Context, b *Batch) ([][]float32, error) {
	n, pad := len(b.Inputs), b.PadTo
	ids := make([]int64, n*pad)
	mask := make([]int64, n*pad)
	for i, in := range b.Inputs {
		copy(ids[i*pad:], in)
		for p := range in {
			mask[i*pad+p] = 1
		}
	}
	body, err := json.Marshal(map[string]any{"inputs": []upstreamTensor{
		{Name: "input_ids", Shape: []int{n, pad}, Datatype: "INT64", Data: ids},
		{Name: "attention_mask", Shape: []int{n, pad}, Datatype: "INT64", Data: mask},
	}})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.infer, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if u.token != "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, Retryable(fmt.Errorf("upstream %s: %w", u.infer, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, Retryable(fmt.Errorf("upstream %s: reading the answer: %w", u.infer, err))
	}
	var out upstreamResponse
	jsonErr := json.Unmarshal(data, &out)
	if resp.StatusCode != http.StatusOK {
		msg := out.Error
		if jsonErr != nil || msg == "" {
			msg = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		err := fmt.Errorf("upstream %s: %s: %s", u.infer, resp.Status, msg)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return nil, Retryable(err)
		}
		return nil, err
	}
	if jsonErr != nil {
		return nil, fmt.Errorf("upstream %s: the answer is not a v2 response: %w", u.infer, jsonErr)
	}
	if len(out.Outputs) == 0 {
		return nil, fmt.Errorf("upstream %s: the answer has no outputs", u.infer)
	}
	o := out.Outputs[0]
	if len(o.Data) == 0 || len(o.Data)%n != 0 || (len(o.Shape) > 0 && o.Shape[0] != n) {
		return nil, fmt.Errorf("upstream %s: output %q has shape %v and %d values, not %d rows", u.infer, o.Name, o.Shape, len(o.Data), n)
	}
	w := len(o.Data) / n
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = o.Data[i*w : (i+1)*w : (i+1)*w]
	}
	return rows, nil
}

// Check asks the upstream whether the model is ready, so that serve fails at start rather than at the first
// batch.
func (u *Upstream) Check(*plan.Plan) error {
	req, err := http.NewRequest(http.MethodGet, u.model+"/ready", nil)
	if err != nil {
		return err
	}
	if u.token != "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("upstream model %s: %w", u.model, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upstream model %s is not ready: %s", u.model, resp.Status)
	}
	return nil
}

func (u *Upstream) Describe() string { return "upstream v2 model " + u.model }

func (u *Upstream) Close() error {
	u.client.CloseIdleConnections()
	return nil
}
