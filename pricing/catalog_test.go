package pricing

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbeddedSnapshot(t *testing.T) {
	c := Embedded()
	if c.AsOf() != SnapshotAsOf || c.Region() != "us-east-1" {
		t.Fatalf("as of %s in %s", c.AsOf(), c.Region())
	}
	x86, ok := c.Lambda("x86_64")
	if !ok || x86.GBSecondUSD() != 0.0000166667 || x86.RequestUSD != 0.0000002 {
		t.Fatalf("x86_64 = %+v, %v", x86, ok)
	}
	arm, ok := c.Lambda("arm64")
	if !ok || arm.GBSecondUSD() != 0.0000133334 {
		t.Fatalf("arm64 = %+v", arm)
	}
	if _, ok := c.Lambda("riscv"); ok {
		t.Fatal("riscv has a price")
	}
	// sample rows of ../shared/data/prices/README.md
	for typ, want := range map[string]float64{
		"c6i.xlarge": 0.17, "c7g.xlarge": 0.145, "g4dn.xlarge": 0.526, "g5.xlarge": 1.006, "g6.xlarge": 0.8048,
		"g6e.xlarge": 1.861, "inf2.xlarge": 0.7582, "p3.2xlarge": 3.06, "p4d.24xlarge": 21.9576, "p5.48xlarge": 55.04,
	} {
		if got, ok := c.OnDemandPrice(typ); !ok || got != want {
			t.Errorf("%s: %v, %v; want %v", typ, got, ok, want)
		}
	}
	p5, _ := c.Instance("p5.48xlarge")
	if p5.GPU == nil || p5.GPU.Name != "h100" || p5.GPU.Count != 8 || p5.GPU.MemoryMiB != 81920 || p5.VCPUs != 192 {
		t.Errorf("p5.48xlarge = %+v %+v", p5, p5.GPU)
	}
	g6f, _ := c.Instance("g6f.large")
	if g6f.GPU == nil || g6f.GPU.Count != 0.125 {
		t.Errorf("g6f.large GPU share = %+v", g6f.GPU)
	}
	if _, ok := c.OnDemandPrice("p5e.48xlarge"); ok {
		t.Error("p5e.48xlarge has no on-demand price in the source")
	}
	if _, ok := c.Instance("nope.large"); ok {
		t.Error("unknown type found")
	}
	if n := len(c.Snapshot().Instances); n != 1385 {
		t.Errorf("%d instance types, want 1385", n)
	}
}

func TestInstancesFilterSorted(t *testing.T) {
	h100 := Embedded().Instances(Filter{GPU: "H100", Priced: true})
	if len(h100) == 0 {
		t.Fatal("no priced H100 types")
	}
	for i, in := range h100 {
		if in.GPU.Name != "h100" {
			t.Errorf("%s has %s", in.Type, in.GPU.Name)
		}
		if i > 0 && *in.OnDemandUSDPerHour < *h100[i-1].OnDemandUSDPerHour {
			t.Errorf("not sorted by price at %s", in.Type)
		}
	}
	fam := Embedded().Instances(Filter{Family: "g5", MinVCPUs: 16})
	for _, in := range fam {
		if in.Family != "g5" || in.VCPUs < 16 {
			t.Errorf("filter let through %+v", in)
		}
	}
}

func TestParseRejectsBadSnapshots(t *testing.T) {
	good := Embedded().Snapshot()
	for name, mutate := range map[string]func(s *Snapshot){
		"schema":   func(s *Snapshot) { s.Schema = 9 },
		"no arm64": func(s *Snapshot) { delete(s.Lambda, "arm64") },
		"zero price": func(s *Snapshot) {
			lp := s.Lambda["x86_64"]
			lp.Tiers = []Tier{{USDPerGBSec: 0}}
			s.Lambda["x86_64"] = lp
		},
		"tier gap": func(s *Snapshot) {
			lp := s.Lambda["x86_64"]
			lp.Tiers = []Tier{{0, 5, 1e-5}, {6, 0, 1e-5}}
			s.Lambda["x86_64"] = lp
		},
		"repeated type": func(s *Snapshot) { s.Instances = append(s.Instances, s.Instances[0]) },
		"huge price": func(s *Snapshot) {
			p := 1e6
			s.Instances = append([]Instance(nil), s.Instances...)
			s.Instances[0].OnDemandUSDPerHour = &p
		},
	} {
		s := good
		s.Lambda = map[string]LambdaPrice{"x86_64": good.Lambda["x86_64"], "arm64": good.Lambda["arm64"]}
		mutate(&s)
		data, _ := s.Marshal()
		if _, err := Parse(data, name); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSnapshotUpToDate regenerates the snapshot from ../shared/data/prices when it is beside the checkout and
// requires the embedded file to match (run `go generate ./pricing` after the shared data changes).
func TestSnapshotUpToDate(t *testing.T) {
	dir := "../../shared/data/prices"
	lraw, err := os.ReadFile(filepath.Join(dir, LambdaPriceFile))
	if err != nil {
		t.Skip("../shared/data/prices not beside this checkout")
	}
	eraw, err := os.ReadFile(filepath.Join(dir, EC2PriceFile))
	if err != nil {
		t.Fatal(err)
	}
	s, err := BuildSnapshot(lraw, eraw, SnapshotAsOf)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := s.Marshal()
	if !bytes.Equal(data, snapshotJSON) {
		t.Fatal("pricing/snapshot.json is stale: run `go generate ./pricing`")
	}
	if !strings.Contains(string(data), `"as_of": "2026-07-20"`) {
		t.Fatal("snapshot lacks its date")
	}
}
