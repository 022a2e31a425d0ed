package reports

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"

	"github.com/inferplan/inferplan/planner/explain"
	"github.com/inferplan/inferplan/planner/plan"
)

// HTML writes the document as HTML fragments: a heading, paragraphs and tables.
func (d *Document) HTML(w io.Writer) {
	if d.Title != "" {
		fmt.Fprintf(w, "<h1>%s</h1>\n", html.EscapeString(d.Title))
	}
	for _, l := range d.Lines {
		fmt.Fprintf(w, "<p class=\"meta\">%s</p>\n", html.EscapeString(strings.TrimSpace(l)))
	}
	for _, s := range d.Sections {
		if s.Title != "" {
			fmt.Fprintf(w, "<h2>%s</h2>\n", html.EscapeString(s.Title))
		}
		fmt.Fprint(w, "<table>\n<thead><tr>")
		for _, c := range s.Columns {
			fmt.Fprintf(w, "<th%s>%s</th>", alignAttr(c.Right), html.EscapeString(c.Name))
		}
		fmt.Fprint(w, "</tr></thead>\n<tbody>\n")
		for _, r := range s.Rows {
			fmt.Fprint(w, "<tr>")
			for i, cell := range r {
				right := i < len(s.Columns) && s.Columns[i].Right
				fmt.Fprintf(w, "<td%s>%s</td>", alignAttr(right), html.EscapeString(cell))
			}
			fmt.Fprint(w, "</tr>\n")
		}
		fmt.Fprint(w, "</tbody>\n</table>\n")
		for _, n := range s.Notes {
			fmt.Fprintf(w, "<p class=\"note\">%s</p>\n", html.EscapeString(n))
		}
	}
	for _, n := range d.Notes {
		fmt.Fprintf(w, "<p class=\"note\">%s</p>\n", html.EscapeString(n))
	}
}

func alignAttr(right bool) string {
	if right {
		return ` class="num"`
	}
	return ""
}

const pageStyle = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d2329}
h1{font-size:1.45em}h2{font-size:1.15em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border-bottom:1px solid #dde1e5;padding:.3em .7em;text-align:left}
th{background:#f4f6f8}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
p.meta{margin:.2em 0;color:#4a545e;font-size:.92em}p.note{color:#4a545e;font-size:.85em}
figure{margin:1.6em 0}figure svg{max-width:100%;height:auto}figcaption{color:#4a545e;font-size:.88em}
.charts{display:grid;grid-template-columns:1fr;gap:.5em}`

// svgHeader strips the XML prolog so the SVG can sit inline in the page.
var svgHeader = regexp.MustCompile(`(?s)^<\?xml[^>]*>\s*(<!DOCTYPE[^>]*>\s*)?`)

// RenderHTML writes a self-contained HTML report of a plan: its summary tables, then the charts inline as SVG
// (no scripts, no external files).
func RenderHTML(w io.Writer, d *explain.Data, charts []Chart) error {
	return renderPage(w, PlanDocument(d.Plan), 2, charts, "Every number is a replay of the trace through the buffers (contract §4).")
}

// RenderClusterHTML writes a self-contained HTML report of a cluster plan, as RenderHTML does for Lambda plans.
func RenderClusterHTML(w io.Writer, p *plan.Plan, charts []Chart) error {
	return renderPage(w, PlanDocument(p), 2, charts, "Every number is the plan's replay of its workload's traces through the fleet it describes.")
}

// renderPage writes the document's first lead sections, the charts, then the rest of the document.
func renderPage(w io.Writer, doc *Document, lead int, charts []Chart, footer string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n",
		html.EscapeString(doc.Title), pageStyle)
	first, rest := doc.Sections, []Section(nil)
	if len(first) > lead {
		first, rest = doc.Sections[:lead], doc.Sections[lead:]
	}
	(&Document{Title: doc.Title, Lines: doc.Lines, Sections: first}).HTML(&b)
	fmt.Fprint(&b, "<div class=\"charts\">\n")
	for i := range charts {
		svg, err := charts[i].SVG()
		if err != nil {
			return fmt.Errorf("chart %s: %w", charts[i].Name, err)
		}
		fmt.Fprintf(&b, "<figure id=\"chart-%s\">\n%s\n<figcaption>%s</figcaption>\n</figure>\n",
			charts[i].Name, svgHeader.ReplaceAll(svg, nil), html.EscapeString(charts[i].Caption))
	}
	fmt.Fprint(&b, "</div>\n")
	(&Document{Sections: rest, Notes: doc.Notes}).HTML(&b)
	fmt.Fprintf(&b, "<p class=\"note\">Made by inferplan. %s</p>\n</body>\n</html>\n", html.EscapeString(footer))
	_, err := w.Write(b.Bytes())
	return err
}
