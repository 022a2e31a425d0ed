// Package reports renders results for people and programs. Every command builds one Document (or hands over
// the result itself for JSON) and renders it in the format asked for: compute once, render many.
package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Format is an output format.
type Format string

const (
	Table    Format = "table"
	JSON     Format = "json"
	Markdown Format = "markdown"
)

// ParseFormat checks a --format value against the formats a command offers.
func ParseFormat(s string, allowed ...Format) (Format, error) {
	if len(allowed) == 0 {
		allowed = []Format{Table, JSON, Markdown}
	}
	names := make([]string, len(allowed))
	for i, f := range allowed {
		if strings.EqualFold(s, string(f)) {
			return f, nil
		}
		names[i] = string(f)
	}
	return "", fmt.Errorf("format %q: want %s", s, strings.Join(names, ", "))
}

// Document is a titled report: lines of prose, then tables.
type Document struct {
	Title    string
	Lines    []string
	Sections []Section
	Notes    []string // after the tables
}

// Section is one table.
type Section struct {
	Title   string
	Columns []Column
	Rows    [][]string
	Notes   []string
}

// Column is a table column; Right aligns numbers.
type Column struct {
	Name  string
	Right bool
}

// Render writes the document as a terminal table or as GitHub-flavoured markdown.
func (d *Document) Render(w io.Writer, f Format) error {
	md := f == Markdown
	if d.Title != "" {
		if md {
			fmt.Fprintf(w, "### %s\n\n", d.Title)
		} else {
			fmt.Fprintf(w, "%s\n", d.Title)
		}
	}
	for _, l := range d.Lines {
		fmt.Fprintln(w, l)
	}
	if len(d.Lines) > 0 || d.Title != "" {
		fmt.Fprintln(w)
	}
	for _, s := range d.Sections {
		if s.Title != "" {
			if md {
				fmt.Fprintf(w, "**%s**\n\n", s.Title)
			} else {
				fmt.Fprintln(w, s.Title)
			}
		}
		if err := s.render(w, md); err != nil {
			return err
		}
		for _, n := range s.Notes {
			fmt.Fprintln(w, n)
		}
		fmt.Fprintln(w)
	}
	for _, n := range d.Notes {
		fmt.Fprintln(w, n)
	}
	return nil
}

func (s *Section) render(w io.Writer, md bool) error {
	align := make([]tw.Align, len(s.Columns))
	header := make([]any, len(s.Columns))
	for i, c := range s.Columns {
		align[i] = tw.AlignLeft
		if c.Right {
			align[i] = tw.AlignRight
		}
		header[i] = c.Name
	}
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	}
	if md {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	} else {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleLight)})))
	}
	t := tablewriter.NewTable(w, opts...)
	t.Header(header...)
	for _, r := range s.Rows {
		cells := make([]any, len(r))
		for i, c := range r {
			if md {
				c = strings.ReplaceAll(c, "|", `\|`)
			}
			cells[i] = c
		}
		if err := t.Append(cells...); err != nil {
			return err
		}
	}
	return t.Render()
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// nonFinite spells NaN and the infinities, which a "%.2f" would print as "+Inf" inside a "$" or a thousands
// grouping ("$+,Inf"); ok is false for a finite v.
func nonFinite(v float64) (string, bool) {
	switch {
	case math.IsNaN(v):
		return "–", true
	case math.IsInf(v, 1):
		return "∞", true
	case math.IsInf(v, -1):
		return "-∞", true
	}
	return "", false
}

// USD formats money with enough digits to see small differences: $0.000123, $1.23, $12,345.
func USD(v float64) string {
	if s, ok := nonFinite(v); ok {
		return s
	}
	a := math.Abs(v)
	switch {
	case a == 0:
		return "$0"
	case a < 0.01:
		return "$" + trimZeros(fmt.Sprintf("%.6f", v))
	case a < 1000:
		return fmt.Sprintf("$%.2f", v)
	}
	return "$" + Thousands(v, 0)
}

// Thousands formats v with the given decimals and comma thousands separators.
func Thousands(v float64, decimals int) string {
	if s, ok := nonFinite(v); ok {
		return s
	}
	s := fmt.Sprintf("%.*f", decimals, math.Abs(v))
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if v < 0 && s != strings.Repeat("0", len(s)) {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

// Ms formats a duration in milliseconds: "850 ms", "17.2 s", "12.5 min", "104.0 h".
func Ms(v float64) string {
	if s, ok := nonFinite(v); ok {
		return s
	}
	switch a := math.Abs(v); {
	case a < 10:
		return trimZeros(fmt.Sprintf("%.2f", v)) + " ms"
	case a < 1000:
		return fmt.Sprintf("%.0f ms", v)
	case a < 600_000:
		return fmt.Sprintf("%.2f s", v/1000)
	case a < 7_200_000:
		return fmt.Sprintf("%.1f min", v/60_000)
	}
	return fmt.Sprintf("%.1f h", v/3_600_000)
}

// Pct formats a fraction as a percentage with one decimal ("98.8%").
func Pct(f float64) string {
	if s, ok := nonFinite(f); ok {
		return s
	}
	return fmt.Sprintf("%.1f%%", f*100)
}

// Num formats a plain number compactly (sizes, batch means).
func Num(v float64) string {
	if v >= 1e17 {
		return "∞"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return Thousands(v, 0)
	}
	if math.Abs(v) >= 1000 {
		return Thousands(v, 1)
	}
	return trimZeros(fmt.Sprintf("%.2f", v))
}
