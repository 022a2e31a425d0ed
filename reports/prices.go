package reports

import (
	"fmt"
	"strings"

	"github.com/inferplan/inferplan/pricing"
)

// PricesDocument shows the Lambda prices and a list of instance types.
func PricesDocument(c *pricing.Catalog, ins []pricing.Instance) *Document {
	d := &Document{Title: fmt.Sprintf("AWS prices, %s, as of %s (%s)", c.Region(), c.AsOf(), c.Source())}
	lam := Section{Title: "Lambda", Columns: []Column{{"Arch", false}, {"Monthly GB-seconds", false}, {"$ per GB-s", true}, {"$ per 1M requests", true}}}
	for _, arch := range []string{"x86_64", "arm64"} {
		lp, ok := c.Lambda(arch)
		if !ok {
			continue
		}
		for i, t := range lp.Tiers {
			rng := fmt.Sprintf("%s–%s", Thousands(t.FromGBSeconds, 0), Thousands(t.ToGBSeconds, 0))
			if t.ToGBSeconds == 0 {
				rng = "over " + Thousands(t.FromGBSeconds, 0)
			}
			req := ""
			if i == 0 {
				req = USD(lp.RequestUSD * 1e6)
			}
			lam.Rows = append(lam.Rows, []string{arch, rng, fmt.Sprintf("$%.10f", t.USDPerGBSec), req})
		}
	}
	lim := c.LambdaLimits()
	lam.Notes = []string{fmt.Sprintf("Memory %s–%s MB; duration billed per %d ms; %s MB = 1 vCPU.",
		Thousands(float64(lim.MemoryMBMin), 0), Thousands(float64(lim.MemoryMBMax), 0), lim.BillingGranularityMs, Thousands(float64(lim.MBPerVCPU), 0))}
	d.Sections = append(d.Sections, lam)
	ec2 := Section{Title: fmt.Sprintf("EC2 instance types (%d)", len(ins)), Columns: []Column{
		{"Type", false}, {"vCPUs", true}, {"Memory", true}, {"Arch", false}, {"GPU", false}, {"GPU memory", true}, {"$ / hour", true},
	}}
	for _, in := range ins {
		gpu, gmem := "", ""
		if g := in.GPU; g != nil {
			name := g.Model
			if name == "" {
				name = g.Name
			}
			gpu = fmt.Sprintf("%s× %s", Num(g.Count), name)
			gmem = fmt.Sprintf("%s GiB", Num(float64(g.MemoryMiB)/1024))
		} else if a := in.Accelerator; a != nil {
			gpu = fmt.Sprintf("%d× %s", a.NeuronDevice, a.Name)
		}
		price := "–"
		if in.OnDemandUSDPerHour != nil {
			price = fmt.Sprintf("$%.4f", *in.OnDemandUSDPerHour)
		}
		ec2.Rows = append(ec2.Rows, []string{in.Type, fmt.Sprint(in.VCPUs), Num(in.MemoryGiB) + " GiB", in.Arch, gpu, gmem, price})
	}
	d.Sections = append(d.Sections, ec2)
	return d
}

// PricesJSON is the machine form of `prices list`.
func PricesJSON(c *pricing.Catalog, ins []pricing.Instance) any {
	lam := map[string]pricing.LambdaPrice{}
	for _, arch := range []string{"x86_64", "arm64"} {
		if lp, ok := c.Lambda(arch); ok {
			lam[arch] = lp
		}
	}
	if ins == nil {
		ins = []pricing.Instance{}
	}
	return struct {
		Region    string                         `json:"region"`
		AsOf      string                         `json:"as_of"`
		Source    string                         `json:"source"`
		Lambda    map[string]pricing.LambdaPrice `json:"lambda"`
		Instances []pricing.Instance             `json:"instances"`
	}{c.Region(), c.AsOf(), c.Source(), lam, ins}
}

// PriceUpdateText says what `prices update` fetched and what changed.
func PriceUpdateText(s *pricing.Snapshot, rep pricing.FetchReport, prev *pricing.Catalog, path string, dryRun bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Fetched %s prices as of %s: %d pages, %d products (%d skipped).\n", s.Region, s.AsOf, rep.Pages, rep.Records, rep.Skipped)
	for _, arch := range rep.LambdaArches {
		lp := s.Lambda[arch]
		old, _ := prev.Lambda(arch)
		change := ""
		if len(old.Tiers) > 0 && old.GBSecondUSD() != lp.GBSecondUSD() {
			change = fmt.Sprintf(" (was $%.10f)", old.GBSecondUSD())
		}
		fmt.Fprintf(&b, "  Lambda %s: $%.10f per GB-second in the first of %d tiers%s, %s per 1M requests\n", arch, lp.GBSecondUSD(), len(lp.Tiers), change, USD(lp.RequestUSD*1e6))
	}
	fmt.Fprintf(&b, "  EC2: %d prices unchanged, %d changed, %d new instance types, %d no longer listed (kept, with their last price)\n",
		rep.EC2Unchanged, rep.EC2Updated, rep.EC2Added, rep.EC2NotListed)
	for i, c := range rep.ChangedPrices {
		if i == 20 {
			fmt.Fprintf(&b, "    … and %d more\n", len(rep.ChangedPrices)-20)
			break
		}
		fmt.Fprintf(&b, "    %s $/h\n", c)
	}
	if dryRun {
		fmt.Fprintf(&b, "Dry run: %s not written; runs keep using %s (as of %s).\n", path, prev.Source(), prev.AsOf())
	} else {
		fmt.Fprintf(&b, "Wrote %s; runs use these prices from now on (previously %s, as of %s).\n", path, prev.Source(), prev.AsOf())
	}
	return b.String()
}
