// Package tables reads latency tables that others have published and turns them into profiles (contract §3.2),
// with where every number came from recorded in the profile: its source text and a "provenance" object.
//
// Two tables are understood, both described in ../shared/data/latency/README.md:
//   - TensorRTBERT: NVIDIA's TensorRT BERT results (A100 40 GB, A30, L40S, T4; batch 1–128 × sequence length
//     128 and 384; INT8, FP16 and sparse INT8). One profile per (model, GPU, precision).
//   - HFEncoderBatch1: Hugging Face encoders at batch 1 on c6i.2xlarge, g5.2xlarge, inf1.2xlarge and inf2.xlarge
//     (sequence length 8–512). One profile per (model, instance type); Inferentia rows are skipped and reported.
//
// # Hardware ids
//
// The cluster planner joins profiles with EC2 instance types, so a hardware id says which EC2 hardware it means:
//   - a GPU is "nvidia-<gpu>[-<qualifier>…]", where <gpu> is the GPU's short name exactly as EC2 reports it
//     (gpu_name in the instance catalog: t4, a10g, a100, l40s, h100, …) and qualifiers tell apart variants EC2
//     sells under one name (nvidia-a100-40gb: p4d has 40 GB A100s, p4de 80 GB). GPUName recovers <gpu>; the
//     measured profiles' "nvidia-h100-80gb-hbm3" follows the same rule.
//   - a whole CPU instance is "ec2-<instance type>" (ec2-c6i.2xlarge), with its vCPUs in vcpus; InstanceType
//     recovers the type.
//
// # Model names
//
// Names are those of the measured profiles in ../shared/data/profiles (distilbert, bert-base, bert-large), so a
// published profile and a measured one of the same architecture can be compared: see TensorRTBERT and
// HFEncoderBatch1 for each table's mapping. Weights do not matter to latency; the architecture does.
package tables

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/pricing"
	"github.com/inferplan/inferplan/profiler/profile"
)

// Options configure a reader.
type Options struct {
	// Catalog is the EC2 instance catalog: it maps an instance type to its CPU, GPU or Inferentia hardware, and
	// says whether a GPU is offered on EC2 at all. Nil means the embedded snapshot.
	Catalog *pricing.Catalog
}

func (o Options) catalog() *pricing.Catalog {
	if o.Catalog != nil {
		return o.Catalog
	}
	return pricing.Embedded()
}

// Result is what a table turned into.
type Result struct {
	// Profiles, one per configuration, sorted by model, hardware and dtype.
	Profiles []*profile.Profile
	// Skipped lists the rows that cannot be expressed as a profile, grouped by model and hardware, with why.
	Skipped []Skip
	// Rows is the number of data rows read.
	Rows int
	// Notes are things a user of these profiles must know (caveats of the method, hardware EC2 does not offer).
	Notes []string
}

// Skip is a group of rows that were not turned into a profile.
type Skip struct {
	Model    string `json:"model"`    // inferplan's name for the model
	Hardware string `json:"hardware"` // what the table calls the hardware (an instance type, a GPU)
	Rows     int    `json:"rows"`
	Lines    []int  `json:"lines"` // line numbers in the table, ascending
	Reason   string `json:"reason"`
}

// Provenance is the machine-readable part of a profile's origin, written as its top-level "provenance" field
// (an unknown field to the profile package, kept on rewrite) so tools can say "published", "measured" or
// "derived" without parsing the source text.
type Provenance struct {
	Kind       string `json:"kind"`  // always "published" here: numbers copied from someone else's table
	Table      string `json:"table"` // the table file read (base name)
	Repository string `json:"repository"`
	Path       string `json:"path"`     // file in the repository the numbers come from
	Revision   string `json:"revision"` // git revision the numbers were read at
	License    string `json:"license"`
	Software   string `json:"software,omitempty"`      // e.g. "TensorRT 10.11"
	Hardware   string `json:"hardware_name,omitempty"` // the hardware as the table names it
	Precision  string `json:"precision,omitempty"`     // the precision as the table names it
	Upstream   string `json:"upstream_model,omitempty"`
	Instance   string `json:"instance_type,omitempty"`
}

// ProvenanceOf returns a profile's provenance field, if it has one that decodes.
func ProvenanceOf(p *profile.Profile) (Provenance, bool) {
	var pv Provenance
	raw, ok := p.Extra["provenance"]
	if !ok || json.Unmarshal(raw, &pv) != nil {
		return Provenance{}, false
	}
	return pv, true
}

