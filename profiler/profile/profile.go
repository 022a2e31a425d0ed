// Package profile reads, validates and writes latency profiles (contract §3.2): measured latencies of a model over
// batch sizes × request sizes on some platform configuration. Unknown fields survive a read/write round trip.
package profile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// Version is the profile format version this package reads and writes.
const Version = 1

// Platform is where a measurement was taken.
type Platform string

const (
	Lambda Platform = "lambda"
	CPU    Platform = "cpu"
	GPU    Platform = "gpu"
)

// Profile is a set of latency measurements of one model.
type Profile struct {
	Version      int
	Model        string
	SizeUnit     string
	Source       string
	Measurements []Measurement
	// Extra holds top-level fields this version does not know, kept verbatim on rewrite.
	Extra map[string]json.RawMessage
}

// Measurement is one invocation (or forward pass) processing Batch requests padded to Size.
type Measurement struct {
	Platform   Platform
	Hardware   string
	MemoryMB   int     // required for Lambda; 0 = not given
	VCPUs      float64 // 0 = not given
	DType      string
	Sharing    string // time-slice | mps | mig
	Colocated  int    // number of co-located workers; 0 = not given
	MPSPct     float64
	Batch      int
	Size       float64
	LatencyMs  float64
	Optional   map[string]float64         // latency_min_ms, latency_p95_ms, cold_start_ms, ... when given
	Extra      map[string]json.RawMessage // unknown fields, kept verbatim on rewrite
	Line       int                        // line of the measurement in the file it was read from (0 if built in code)
	hasLatency bool
}

// optionalNumbers are the contract's optional numeric measurement fields (besides vcpus, colocated and the MPS
// percentage, which identify a configuration).
var optionalNumbers = []string{
	"latency_min_ms", "latency_max_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
	"cold_start_ms", "billed_ms", "max_memory_used_mb",
}

// knownFields of a measurement, in the order they are written.
var knownFields = append([]string{
	"platform", "hardware", "memory_mb", "vcpus", "dtype", "sharing", "colocated", "mps_active_thread_pct",
	"batch", "size", "latency_ms",
}, optionalNumbers...)

var knownTop = []string{"version", "model", "size_unit", "source", "measurements"}

// ReadFile reads and validates a profile file.
func ReadFile(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &inputerr.Error{File: path, Err: err}
	}
	return Parse(data, path)
}

// Read reads and validates a profile; name is used in error messages.
func Read(r io.Reader, name string) (*Profile, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &inputerr.Error{File: name, Err: err}
	}
	return Parse(data, name)
}

// Parse decodes and validates a profile document.
func Parse(data []byte, name string) (*Profile, error) {
	lines := newLineIndex(data)
	p, err := decode(data, name, lines)
	if err != nil {
		return nil, err
	}
	if err := p.validate(name); err != nil {
		return nil, err
	}
	return p, nil
}

