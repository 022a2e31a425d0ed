package reports

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestNumberFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{USD(62.694), "$62.69"},
		{USD(0.0003778), "$0.000378"},
		{USD(0), "$0"},
		{USD(12345.6), "$12,346"},
		{Thousands(1234567.891, 2), "1,234,567.89"},
		{Thousands(-1000, 0), "-1,000"},
		{Thousands(999, 0), "999"},
		{Ms(0.25), "0.25 ms"},
		{Ms(850), "850 ms"},
		{Ms(17234), "17.23 s"},
		{Ms(750_000), "12.5 min"},
		{Ms(374_304_000), "104.0 h"}, // a long trace's span, not "6238.4 min"
		{Pct(0.9876), "98.8%"},
		{Num(1e18), "∞"},
		{Num(64.5), "64.5"},
		{Num(1154.7), "1,154.7"},
		{Num(2048), "2,048"},
		// non-finite numbers are spelt out, never "$+,Inf"
		{USD(math.Inf(1)), "∞"},
		{Thousands(math.Inf(-1), 0), "-∞"},
		{Ms(math.NaN()), "–"},
		{Pct(math.Inf(1)), "∞"},
		{checkValue(math.Inf(1), "pct"), "∞"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("JSON"); err != nil || f != JSON {
		t.Fatalf("JSON: %v %v", f, err)
	}
	if _, err := ParseFormat("markdown", Table, JSON); err == nil || !strings.Contains(err.Error(), "want table, json") {
		t.Fatalf("markdown not offered: %v", err)
	}
}

func TestDocumentMarkdownEscapesPipes(t *testing.T) {
	d := &Document{Title: "T", Sections: []Section{{Columns: []Column{{"A", false}, {"B", true}}, Rows: [][]string{{"x|y", "1"}}}}}
	var buf bytes.Buffer
	if err := d.Render(&buf, Markdown); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasPrefix(out, "### T\n") || !strings.Contains(out, `x\|y`) || !strings.Contains(out, "--:|") {
		t.Fatalf("markdown:\n%s", out)
	}
}
