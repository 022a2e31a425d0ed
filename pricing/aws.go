package pricing

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/pricing/types"

	"github.com/inferplan/inferplan/internal/atomicfile"
)

// PriceListAPI is the part of the AWS Price List API the catalog calls; *pricing.Client satisfies it.
type PriceListAPI interface {
	GetProducts(ctx context.Context, in *pricing.GetProductsInput, opts ...func(*pricing.Options)) (*pricing.GetProductsOutput, error)
}

// PriceListClient builds a Price List client. The API is served from a few regions only (us-east-1, ap-south-1,
// eu-central-1); prices of any region are asked for by filter, so the client always talks to us-east-1 unless an
// endpoint is given.
func PriceListClient(cfg aws.Config, endpoint string) *pricing.Client {
	return pricing.NewFromConfig(cfg, func(o *pricing.Options) {
		o.Region = "us-east-1"
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// FetchReport says what a fetch read.
type FetchReport struct {
	Pages         int
	Records       int
	Skipped       int // records that carried no usable price (other groups, zero prices)
	LambdaArches  []string
	EC2Updated    int
	EC2Added      int
	EC2NotListed  int // instance types of the previous prices the price list no longer has (kept, unpriced)
	EC2Unchanged  int
	ChangedPrices []string // "g5.xlarge 1.006 → 1.05"
}

// priceRecord is one product of a Price List page (the JSON string of PriceList[i]).
type priceRecord struct {
	Product struct {
		SKU           string            `json:"sku"`
		ProductFamily string            `json:"productFamily"`
		Attributes    map[string]string `json:"attributes"`
	} `json:"product"`
	Terms struct {
		OnDemand map[string]struct {
			PriceDimensions map[string]struct {
				Unit         string            `json:"unit"`
				BeginRange   string            `json:"beginRange"`
				EndRange     string            `json:"endRange"`
				PricePerUnit map[string]string `json:"pricePerUnit"`
			} `json:"priceDimensions"`
		} `json:"OnDemand"`
	} `json:"terms"`
}

type dimension struct {
	from, to, usd float64
	unit          string
}

func (r *priceRecord) dimensions() ([]dimension, error) {
	var out []dimension
	for _, term := range r.Terms.OnDemand {
		for _, d := range term.PriceDimensions {
			usd, err := strconv.ParseFloat(d.PricePerUnit["USD"], 64)
			if err != nil {
				return nil, fmt.Errorf("sku %s: price %q: %w", r.Product.SKU, d.PricePerUnit["USD"], err)
			}
			dim := dimension{usd: usd, unit: d.Unit}
			if d.BeginRange != "" {
				if dim.from, err = strconv.ParseFloat(d.BeginRange, 64); err != nil {
					return nil, fmt.Errorf("sku %s: beginRange %q", r.Product.SKU, d.BeginRange)
				}
			}
			if d.EndRange != "" && d.EndRange != "Inf" {
				if dim.to, err = strconv.ParseFloat(d.EndRange, 64); err != nil {
					return nil, fmt.Errorf("sku %s: endRange %q", r.Product.SKU, d.EndRange)
				}
			}
			out = append(out, dim)
		}
	}
	slices.SortFunc(out, func(a, b dimension) int { return cmp.Compare(a.from, b.from) })
	return out, nil
}

// pages reads every page of a GetProducts query. A page that cannot be read fails the whole fetch: a partial
// price list is not a price list.
func pages(ctx context.Context, api PriceListAPI, service string, filters map[string]string, rep *FetchReport, each func(priceRecord) error) error {
	in := &pricing.GetProductsInput{ServiceCode: aws.String(service), FormatVersion: aws.String("aws_v1")}
	keys := make([]string, 0, len(filters))
	for k := range filters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		in.Filters = append(in.Filters, types.Filter{Type: types.FilterTypeTermMatch, Field: aws.String(k), Value: aws.String(filters[k])})
	}
	p := pricing.NewGetProductsPaginator(api, in)
	for page := 1; p.HasMorePages(); page++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("%s price list, page %d: %w", service, page, err)
		}
		rep.Pages++
		for i, raw := range out.PriceList {
			var r priceRecord
			if err := json.Unmarshal([]byte(raw), &r); err != nil {
				return fmt.Errorf("%s price list, page %d, product %d: malformed: %w", service, page, i+1, err)
			}
			rep.Records++
			if err := each(r); err != nil {
				return fmt.Errorf("%s price list, page %d, product %d: %w", service, page, i+1, err)
			}
		}
	}
	return nil
}