func decode(data []byte, name string, lines lineIndex) (*Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	fail := func(field string, err error) error {
		return &inputerr.Error{File: name, Line: lines.line(dec.InputOffset()), Field: field, Err: err}
	}
	jsonErr := func(field string, err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &inputerr.Error{File: name, Line: lines.line(se.Offset), Field: field, Err: fmt.Errorf("invalid JSON: %v", err)}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			f := field
			if te.Field != "" {
				f += "." + te.Field
			}
			return &inputerr.Error{File: name, Line: lines.line(te.Offset), Field: f, Err: fmt.Errorf("want a %s, got a JSON %s", te.Type, te.Value)}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &inputerr.Error{File: name, Line: lines.line(int64(len(data))), Field: field, Err: errors.New("unexpected end of file")}
		}
		return fail(field, err)
	}

	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr("", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fail("", errors.New("a profile is a JSON object"))
	}
	p := &Profile{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr("", err)
		}
		key := tok.(string)
		if seen[key] {
			return nil, fail(key, errors.New("field appears twice"))
		}
		seen[key] = true
		switch key {
		case "version":
			var n json.Number
			if err := dec.Decode(&n); err != nil {
				return nil, jsonErr(key, err)
			}
			v, err := strconv.Atoi(n.String())
			if err != nil {
				return nil, fail(key, fmt.Errorf("want an integer, got %s", n))
			}
			p.Version = v
		case "model":
			err = dec.Decode(&p.Model)
		case "size_unit":
			err = dec.Decode(&p.SizeUnit)
		case "source":
			err = dec.Decode(&p.Source)
		case "measurements":
			err = decodeMeasurements(dec, p, name, lines, jsonErr, fail)
			if err != nil {
				return nil, err
			}
		default:
			var raw json.RawMessage
			err = dec.Decode(&raw)
			if err == nil {
				if p.Extra == nil {
					p.Extra = map[string]json.RawMessage{}
				}
				p.Extra[key] = raw
			}
		}
		if err != nil {
			return nil, jsonErr(key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonErr("", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail("", errors.New("trailing data after the profile object"))
	}
	if !seen["version"] {
		return nil, &inputerr.Error{File: name, Line: 1, Field: "version", Err: fmt.Errorf("missing (this reader knows version %d)", Version)}
	}
	return p, nil
}

func decodeMeasurements(dec *json.Decoder, p *Profile, name string, lines lineIndex, jsonErr func(string, error) error, fail func(string, error) error) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonErr("measurements", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fail("measurements", errors.New("want an array"))
	}
	for i := 0; dec.More(); i++ {
		field := fmt.Sprintf("measurements[%d]", i)
		line := lines.lineAfter(dec.InputOffset())
		var raw map[string]json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return jsonErr(field, err)
		}
		m, err := measurementFromMap(raw)
		if err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				return &inputerr.Error{File: name, Line: line, Field: field + "." + fe.field, Err: fe.err}
			}
			return &inputerr.Error{File: name, Line: line, Field: field, Err: err}
		}
		m.Line = line
		p.Measurements = append(p.Measurements, m)
	}
	if _, err := dec.Token(); err != nil {
		return jsonErr("measurements", err)
	}
	return nil
}

// fieldError names the measurement field a decode problem is in.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }

