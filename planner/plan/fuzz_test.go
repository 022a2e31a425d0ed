package plan

import (
	"errors"
	"os"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// FuzzParse checks the plan reader never panics, reports every failure as an input error naming the file, and
// writes back what it accepts so that reading that again gives the same plan. Seeds: a Lambda and a cluster plan.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/v1-example-window.json", "testdata/cluster-plan.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"version": 1, "platform": "cluster", "services": [], "pools": []}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "p.json")
		if err != nil {
			var ie *inputerr.Error
			if !errors.As(err, &ie) || ie.File != "p.json" {
				t.Fatalf("error %v is not an input error naming the file", err)
			}
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("a plan that parsed does not marshal: %v", err)
		}
		q, err := Parse(out, "again.json")
		if err != nil {
			t.Fatalf("the plan written back does not parse: %v\n%s", err, out)
		}
		again, _ := q.Marshal()
		if string(again) != string(out) {
			t.Fatal("a plan written twice differs")
		}
	})
}