// Fetch reads the current Lambda and EC2 on-demand prices of region from the Price List API and returns them as a
// snapshot dated now, over base: base supplies what the price list does not say (the free tier, Lambda's limits,
// the GPUs of instance types).
func Fetch(ctx context.Context, api PriceListAPI, region string, base Snapshot, now time.Time) (*Snapshot, FetchReport, error) {
	var rep FetchReport
	snap := base
	snap.Region, snap.Currency, snap.AsOf = region, "USD", now.UTC().Format("2006-01-02")
	snap.Lambda = map[string]LambdaPrice{}
	durations := map[string][]Tier{}
	requests := map[string]float64{}
	groups := map[string][2]string{ // group → (arch, what)
		"AWS-Lambda-Duration": {"x86_64", "duration"}, "AWS-Lambda-Duration-ARM": {"arm64", "duration"},
		"AWS-Lambda-Requests": {"x86_64", "requests"}, "AWS-Lambda-Requests-ARM": {"arm64", "requests"},
	}
	err := pages(ctx, api, "AWSLambda", map[string]string{"regionCode": region}, &rep, func(r priceRecord) error {
		g, ok := groups[r.Product.Attributes["group"]]
		if !ok {
			rep.Skipped++ // provisioned concurrency, edge, storage: not what plans cost
			return nil
		}
		dims, err := r.dimensions()
		if err != nil {
			return err
		}
		if len(dims) == 0 {
			return fmt.Errorf("sku %s (%s) has no on-demand price", r.Product.SKU, r.Product.Attributes["group"])
		}
		if g[1] == "requests" {
			requests[g[0]] = dims[0].usd
			return nil
		}
		for _, d := range dims {
			durations[g[0]] = append(durations[g[0]], Tier{FromGBSeconds: d.from, ToGBSeconds: d.to, USDPerGBSec: d.usd})
		}
		return nil
	})
	if err != nil {
		return nil, rep, err
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		tiers, req := durations[arch], requests[arch]
		if len(tiers) == 0 || req == 0 {
			return nil, rep, fmt.Errorf("the Lambda price list for %s lacks the %s duration or request price", region, arch)
		}
		slices.SortFunc(tiers, func(a, b Tier) int { return cmp.Compare(a.FromGBSeconds, b.FromGBSeconds) })
		lp := base.Lambda[arch]
		lp.Tiers, lp.RequestUSD = tiers, req
		snap.Lambda[arch] = lp
		rep.LambdaArches = append(rep.LambdaArches, arch)
	}

	prices := map[string]float64{}
	specs := map[string]Instance{}
	err = pages(ctx, api, "AmazonEC2", map[string]string{
		"regionCode": region, "operatingSystem": "Linux", "preInstalledSw": "NA", "capacitystatus": "Used",
		"tenancy": "Shared", "marketoption": "OnDemand",
	}, &rep, func(r priceRecord) error {
		a := r.Product.Attributes
		typ := a["instanceType"]
		dims, err := r.dimensions()
		if err != nil {
			return err
		}
		if typ == "" || len(dims) == 0 || dims[0].usd <= 0 {
			rep.Skipped++
			return nil
		}
		prices[typ] = dims[0].usd
		in := Instance{Type: typ, Family: strings.SplitN(typ, ".", 2)[0]}
		in.VCPUs, _ = strconv.Atoi(a["vcpu"])
		if m, ok := strings.CutSuffix(a["memory"], " GiB"); ok {
			in.MemoryGiB, _ = strconv.ParseFloat(strings.ReplaceAll(m, ",", ""), 64)
		}
		in.Arch = "amd64"
		if strings.Contains(strings.ToLower(a["physicalProcessor"]), "graviton") {
			in.Arch = "arm64"
		}
		specs[typ] = in
		return nil
	})
	if err != nil {
		return nil, rep, err
	}
	if len(prices) == 0 {
		return nil, rep, fmt.Errorf("the EC2 price list for %s is empty", region)
	}
	snap.Instances = slices.Clone(base.Instances)
	seen := map[string]bool{}
	for i, in := range snap.Instances {
		seen[in.Type] = true
		p, ok := prices[in.Type]
		switch {
		case !ok:
			if in.OnDemandUSDPerHour != nil {
				rep.EC2NotListed++
			}
			continue
		case in.OnDemandUSDPerHour != nil && *in.OnDemandUSDPerHour == p:
			rep.EC2Unchanged++
		case in.OnDemandUSDPerHour != nil:
			rep.ChangedPrices = append(rep.ChangedPrices, fmt.Sprintf("%s %g → %g", in.Type, *in.OnDemandUSDPerHour, p))
			rep.EC2Updated++
		default:
			rep.EC2Updated++
		}
		v := p
		snap.Instances[i].OnDemandUSDPerHour = &v
	}
	for typ, in := range specs {
		if !seen[typ] {
			v := prices[typ]
			in.OnDemandUSDPerHour = &v
			snap.Instances = append(snap.Instances, in)
			rep.EC2Added++
		}
	}
	slices.SortFunc(snap.Instances, func(a, b Instance) int { return strings.Compare(a.Type, b.Type) })
	slices.Sort(rep.ChangedPrices)
	snap.Sources = []Source{{What: fmt.Sprintf("AWS Price List API (GetProducts: AWSLambda, AmazonEC2 Linux on-demand shared tenancy) for %s, fetched %s",
		region, now.UTC().Format(time.RFC3339)), Note: "instance specs and GPUs, the Lambda free tier and limits carried over from the previous prices"}}
	if err := snap.Validate(); err != nil {
		return nil, rep, fmt.Errorf("the fetched prices do not validate: %w", err)
	}
	return &snap, rep, nil
}