func measurementFromMap(raw map[string]json.RawMessage) (Measurement, error) {
	var m Measurement
	str := func(k string, dst *string) error {
		v, ok := raw[k]
		if !ok || string(v) == "null" {
			return nil
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && !bytes.ContainsAny(v[1:len(v)-1], "\\\"") {
			*dst = string(v[1 : len(v)-1]) // the common case, without escapes
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return &fieldError{k, fmt.Errorf("want a string, got %s", v)}
		}
		return nil
	}
	num := func(k string) (float64, bool, error) {
		v, ok := raw[k]
		if !ok || string(v) == "null" {
			return 0, false, nil
		}
		// v is valid JSON, so a number literal here is also valid Go float syntax
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			return 0, false, &fieldError{k, fmt.Errorf("want a number, got %s", v)}
		}
		return f, true, nil
	}
	integer := func(k string) (int, error) {
		f, ok, err := num(k)
		if err != nil || !ok {
			return 0, err
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<31 {
			return 0, &fieldError{k, fmt.Errorf("want an integer, got %s", raw[k])}
		}
		return int(f), nil
	}
	var err error
	var platform string
	if err = str("platform", &platform); err != nil {
		return m, err
	}
	m.Platform = Platform(platform)
	if err = str("hardware", &m.Hardware); err != nil {
		return m, err
	}
	if err = str("dtype", &m.DType); err != nil {
		return m, err
	}
	if err = str("sharing", &m.Sharing); err != nil {
		return m, err
	}
	if m.MemoryMB, err = integer("memory_mb"); err != nil {
		return m, err
	}
	if m.Colocated, err = integer("colocated"); err != nil {
		return m, err
	}
	if m.Batch, err = integer("batch"); err != nil {
		return m, err
	}
	if m.VCPUs, _, err = num("vcpus"); err != nil {
		return m, err
	}
	if m.MPSPct, _, err = num("mps_active_thread_pct"); err != nil {
		return m, err
	}
	if m.Size, _, err = num("size"); err != nil {
		return m, err
	}
	if m.LatencyMs, m.hasLatency, err = num("latency_ms"); err != nil {
		return m, err
	}
	for _, k := range optionalNumbers {
		f, ok, err := num(k)
		if err != nil {
			return m, err
		}
		if ok {
			if m.Optional == nil {
				m.Optional = map[string]float64{}
			}
			m.Optional[k] = f
		}
	}
	for k, v := range raw {
		if !slices.Contains(knownFields, k) {
			if m.Extra == nil {
				m.Extra = map[string]json.RawMessage{}
			}
			m.Extra[k] = v
		}
	}
	return m, nil
}

// Key identifies a measured configuration: everything about a measurement except batch and size.
type Key struct {
	Platform  Platform
	Hardware  string
	MemoryMB  int
	VCPUs     float64
	DType     string
	Sharing   string
	Colocated int
	MPSPct    float64
}

// Key returns the configuration the measurement belongs to.
func (m *Measurement) Key() Key {
	return Key{m.Platform, m.Hardware, m.MemoryMB, m.VCPUs, m.DType, m.Sharing, m.Colocated, m.MPSPct}
}

// String describes the configuration briefly, e.g. "lambda lambda-x86_64 2048 MB".
func (k Key) String() string {
	parts := []string{string(k.Platform)}
	if k.Hardware != "" {
		parts = append(parts, k.Hardware)
	}
	if k.MemoryMB > 0 {
		parts = append(parts, fmt.Sprintf("%d MB", k.MemoryMB))
	}
	if k.VCPUs > 0 {
		parts = append(parts, fmt.Sprintf("%g vCPU", k.VCPUs))
	}
	if k.DType != "" {
		parts = append(parts, k.DType)
	}
	if k.Sharing != "" {
		parts = append(parts, k.Sharing)
	}
	if k.Colocated > 0 {
		parts = append(parts, fmt.Sprintf("%d colocated", k.Colocated))
	}
	if k.MPSPct > 0 {
		parts = append(parts, fmt.Sprintf("MPS %g%%", k.MPSPct))
	}
	return strings.Join(parts, " ")
}

type pointKey struct {
	Key
	batch int
	size  float64
}

func (p *Profile) validate(name string) error {
	bad := func(m *Measurement, i int, field, format string, args ...any) error {
		return inputerr.New(name, m.Line, fmt.Sprintf("measurements[%d].%s", i, field), format, args...)
	}
	if p.Version != Version {
		return inputerr.New(name, 1, "version", "version %d is not supported (this reader knows version %d)", p.Version, Version)
	}
	if len(p.Measurements) == 0 {
		return inputerr.New(name, 1, "measurements", "no measurements")
	}
	first := map[pointKey]int{} // first index of each point
	count := map[pointKey]int{}
	for i := range p.Measurements {
		m := &p.Measurements[i]
		switch m.Platform {
		case Lambda, CPU, GPU:
		case "":
			return bad(m, i, "platform", "missing (lambda, cpu or gpu)")
		default:
			return bad(m, i, "platform", "%q is not lambda, cpu or gpu", m.Platform)
		}
		if m.Platform == Lambda {
			if m.MemoryMB == 0 {
				return bad(m, i, "memory_mb", "missing: a Lambda measurement needs its memory size")
			}
			if m.MemoryMB < 128 || m.MemoryMB > 10240 {
				return bad(m, i, "memory_mb", "%d MB is outside Lambda's 128–10,240 MB", m.MemoryMB)
			}
		} else if m.MemoryMB < 0 {
			return bad(m, i, "memory_mb", "%d is negative", m.MemoryMB)
		}
		if m.Batch < 1 {
			return bad(m, i, "batch", "missing or below 1")
		}
		if !(m.Size > 0) || math.IsInf(m.Size, 0) {
			return bad(m, i, "size", "missing or not positive")
		}
		if !m.hasLatency && m.LatencyMs > 0 {
			m.hasLatency = true // built in code rather than read
		}
		if !m.hasLatency {
			// A sharing sweep records percentiles per worker; its median is the latency.
			if p50, ok := m.Optional["latency_p50_ms"]; ok {
				m.LatencyMs, m.hasLatency = p50, true
			} else {
				return bad(m, i, "latency_ms", "missing")
			}
		}
		if m.LatencyMs < 0 || math.IsInf(m.LatencyMs, 0) {
			return bad(m, i, "latency_ms", "%g is negative", m.LatencyMs)
		}
		for _, k := range optionalNumbers {
			if v, ok := m.Optional[k]; ok && v < 0 {
				return bad(m, i, k, "%g is negative", v)
			}
		}
		if m.VCPUs < 0 {
			return bad(m, i, "vcpus", "%g is negative", m.VCPUs)
		}
		if m.Colocated < 0 {
			return bad(m, i, "colocated", "%d is negative", m.Colocated)
		}
		if m.MPSPct < 0 || m.MPSPct > 100 {
			return bad(m, i, "mps_active_thread_pct", "%g is outside 0–100", m.MPSPct)
		}
		switch m.Sharing {
		case "", "time-slice", "mps", "mig":
		default:
			return bad(m, i, "sharing", "%q is not time-slice, mps or mig", m.Sharing)
		}
		// A co-located group of N workers records one row per worker; anything beyond that is a duplicate.
		pk := pointKey{m.Key(), m.Batch, m.Size}
		count[pk]++
		if count[pk] == 1 {
			first[pk] = i
		} else if count[pk] > max(1, m.Colocated) {
			j := first[pk]
			return bad(m, i, "", "duplicate measurement of batch %d, size %g on %s (first at line %d)",
				m.Batch, m.Size, m.Key(), p.Measurements[j].Line)
		}
	}
	return nil
}

// Validate checks a profile built in code (a measured one, say) by the same rules as a file.
func (p *Profile) Validate() error {
	return p.validate("profile")
}

// Write writes the profile as JSON: one measurement per line, known fields first in a fixed order, then unknown
// fields sorted by name.
func (p *Profile) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "{\n  \"version\": %d", p.Version)
	for _, kv := range []struct{ k, v string }{{"model", p.Model}, {"size_unit", p.SizeUnit}, {"source", p.Source}} {
		if kv.v != "" {
			fmt.Fprintf(bw, ",\n  %s: %s", jsonString(kv.k), jsonString(kv.v))
		}
	}
	for _, k := range sortedKeys(p.Extra) {
		fmt.Fprintf(bw, ",\n  %s: %s", jsonString(k), compact(p.Extra[k]))
	}
	bw.WriteString(",\n  \"measurements\": [")
	for i := range p.Measurements {
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n    ")
		bw.Write(p.Measurements[i].appendJSON(nil))
	}
	bw.WriteString("\n  ]\n}\n")
	return bw.Flush()
}

