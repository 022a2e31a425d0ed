package fleet

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/plan"
)

// twoPools is a plan with a scaled GPU pool (1 to 2 instances, two MPS workers of service a by size range) and a
// static CPU pool (one worker of a, one of b).
func twoPools() *plan.Plan {
	w := func(svc string, lo, hi float64) plan.Worker {
		return plan.Worker{Service: svc, MinSize: lo, MaxSize: hi, BatchSize: 4, TimeoutMs: 5, Hardware: "hw"}
	}
	return &plan.Plan{Platform: plan.PlatformCluster, Cluster: &plan.Cluster{
		Services: []plan.Service{{Name: "a"}, {Name: "b"}},
		Pools: []plan.Pool{
			{InstanceType: "g5.xlarge", Count: 2, MinCount: 1, GPUs: []plan.GPU{{Index: 0, Sharing: "mps",
				Workers: []plan.Worker{w("a", 1, 128), w("a", 129, 512)}}}},
			{InstanceType: "c6i.2xlarge", Count: 1, CPUWorkers: []plan.Worker{w("a", 1, 128), w("b", 1, 512)}},
		},
	}}
}

func TestExpandFollowsTheSimulatorsOrder(t *testing.T) {
	f, err := Expand(twoPools())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, w := range f.Workers {
		if w.Index != i {
			t.Errorf("worker %s has index %d at %d", w.ID, w.Index, i)
		}
		ids = append(ids, w.ID)
	}
	want := []string{"p0-0/gpu0/w0", "p0-0/gpu0/w1", "p0-1/gpu0/w0", "p0-1/gpu0/w1", "p1-0/cpu/w0", "p1-0/cpu/w1"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("workers %v, want %v", ids, want)
	}
	if got := f.HostNames(); !reflect.DeepEqual(got, []string{"p0-0", "p0-1", "p1-0"}) {
		t.Errorf("hosts %v", got)
	}
	if !f.Hosts[0].AlwaysUp || f.Hosts[1].AlwaysUp || !f.Hosts[2].AlwaysUp {
		t.Errorf("always up: %v %v %v, want the scaled pool's second instance to come and go",
			f.Hosts[0].AlwaysUp, f.Hosts[1].AlwaysUp, f.Hosts[2].AlwaysUp)
	}
	a := f.Services[0]
	if !reflect.DeepEqual([]float64(a.Ranges), []float64{128, 512}) || !reflect.DeepEqual(a.Groups, [][]int{{0, 2, 4}, {1, 3}}) {
		t.Errorf("service a: ranges %v, groups %v", a.Ranges, a.Groups)
	}
	if b := f.Services[1]; !reflect.DeepEqual(b.Groups, [][]int{{5}}) {
		t.Errorf("service b: groups %v", b.Groups)
	}
	if w := f.Workers[3]; w.GPU != 0 || w.Sharing != "mps" || w.Host != "p0-1" || w.Group != 1 || w.BatchSize != 4 {
		t.Errorf("worker 3 = %+v", w)
	}
	if _, err := Expand(&plan.Plan{Platform: plan.PlatformLambda}); err == nil {
		t.Error("a Lambda plan expanded")
	}
}

func TestMappingResolvesEveryAlwaysUpWorker(t *testing.T) {
	f, err := Expand(twoPools())
	if err != nil {
		t.Fatal(err)
	}
	m := &Mapping{Workers: []MappedWorker{
		{ID: "p0-0/gpu0/w0", Service: "a", URL: "http://127.0.0.1:9001/"},
		{ID: "p0-0/gpu0/w1", Service: "a", URL: "http://127.0.0.1:9002"},
	}}
	cpu := &Mapping{Workers: []MappedWorker{
		{ID: "p1-0/cpu/w0", Service: "a", URL: "http://127.0.0.1:9003"},
		{ID: "p1-0/cpu/w1", Service: "b", URL: "http://127.0.0.1:9004"},
	}}
	urls, err := f.URLs(m, cpu)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://127.0.0.1:9001", "http://127.0.0.1:9002", "", "", "http://127.0.0.1:9003", "http://127.0.0.1:9004"}; !reflect.DeepEqual(urls, want) {
		t.Errorf("urls %q", urls)
	}
	for _, tc := range []struct {
		maps  []*Mapping
		words string
	}{
		{[]*Mapping{m}, "2 of the plan's workers have no URL: p1-0/cpu/w0, p1-0/cpu/w1"},
		{[]*Mapping{m, cpu, {Workers: []MappedWorker{{ID: "p9-0/cpu/w0", Service: "a", URL: "http://x"}}}}, `"p9-0/cpu/w0" is not in the plan`},
		{[]*Mapping{m, cpu, {Workers: []MappedWorker{{ID: "p0-1/gpu0/w0", Service: "b", URL: "http://x"}}}}, `serves "a" in the plan, not "b"`},
		{[]*Mapping{m, m, cpu}, "mapped twice"},
	} {
		if _, err := f.URLs(tc.maps...); err == nil || !strings.Contains(err.Error(), tc.words) {
			t.Errorf("err = %v, want %q", err, tc.words)
		}
	}
}

func TestParseMappingNamesLineAndField(t *testing.T) {
	good, err := os.ReadFile("testdata/workers.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMapping(good, "workers.json")
	if err != nil || len(m.Workers) != 2 || m.Host != "p0-0" {
		t.Fatalf("read %+v, %v", m, err)
	}
	back, err := m.Marshal()
	if err != nil || string(back) != string(good) {
		t.Errorf("written again:\n%s\nwant\n%s", back, good)
	}
	doc := string(good)
	for _, tc := range []struct{ from, to, field string }{
		{`"url": "http://127.0.0.1:9102"`, `"url": "ftp://x"`, "workers[1].url"},
		{`"id": "p0-0/gpu0/w1"`, `"id": "p0-0/gpu0/w0"`, "workers[1].id"},
		{`"service": "chat"`, `"service": ""`, "workers[1].service"},
		{`"host"`, `"hots"`, ""},
		{`"workers": [`, `"workers": 7, "x": [`, "workers"},
	} {
		_, err := ParseMapping([]byte(strings.Replace(doc, tc.from, tc.to, 1)), "workers.json")
		var ie *inputerr.Error
		if !errors.As(err, &ie) || ie.Field != tc.field || ie.Line == 0 {
			t.Errorf("%s → %s: err = %v, want field %q with a line", tc.from, tc.to, err, tc.field)
		}
	}
}