// CachePath is where fetched prices are kept: $INFERPLAN_CACHE_DIR, or the user cache folder, /inferplan.
func CachePath(region string) (string, error) {
	dir := os.Getenv("INFERPLAN_CACHE_DIR")
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(d, "inferplan")
	}
	return filepath.Join(dir, "prices-"+region+".json"), nil
}

// SaveCache writes a snapshot whole or not at all (through a temporary file renamed into place), so a failure
// never leaves half a price file where the last good one was.
func SaveCache(path string, s *Snapshot) error {
	data, err := s.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, data)
}

// ErrNoCache means no prices were ever fetched into the cache.
var ErrNoCache = errors.New("no cached prices")

// LoadCache returns the catalog of the cached prices of region (ErrNoCache when there are none).
func LoadCache(region string) (*Catalog, error) {
	path, err := CachePath(region)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoCache
	}
	if err != nil {
		return nil, err
	}
	c, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	ref := Embedded().Snapshot()
	if err := c.snap.Plausible(&ref, region, time.Now()); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.source = "AWS Price List API, cached in " + path
	return c, nil
}

// Default is the catalog runs use: the fetched prices in the cache when there are some, else the embedded
// snapshot. A cache that does not read is reported in warning and skipped.
func Default() (c *Catalog, warning string) {
	c, err := LoadCache("us-east-1")
	switch {
	case err == nil:
		return c, ""
	case errors.Is(err, ErrNoCache):
		return Embedded(), ""
	}
	return Embedded(), fmt.Sprintf("ignoring the price cache (%v); using the embedded snapshot", err)
}

// Age is how long ago the catalog's prices were read, in days (NaN when its date does not parse).
func (c *Catalog) Age(now time.Time) float64 {
	t, err := time.Parse("2006-01-02", c.snap.AsOf)
	if err != nil {
		return math.NaN()
	}
	return now.Sub(t).Hours() / 24
}