// WriteFile writes the profile to path.
func (p *Profile) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (m *Measurement) appendJSON(b []byte) []byte {
	b = append(b, '{')
	n := 0
	sep := func(k string) {
		if n > 0 {
			b = append(b, ", "...)
		}
		n++
		b = append(b, jsonString(k)...)
		b = append(b, ": "...)
	}
	str := func(k, v string) {
		if v != "" {
			sep(k)
			b = append(b, jsonString(v)...)
		}
	}
	num := func(k string, v float64) {
		sep(k)
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	str("platform", string(m.Platform))
	str("hardware", m.Hardware)
	if m.MemoryMB != 0 {
		num("memory_mb", float64(m.MemoryMB))
	}
	if m.VCPUs != 0 {
		num("vcpus", m.VCPUs)
	}
	str("dtype", m.DType)
	str("sharing", m.Sharing)
	if m.Colocated != 0 {
		num("colocated", float64(m.Colocated))
	}
	if m.MPSPct != 0 {
		num("mps_active_thread_pct", m.MPSPct)
	}
	num("batch", float64(m.Batch))
	num("size", m.Size)
	num("latency_ms", m.LatencyMs)
	for _, k := range optionalNumbers {
		if v, ok := m.Optional[k]; ok {
			num(k, v)
		}
	}
	for _, k := range sortedKeys(m.Extra) {
		sep(k)
		b = append(b, compact(m.Extra[k])...)
	}
	return append(b, '}')
}

// jsonString quotes s as JSON (strconv.Quote's Go escapes such as \x7f are not JSON).
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func compact(raw json.RawMessage) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// lineIndex maps byte offsets to 1-based line numbers.
type lineIndex struct {
	data   []byte
	starts []int64
}

func newLineIndex(data []byte) lineIndex {
	starts := []int64{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, int64(i+1))
		}
	}
	return lineIndex{data, starts}
}

func (l lineIndex) line(off int64) int {
	i, found := slices.BinarySearch(l.starts, off)
	if found {
		return i + 1
	}
	return i
}

// lineAfter is the line of the first byte at or after off that is not whitespace or a comma: where the next
// array element starts.
func (l lineIndex) lineAfter(off int64) int {
	for off < int64(len(l.data)) {
		switch l.data[off] {
		case ' ', '\t', '\r', '\n', ',':
			off++
			continue
		}
		break
	}
	return l.line(off)
}
