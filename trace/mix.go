package trace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// SizeMix is a discrete distribution of request sizes, such as ../shared/data/profiles/lambda-deepspeech-size-mix.json:
// the share of requests per size class of a workload.
type SizeMix struct {
	SizeUnit string      `json:"size_unit"`
	Source   string      `json:"source"`
	Shares   []SizeShare `json:"shares"`
	cum      []float64   // cumulative normalised shares, for sampling
}

// SizeShare is one class of a SizeMix.
type SizeShare struct {
	Size  float64 `json:"size"`
	Share float64 `json:"share"`
}

// ReadSizeMix reads and validates a size-mix JSON file.
func ReadSizeMix(path string) (*SizeMix, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &inputerr.Error{File: path, Err: err}
	}
	return ParseSizeMix(data, path)
}

// ParseSizeMix parses a size mix; shares need not sum to 1 (they are normalised).
func ParseSizeMix(data []byte, name string) (*SizeMix, error) {
	var m SizeMix
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, inputerr.New(name, 0, "", "not a size mix: %v", err)
	}
	if len(m.Shares) == 0 {
		return nil, inputerr.New(name, 0, "shares", "no size classes")
	}
	total := 0.0
	for i, s := range m.Shares {
		field := fmt.Sprintf("shares[%d]", i)
		if !(s.Size > 0) || math.IsInf(s.Size, 0) {
			return nil, inputerr.New(name, 0, field+".size", "size %v is not a positive number", s.Size)
		}
		if !(s.Share >= 0) || math.IsInf(s.Share, 0) {
			return nil, inputerr.New(name, 0, field+".share", "share %v is not a non-negative number", s.Share)
		}
		total += s.Share
	}
	if total <= 0 {
		return nil, inputerr.New(name, 0, "shares", "shares sum to zero")
	}
	m.cum = make([]float64, len(m.Shares))
	acc := 0.0
	for i, s := range m.Shares {
		acc += s.Share / total
		m.cum[i] = acc
	}
	m.cum[len(m.cum)-1] = 1
	return &m, nil
}

// Sample draws one size.
func (m *SizeMix) Sample(rng *rand.Rand) float64 {
	u := rng.Float64()
	i, _ := slices.BinarySearch(m.cum, u)
	if i >= len(m.Shares) {
		i = len(m.Shares) - 1
	}
	// skip zero-share classes that BinarySearch can land on when u equals a repeated cumulative value
	for m.Shares[i].Share == 0 && i+1 < len(m.Shares) {
		i++
	}
	return m.Shares[i].Size
}

// WithSizes returns a trace with the arrival times of t and sizes drawn independently from mix with the given
// seed: real arrivals paired with a real workload's size distribution when no trace has both.
func WithSizes(t *Trace, mix *SizeMix, seed uint64) *Trace {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := &Trace{
		Source:   fmt.Sprintf("%s (arrivals) with sizes drawn from %s, seed %d", t.Source, mix.describe(), seed),
		Requests: make([]Request, len(t.Requests)),
	}
	for i, r := range t.Requests {
		out.Requests[i] = Request{At: r.At, Size: mix.Sample(rng)}
	}
	return out
}

func (m *SizeMix) describe() string {
	return fmt.Sprintf("a %d-class size mix", len(m.Shares))
}
