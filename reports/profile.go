package reports

import (
	"fmt"

	"github.com/inferplan/inferplan/profiler/latency"
)

// ProfileSummary is what `profile show` prints.
type ProfileSummary latency.Summary

// Document renders the summary of the profile in file name.
func (s ProfileSummary) Document(name string) *Document {
	d := &Document{Title: fmt.Sprintf("Profile %s: %s, %s measurements, sizes in %s", name, s.Model, Thousands(float64(s.Measurements), 0), s.SizeUnit)}
	if s.Source != "" {
		d.Lines = append(d.Lines, "Source: "+s.Source)
	}
	sec := Section{Columns: []Column{{"Configuration", false}, {"Points", true}, {"Batches", true}, {"Sizes", true},
		{"Latency", true}, {"Fit MAPE", true}, {"Held out (max)", true}}}
	for _, c := range s.Configs {
		fit, held := "–", "–"
		if c.Fit != nil {
			fit = fmt.Sprintf("%.1f%%", c.Fit.MAPE)
			if c.Fit.HeldOutMAPE != nil {
				held = fmt.Sprintf("%.1f%% (%.1f%%)", *c.Fit.HeldOutMAPE, *c.Fit.HeldOutMaxAPE)
			}
		}
		sec.Rows = append(sec.Rows, []string{c.Config, Thousands(float64(c.Points), 0), fmt.Sprintf("%d–%d", c.MinBatch, c.MaxBatch),
			Num(c.MinSize) + "–" + Num(c.MaxSize), Ms(c.MinMs) + " – " + Ms(c.MaxMs), fit, held})
	}
	sec.Notes = append(sec.Notes, "Fit per configuration: t = "+latency.Shape.String()+" (n = batch, s = size), least squares on relative error.")
	if f := s.LambdaFit; f != nil {
		line := fmt.Sprintf("Lambda, one model across memory sizes: MAPE %.1f%%", f.MAPE)
		if f.HeldOutMAPE != nil {
			line += fmt.Sprintf(", %.1f%% held out (max %.1f%%)", *f.HeldOutMAPE, *f.HeldOutMaxAPE)
		}
		sec.Notes = append(sec.Notes, line+"; t = "+f.Form+".")
	}
	d.Sections = append(d.Sections, sec)
	return d
}
