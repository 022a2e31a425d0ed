package pricing

import (
	"fmt"
	"time"
)

// plausibleFactor is how far a cached price may be from the embedded snapshot's before it is taken for a bad
// fetch or a bad edit: AWS has never changed a Lambda or on-demand EC2 price tenfold, while a unit mistake (a
// price per million read as per request, a price in cents) is a factor of 100 or more.
const plausibleFactor = 10

// Plausible checks cached prices against a reference snapshot (the embedded one) for what Validate cannot see
// alone: the region the cache was asked for, an as_of date that is a real date not in the future nor older than
// the reference's, and every Lambda price and every EC2 on-demand price both list within a factor of ten of the
// reference's. A request price of $1 instead of $0.0000002, or 1e-300 per GB-second, passes Validate and fails
// here.
func (s *Snapshot) Plausible(ref *Snapshot, region string, now time.Time) error {
	if s.Region != region {
		return fmt.Errorf("the prices are for region %q, not %q", s.Region, region)
	}
	asOf, err := time.Parse("2006-01-02", s.AsOf)
	if err != nil {
		return fmt.Errorf("as_of %q is not a date (YYYY-MM-DD)", s.AsOf)
	}
	if asOf.After(now.Add(48 * time.Hour)) {
		return fmt.Errorf("as_of %s is in the future", s.AsOf)
	}
	if s.AsOf < ref.AsOf {
		return fmt.Errorf("the prices (as of %s) are older than the embedded snapshot's (as of %s)", s.AsOf, ref.AsOf)
	}
	near := func(what string, v, want float64) error {
		if !(v >= want/plausibleFactor && v <= want*plausibleFactor) {
			return fmt.Errorf("%s %g is more than %d× off the embedded snapshot's %g", what, v, plausibleFactor, want)
		}
		return nil
	}
	for arch, want := range ref.Lambda {
		lp, ok := s.Lambda[arch]
		if !ok {
			return fmt.Errorf("no Lambda price for %s", arch)
		}
		if err := near("lambda "+arch+" request price", lp.RequestUSD, want.RequestUSD); err != nil {
			return err
		}
		for i, t := range lp.Tiers {
			if err := near(fmt.Sprintf("lambda %s tier %d price per GB-s", arch, i), t.USDPerGBSec, want.Tiers[0].USDPerGBSec); err != nil {
				return err
			}
		}
	}
	refPrice := map[string]float64{}
	for _, in := range ref.Instances {
		if in.OnDemandUSDPerHour != nil {
			refPrice[in.Type] = *in.OnDemandUSDPerHour
		}
	}
	for _, in := range s.Instances {
		if want, ok := refPrice[in.Type]; ok && in.OnDemandUSDPerHour != nil {
			if err := near(in.Type+" on-demand price per hour", *in.OnDemandUSDPerHour, want); err != nil {
				return err
			}
		}
	}
	return nil
}