// GPUName returns the EC2 GPU name in a GPU hardware id ("nvidia-a100-40gb" → "a100"), or "" when hardware is
// not of the form nvidia-<gpu>[-…]. EC2 names can contain hyphens (rtx-pro-4500), so the longest name EC2 uses
// that ends at a hyphen wins; an unknown GPU is the part up to the first hyphen.
func GPUName(hardware string) string {
	rest, ok := strings.CutPrefix(hardware, "nvidia-")
	if !ok || rest == "" {
		return ""
	}
	best := ""
	for _, n := range ec2GPUNames() {
		if len(n) > len(best) && (rest == n || strings.HasPrefix(rest, n+"-")) {
			best = n
		}
	}
	if best != "" {
		return best
	}
	name, _, _ := strings.Cut(rest, "-")
	return name
}

// InstanceType returns the instance type in a CPU instance's hardware id ("ec2-c6i.2xlarge" → "c6i.2xlarge"),
// or "" when hardware is not of that form.
func InstanceType(hardware string) string {
	t, _ := strings.CutPrefix(hardware, "ec2-")
	if t == hardware {
		return ""
	}
	return t
}

var ec2GPUNames = sync.OnceValue(func() []string {
	var names []string
	for _, in := range pricing.Embedded().Instances(pricing.Filter{}) {
		if in.GPU != nil && !slices.Contains(names, in.GPU.Name) {
			names = append(names, in.GPU.Name)
		}
	}
	slices.Sort(names)
	return names
})

// FileName is a profile's file name: <platform>-<hardware>-<model>-<dtype>.json with the hardware id's "nvidia-"
// or "ec2-" prefix dropped, as the measured profiles are named (gpu-h100-bert-base-float16.json). It is
// deterministic and distinct for distinct configurations of one table. It uses the first measurement: every
// profile these readers make has one configuration.
func FileName(p *profile.Profile) string {
	if len(p.Measurements) == 0 {
		return safeName(p.Model) + ".json"
	}
	m := p.Measurements[0]
	hw := strings.TrimPrefix(strings.TrimPrefix(m.Hardware, "nvidia-"), "ec2-")
	parts := []string{string(m.Platform), hw, p.Model}
	if m.DType != "" {
		parts = append(parts, m.DType)
	}
	for i, s := range parts {
		parts[i] = safeName(s)
	}
	return strings.Join(parts, "-") + ".json"
}

// safeName keeps a file-name part to lower-case letters, digits, dots, hyphens and underscores, so a model
// name from a table cannot reach outside the output folder or need quoting in a shell.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), ".-")
	if out == "" {
		return "x"
	}
	return out
}

// slug lower-cases a name and joins its words with hyphens: "Megatron Large with Sparsity" →
// "megatron-large-with-sparsity", "BERT-base" → "bert-base".
func slug(s string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' {
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
		} else {
			hyphen = true
		}
	}
	return b.String()
}

// table reads a CSV file with a header row, finding the columns it needs by name so that added or reordered
// columns do not break it, and reports bad cells as file:line: column errors.
type table struct {
	name  string // as given, for errors
	r     *csv.Reader
	col   map[string]int
	width int // fields in the header, which every row must have
	rec   []string
}

func openTable(r io.Reader, name string, required []string, kind string) (*table, error) {
	br := bufio.NewReader(r)
	// A byte-order mark (spreadsheet exports write one) would otherwise become part of the first column's name.
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\ufeff")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	t := &table{name: name, r: cr, col: map[string]int{}}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, inputerr.New(name, 1, "", "empty file: want a %s table with a header row", kind)
	}
	if err != nil {
		return nil, t.readErr(err)
	}
	header = slices.Clone(header) // ReuseRecord: the next Read overwrites it
	line := t.line()
	for i, h := range header {
		h = strings.TrimSpace(h)
		if _, dup := t.col[h]; dup {
			return nil, inputerr.New(name, line, h, "column appears twice in the header")
		}
		t.col[h] = i
	}
	for _, c := range required {
		if _, ok := t.col[c]; !ok {
			return nil, inputerr.New(name, line, c, "missing column: a %s table has the columns %s (this header: %s)",
				kind, strings.Join(required, ", "), strings.Join(header, ","))
		}
	}
	t.width = len(header)
	return t, nil
}

// next reads the next data row; it returns false at the end of the file.
func (t *table) next() (bool, error) {
	rec, err := t.r.Read()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, t.readErr(err)
	}
	t.rec = rec
	return true, nil
}

func (t *table) readErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return inputerr.New(t.name, pe.Line, "", "the row has a different number of fields than the header's %d", t.width)
		}
		return &inputerr.Error{File: t.name, Line: pe.Line, Err: fmt.Errorf("column %d: %w", pe.Column, pe.Err)}
	}
	return fmt.Errorf("reading %s: %w", t.name, err)
}

