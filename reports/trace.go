package reports

import (
	"fmt"

	"github.com/inferplan/inferplan/trace"
)

// TraceStatsDocument shows a trace's summary statistics.
func TraceStatsDocument(name string, st trace.Stats) *Document {
	return &Document{Title: "Trace " + name, Sections: []Section{{
		Columns: []Column{{"Statistic", false}, {"Value", true}},
		Rows: [][]string{
			{"requests", Thousands(float64(st.Requests), 0)},
			{"span", fmt.Sprintf("%s s (%.1f min)", Thousands(st.SpanS, 0), st.SpanS/60)},
			{"mean rate", fmt.Sprintf("%.2f req/s", st.MeanRPS)},
			{"peak rate (1 s windows)", fmt.Sprintf("%s req/s", Num(st.PeakRPS))},
			{"inter-arrival CV", fmt.Sprintf("%.2f", st.InterArrivalCV)},
			{"size min / mean / max", fmt.Sprintf("%s / %s / %s", Num(st.SizeMin), Num(st.SizeMean), Num(st.SizeMax))},
			{"size p50 / p90 / p99", fmt.Sprintf("%s / %s / %s", Num(st.SizeP50), Num(st.SizeP90), Num(st.SizeP99))},
		},
	}}}
}
