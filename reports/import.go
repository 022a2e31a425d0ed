package reports

import (
	"fmt"
	"slices"
	"strings"

	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/profiler/tables"
)

// ProfileImport is what `profile import` did with a published table: the profiles it wrote, the rows the
// --model/--precision selection left out, and the rows no profile can hold.
type ProfileImport struct {
	File    string            `json:"file"`
	Table   string            `json:"table"`
	Dir     string            `json:"dir"`
	Rows    int               `json:"rows"`
	Written []ImportedProfile `json:"written"`
	// LeftOut counts the profiles (and their rows) the selection did not ask for; Selection says what it was.
	LeftOut     int           `json:"left_out_profiles"`
	LeftOutRows int           `json:"left_out_rows"`
	Selection   string        `json:"selection,omitempty"`
	Skipped     []tables.Skip `json:"skipped"`
	Notes       []string      `json:"notes"`
}

// ImportedProfile is one profile file written.
type ImportedProfile struct {
	File     string    `json:"file"` // name in Dir
	Model    string    `json:"model"`
	Platform string    `json:"platform"`
	Hardware string    `json:"hardware"`
	VCPUs    float64   `json:"vcpus,omitempty"`
	DType    string    `json:"dtype"`
	Points   int       `json:"points"`
	Batches  []int     `json:"batches"`
	Sizes    []float64 `json:"sizes"`
	MinMs    float64   `json:"min_latency_ms"`
	MaxMs    float64   `json:"max_latency_ms"`
}

// NewImportedProfile describes profile p written as file.
func NewImportedProfile(file string, p *profile.Profile) ImportedProfile {
	m0 := p.Measurements[0]
	ip := ImportedProfile{File: file, Model: p.Model, Platform: string(m0.Platform), Hardware: m0.Hardware, VCPUs: m0.VCPUs,
		DType: m0.DType, Points: len(p.Measurements), MinMs: m0.LatencyMs, MaxMs: m0.LatencyMs}
	for _, m := range p.Measurements {
		if !slices.Contains(ip.Batches, m.Batch) {
			ip.Batches = append(ip.Batches, m.Batch)
		}
		if !slices.Contains(ip.Sizes, m.Size) {
			ip.Sizes = append(ip.Sizes, m.Size)
		}
		ip.MinMs, ip.MaxMs = min(ip.MinMs, m.LatencyMs), max(ip.MaxMs, m.LatencyMs)
	}
	slices.Sort(ip.Batches)
	slices.Sort(ip.Sizes)
	return ip
}

// Document renders the import as a report.
func (r ProfileImport) Document() *Document {
	d := &Document{Title: fmt.Sprintf("Imported %s (%s table): %d profile%s written to %s", r.File, r.Table, len(r.Written), plural(len(r.Written)), r.Dir)}
	written := 0
	for _, w := range r.Written {
		written += w.Points
	}
	skipped := 0
	for _, s := range r.Skipped {
		skipped += s.Rows
	}
	line := fmt.Sprintf("%s rows read: %s in the profiles written", Thousands(float64(r.Rows), 0), Thousands(float64(written), 0))
	if r.LeftOut > 0 {
		line += fmt.Sprintf(", %s left out by %s (%d profile%s)", Thousands(float64(r.LeftOutRows), 0), r.Selection, r.LeftOut, plural(r.LeftOut))
	}
	d.Lines = append(d.Lines, line+fmt.Sprintf(", %s skipped.", Thousands(float64(skipped), 0)))

	sec := Section{Title: "Written", Columns: []Column{{"File", false}, {"Model", false}, {"Platform", false}, {"Hardware", false},
		{"DType", false}, {"Batches", true}, {"Sizes (tokens)", true}, {"Latency (mean)", true}}}
	for _, w := range r.Written {
		hw := w.Hardware
		if w.VCPUs > 0 {
			hw += fmt.Sprintf(" (%g vCPU)", w.VCPUs)
		}
		sec.Rows = append(sec.Rows, []string{w.File, w.Model, w.Platform, hw, w.DType, intRange(w.Batches), sizeRange(w.Sizes),
			Ms(w.MinMs) + " – " + Ms(w.MaxMs)})
	}
	d.Sections = append(d.Sections, sec)

	if len(r.Skipped) > 0 {
		// Reasons are long and shared by many groups: number them once under the table.
		var reasons []string
		sk := Section{Title: "Skipped: rows no profile can hold", Columns: []Column{{"Model", false}, {"Hardware", false},
			{"Rows", true}, {"Lines", false}, {"Why", false}}}
		for _, s := range r.Skipped {
			i := slices.Index(reasons, s.Reason)
			if i < 0 {
				reasons = append(reasons, s.Reason)
				i = len(reasons) - 1
			}
			sk.Rows = append(sk.Rows, []string{s.Model, s.Hardware, Thousands(float64(s.Rows), 0), lineRanges(s.Lines), fmt.Sprintf("[%d]", i+1)})
		}
		for i, reason := range reasons {
			sk.Notes = append(sk.Notes, fmt.Sprintf("[%d] %s.", i+1, reason))
		}
		d.Sections = append(d.Sections, sk)
	}
	d.Notes = append(d.Notes, r.Notes...)
	d.Notes = append(d.Notes, "Each profile's source and provenance fields name the upstream repository, file, revision and licence.")
	return d
}

// intRange shows sorted values as "1–128 (10)", or the value alone.
func intRange(v []int) string {
	switch len(v) {
	case 0:
		return "–"
	case 1:
		return fmt.Sprint(v[0])
	}
	return fmt.Sprintf("%d–%d (%d)", v[0], v[len(v)-1], len(v))
}

// sizeRange lists two sizes ("128, 384") and shows more as a range with a count.
func sizeRange(v []float64) string {
	switch len(v) {
	case 0:
		return "–"
	case 1:
		return Num(v[0])
	case 2:
		return Num(v[0]) + ", " + Num(v[1])
	}
	return fmt.Sprintf("%s–%s (%d)", Num(v[0]), Num(v[len(v)-1]), len(v))
}

// lineRanges writes ascending line numbers as runs: "44–50, 60".
func lineRanges(lines []int) string {
	var parts []string
	for i := 0; i < len(lines); {
		j := i
		for j+1 < len(lines) && lines[j+1] == lines[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d–%d", lines[i], lines[j]))
		} else {
			parts = append(parts, fmt.Sprint(lines[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
