// Package pricing is the price catalog: AWS Lambda's per-GB-second and per-request prices (with the monthly
// volume tiers) and EC2 instance types with their on-demand prices and GPUs. An embedded, dated snapshot makes
// every run work offline; `inferplan prices update` refreshes it into a cache that later runs prefer.
package pricing

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

//go:generate go run ./internal/snapshotgen -src ../../shared/data/prices -o snapshot.json

//go:embed snapshot.json
var snapshotJSON []byte

// Catalog answers price and capacity questions. Lookups that can miss return (value, ok).
type Catalog struct {
	snap   Snapshot
	source string // "embedded snapshot" or the cache file it came from
	byType map[string]int
}

var embedded = sync.OnceValues(func() (*Catalog, error) {
	return Parse(snapshotJSON, "embedded snapshot")
})

// Embedded returns the catalog of the snapshot built into the binary.
func Embedded() *Catalog {
	c, err := embedded()
	if err != nil {
		panic("pricing: embedded snapshot is corrupt: " + err.Error()) // a build error, caught by the tests
	}
	return c
}

// Parse reads a snapshot document and checks it: every price positive, every tier contiguous.
func Parse(data []byte, source string) (*Catalog, error) {
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("pricing: %s: %w", source, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("pricing: %s: %w", source, err)
	}
	return New(s, source), nil
}

// New wraps a validated snapshot.
func New(s Snapshot, source string) *Catalog {
	c := &Catalog{snap: s, source: source, byType: make(map[string]int, len(s.Instances))}
	for i, in := range s.Instances {
		c.byType[in.Type] = i
	}
	return c
}

// Validate checks a snapshot for the mistakes a bad fetch or a bad edit makes.
func (s *Snapshot) Validate() error {
	if s.Schema != SnapshotSchema {
		return fmt.Errorf("schema %d, want %d", s.Schema, SnapshotSchema)
	}
	if s.AsOf == "" {
		return fmt.Errorf("as_of is empty")
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		lp, ok := s.Lambda[arch]
		if !ok {
			return fmt.Errorf("no Lambda price for %s", arch)
		}
		if !(lp.RequestUSD > 0) {
			return fmt.Errorf("lambda %s: request price %v", arch, lp.RequestUSD)
		}
		if len(lp.Tiers) == 0 {
			return fmt.Errorf("lambda %s: no duration tiers", arch)
		}
		for i, t := range lp.Tiers {
			if !(t.USDPerGBSec > 0) || t.USDPerGBSec > 1e-3 {
				return fmt.Errorf("lambda %s tier %d: price %v per GB-s is implausible", arch, i, t.USDPerGBSec)
			}
			if i == 0 && t.FromGBSeconds != 0 || i > 0 && t.FromGBSeconds != lp.Tiers[i-1].ToGBSeconds {
				return fmt.Errorf("lambda %s tier %d: starts at %v, not where the last one ended", arch, i, t.FromGBSeconds)
			}
			if (t.ToGBSeconds == 0) != (i == len(lp.Tiers)-1) {
				return fmt.Errorf("lambda %s tier %d: only the last tier is unbounded", arch, i)
			}
		}
	}
	seen := map[string]bool{}
	for _, in := range s.Instances {
		if in.Type == "" || seen[in.Type] {
			return fmt.Errorf("instance type %q is empty or repeated", in.Type)
		}
		seen[in.Type] = true
		if p := in.OnDemandUSDPerHour; p != nil && !(*p > 0 && *p < 1000) {
			return fmt.Errorf("%s: on-demand price %v per hour is implausible", in.Type, *p)
		}
		if in.GPU != nil && !(in.GPU.Count > 0) {
			return fmt.Errorf("%s: GPU count %v", in.Type, in.GPU.Count)
		}
	}
	return nil
}

// Source says where the catalog's prices came from.
func (c *Catalog) Source() string { return c.source }

// AsOf is the date of the prices.
func (c *Catalog) AsOf() string { return c.snap.AsOf }

// Region is the AWS region of the prices.
func (c *Catalog) Region() string { return c.snap.Region }

// Snapshot returns a copy of the underlying snapshot document.
func (c *Catalog) Snapshot() Snapshot { return c.snap }

// LambdaLimits returns Lambda's memory range and billing granularity.
func (c *Catalog) LambdaLimits() LambdaLimits { return c.snap.LambdaLimits }

// Lambda returns the Lambda price for an architecture (x86_64 or arm64).
func (c *Catalog) Lambda(arch string) (LambdaPrice, bool) {
	lp, ok := c.snap.Lambda[arch]
	return lp, ok
}

// Instance returns an instance type.
func (c *Catalog) Instance(typ string) (Instance, bool) {
	i, ok := c.byType[typ]
	if !ok {
		return Instance{}, false
	}
	return c.snap.Instances[i], true
}

// OnDemandPrice returns the on-demand price per hour of an instance type, if known.
func (c *Catalog) OnDemandPrice(typ string) (float64, bool) {
	in, ok := c.Instance(typ)
	if !ok || in.OnDemandUSDPerHour == nil {
		return 0, false
	}
	return *in.OnDemandUSDPerHour, true
}

// Filter selects instance types. Zero fields match everything.
type Filter struct {
	GPU      string // GPU short name (h100) or model substring, case-insensitive
	Family   string
	MinVCPUs int
	Priced   bool // only types with an on-demand price
}

// Instances returns the instance types matching f, sorted by on-demand price (unpriced last), then by name.
func (c *Catalog) Instances(f Filter) []Instance {
	var out []Instance
	for _, in := range c.snap.Instances {
		if f.GPU != "" && (in.GPU == nil || !strings.EqualFold(in.GPU.Name, f.GPU) &&
			!strings.Contains(strings.ToLower(in.GPU.Model), strings.ToLower(f.GPU))) {
			continue
		}
		if f.Family != "" && !strings.EqualFold(in.Family, f.Family) {
			continue
		}
		if in.VCPUs < f.MinVCPUs || f.Priced && in.OnDemandUSDPerHour == nil {
			continue
		}
		out = append(out, in)
	}
	price := func(in Instance) float64 {
		if in.OnDemandUSDPerHour == nil {
			return math.Inf(1)
		}
		return *in.OnDemandUSDPerHour
	}
	slices.SortStableFunc(out, func(a, b Instance) int {
		if pa, pb := price(a), price(b); pa != pb {
			if pa < pb {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Type, b.Type)
	})
	return out
}

// GBSecondUSD is the first-tier price per GB-second: what one more GB-second costs an account below 6 billion
// GB-seconds a month, and the price plans are costed at.
func (l LambdaPrice) GBSecondUSD() float64 { return l.Tiers[0].USDPerGBSec }
