package reports

import (
	"fmt"
	"strconv"

	"github.com/inferplan/inferplan/deploy"
	"github.com/inferplan/inferplan/planner/plan"
)

// ApplyDocument is what `apply` will change on a Lambda function: for every buffer, the alias, the version and
// memory it runs now, and the version and memory it will run.
func ApplyDocument(function string, p *plan.Plan, changes []deploy.AliasChange) *Document {
	n := len(p.Lambda.Buffers)
	d := &Document{Title: fmt.Sprintf("Lambda function %s: %d buffer%s of the plan", function, n, plural(n))}
	sizes := "Sizes"
	if p.SizeUnit != "" {
		sizes += " (" + p.SizeUnit + ")"
	}
	sec := Section{Columns: []Column{{Name: "Buffer", Right: true}, {Name: sizes}, {Name: "Alias"}, {Name: "Now"},
		{Name: "Plan"}, {Name: "Action"}}}
	for i, c := range changes {
		now := "—"
		if c.FromVersion != "" {
			now = fmt.Sprintf("version %s, %s MB", c.FromVersion, Thousands(float64(c.FromMemoryMB), 0))
		}
		to := "new version"
		if c.ToVersion != "" {
			to = "version " + c.ToVersion
		}
		to += ", " + Thousands(float64(c.MemoryMB), 0) + " MB"
		if c.Action == deploy.ActionStale || c.Action == deploy.ActionDelete {
			to = "— (no such buffer)"
		}
		action := c.Action
		if c.Publish && c.Action != deploy.ActionNone {
			action = "publish + " + action
		}
		rng := ""
		if bufs := p.Lambda.Buffers; i < len(bufs) {
			rng = Num(bufs[i].MinSize) + "–" + Num(bufs[i].MaxSize)
		}
		sec.Rows = append(sec.Rows, []string{strconv.Itoa(c.Buffer), rng, c.Alias, now, to, action})
	}
	if k := deploy.Stale(changes); k > 0 {
		sec.Notes = append(sec.Notes, fmt.Sprintf("%d alias%s of buffers this plan does not have: nothing routes to %s, but %s its version; --prune deletes %s.",
			k, map[bool]string{true: "", false: "es"}[k == 1], map[bool]string{true: "it", false: "them"}[k == 1],
			map[bool]string{true: "it keeps", false: "each keeps"}[k == 1], map[bool]string{true: "it", false: "them"}[k == 1]))
	}
	d.Sections = append(d.Sections, sec)
	return d
}
