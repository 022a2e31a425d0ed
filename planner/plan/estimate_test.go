package plan

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

func TestParseRejectsEstimatesOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		line           int
		field          string
	}{
		// the estimate of `good` is on lines 10–11
		{"attainment above 1", `"slo_attainment": 0.988`, `"slo_attainment": 7`, 11, "estimate.slo_attainment"},
		{"negative cost per million", `"cost_per_million_usd": 62.69`, `"cost_per_million_usd": -5`, 10, "estimate.cost_per_million_usd"},
		{"negative cost", `"cost_usd": 0.3778`, `"cost_usd": -0.1`, 10, "estimate.cost_usd"},
		{"more invocations than requests", `"invocations": 1063`, `"invocations": 7000`, 10, "estimate.invocations"},
		{"no requests", `"requests": 6026`, `"requests": 0`, 10, "estimate.requests"},
		{"unknown method", `"method": "replay"`, `"method": "guess"`, 10, "estimate.method"},
		{"percentiles out of order", `"latency_p95_ms": 17000`, `"latency_p95_ms": 27000`, 11, "estimate.latency_p95_ms"},
		{"negative padding", `"padding_ratio": 0.096`, `"padding_ratio": -1`, 11, "estimate.padding_ratio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(good, tc.from, tc.to, 1)
			if doc == good {
				t.Fatal("the replacement did not apply")
			}
			_, err := Parse([]byte(doc), "p.json")
			var ie *inputerr.Error
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an input error", err)
			}
			if ie.File != "p.json" || ie.Line != tc.line || ie.Field != tc.field {
				t.Fatalf("err = %q (line %d, field %q); want line %d, field %q", err, ie.Line, ie.Field, tc.line, tc.field)
			}
		})
	}
}

func TestEstimatePresence(t *testing.T) {
	// a plan without an estimate still parses (serve and apply need only its buffers) …
	start := strings.Index(good, `,
  "estimate"`)
	doc := good[:start] + "\n}"
	p, err := Parse([]byte(doc), "p.json")
	if err != nil {
		t.Fatal(err)
	}
	// … but a command that reads the estimate is told it is missing, as an input error on the field
	err = p.RequireEstimate()
	var ie *inputerr.Error
	if !errors.As(err, &ie) || ie.Field != "estimate" || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("RequireEstimate: %v", err)
	}
	if q, _ := Parse([]byte(good), "p.json"); q.RequireEstimate() != nil {
		t.Error("a plan with an estimate reported missing")
	}
	// a baseline's estimate is checked too
	withBaseline := strings.Replace(good, `"padding_ratio": 0.096}`, `"padding_ratio": 0.096},
  "baselines": [{"name": "single-buffer", "buffers": [], "estimate": {"method": "replay", "requests": 10, "cost_usd": -1}}]`, 1)
	if _, err := Parse([]byte(withBaseline), "p.json"); !errors.As(err, &ie) || ie.Field != "baselines[0].estimate.cost_usd" {
		t.Fatalf("baseline with a negative cost: %v", err)
	}
}

func TestValidationRoundTrips(t *testing.T) {
	p, err := Parse([]byte(good), "p.json")
	if err != nil {
		t.Fatal(err)
	}
	p.Validation = &Validation{Method: ValidationHoldout, HeldOutFraction: 0.5, InSample: p.Estimate, HeldOut: p.Estimate}
	p.Search = &Search{Method: "test", Margin: &Margin{Points: 0.5, Method: "given"}}
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(data, "p.json")
	if err != nil {
		t.Fatal(err)
	}
	if q.Validation == nil || !reflect.DeepEqual(*q.Validation, *p.Validation) || *q.Search.Margin != *p.Search.Margin {
		t.Fatalf("validation %+v, margin %+v after a round trip", q.Validation, q.Search.Margin)
	}
	bad := strings.Replace(string(data), `"held_out_fraction": 0.5`, `"held_out_fraction": 1.5`, 1)
	var ie *inputerr.Error
	if _, err := Parse([]byte(bad), "p.json"); !errors.As(err, &ie) || ie.Field != "validation.held_out_fraction" || ie.Line == 0 {
		t.Fatalf("held-out fraction 1.5: %v", err)
	}
}