// line is the line the current row starts on.
func (t *table) line() int {
	l, _ := t.r.FieldPos(0)
	return l
}

// errorf reports a problem with column c of the current row, on the line the cell is on.
func (t *table) errorf(c, format string, args ...any) error {
	l, _ := t.r.FieldPos(t.col[c])
	return inputerr.New(t.name, l, c, format, args...)
}

func (t *table) str(c string) (string, error) {
	s := strings.TrimSpace(t.rec[t.col[c]])
	if s == "" {
		return "", t.errorf(c, "empty")
	}
	// JSON would turn bad bytes into U+FFFD: the profile would quietly say something other than the table
	if !utf8.ValidString(s) {
		return "", t.errorf(c, "%q is not valid UTF-8", s)
	}
	return s, nil
}

// posInt reads a whole number ≥ 1 (a batch size, a sequence length).
func (t *table) posInt(c string) (int, error) {
	s := strings.TrimSpace(t.rec[t.col[c]])
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, t.errorf(c, "%q is not a whole number ≥ 1", s)
	}
	return n, nil
}

// ms reads a latency in milliseconds; positive unless zero is allowed (a standard deviation).
func (t *table) ms(c string, zeroOK bool) (float64, error) {
	s := strings.TrimSpace(t.rec[t.col[c]])
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, t.errorf(c, "%q is not a number of milliseconds", s)
	}
	if v < 0 || v == 0 && !zeroOK {
		return 0, t.errorf(c, "%s ms is not a latency (want > 0)", s)
	}
	return v, nil
}

// group collects the rows of one future profile.
type group struct {
	key        string
	model      string
	lines      []int
	firstLine  int
	points     map[[2]int]int // (batch, size) → line, to catch a point given twice
	ms         []profile.Measurement
	constant   map[string]string // columns that must not change within a profile, with their first value
	constLines map[string]int
}

func newGroup(key, model string, line int) *group {
	return &group{key: key, model: model, firstLine: line, points: map[[2]int]int{}, constant: map[string]string{}, constLines: map[string]int{}}
}

// same checks that column c has the same value on every row of the group: one profile is one setup.
func (g *group) same(t *table, c, v string) error {
	first, ok := g.constant[c]
	if !ok {
		g.constant[c], g.constLines[c] = v, t.line()
		return nil
	}
	if v != first {
		return t.errorf(c, "%q differs from %q on line %d for the same %s: one profile must come from one setup", v, first, g.constLines[c], g.key)
	}
	return nil
}

// add records a point, refusing a second one for the same batch and size.
func (g *group) add(t *table, sizeCol string, m profile.Measurement) error {
	k := [2]int{m.Batch, int(m.Size)}
	if prev, dup := g.points[k]; dup {
		return t.errorf(sizeCol, "batch %d, size %g is already on line %d for %s", m.Batch, m.Size, prev, g.key)
	}
	g.points[k] = t.line()
	g.lines = append(g.lines, t.line())
	g.ms = append(g.ms, m)
	return nil
}

// newProfile assembles and validates a profile; measurements are sorted by batch, then size, like the measured
// profiles.
func newProfile(model, source string, pv Provenance, ms []profile.Measurement) (*profile.Profile, error) {
	slices.SortStableFunc(ms, func(a, b profile.Measurement) int {
		if a.Batch != b.Batch {
			return a.Batch - b.Batch
		}
		return cmpFloat(a.Size, b.Size)
	})
	raw, err := json.Marshal(pv)
	if err != nil {
		return nil, err
	}
	p := &profile.Profile{Version: profile.Version, Model: model, SizeUnit: "tokens", Source: source, Measurements: ms,
		Extra: map[string]json.RawMessage{"provenance": raw}}
	if err := p.Validate(); err != nil {
		// every cell was checked on the way in, so this is a bug here, not in the table
		return nil, fmt.Errorf("%s: the profile built from the table does not validate: %w", model, err)
	}
	return p, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortResult orders profiles by model, hardware and dtype, and skips by model and hardware, so output does not
// depend on row order.
func sortResult(res *Result) {
	key := func(p *profile.Profile) string {
		m := p.Measurements[0]
		return p.Model + "\x00" + m.Hardware + "\x00" + m.DType
	}
	slices.SortFunc(res.Profiles, func(a, b *profile.Profile) int { return strings.Compare(key(a), key(b)) })
	slices.SortFunc(res.Skipped, func(a, b Skip) int {
		return strings.Compare(a.Model+"\x00"+a.Hardware, b.Model+"\x00"+b.Hardware)
	})
}

func baseName(name string) string { return filepath.Base(name) }
