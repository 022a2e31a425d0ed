package admission

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/internal/yamlfile"
)

// policyDoc is the file as written; pointers tell a missing key from a zero.
type policyDoc struct {
	TenantHeader string                `yaml:"tenant_header"`
	Services     map[string]serviceDoc `yaml:"services"`
}

type serviceDoc struct {
	MaxConcurrency *int                 `yaml:"max_concurrency"`
	Priority       string               `yaml:"priority"`
	Tenants        map[string]bucketDoc `yaml:"tenants"`
}

type bucketDoc struct {
	RatePerS *float64 `yaml:"rate_per_s"`
	Burst    *float64 `yaml:"burst"`
}

// ReadPolicy reads a policy file.
func ReadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &inputerr.Error{File: path, Err: err}
	}
	return ParsePolicy(data, path)
}

// ParsePolicy reads a policy strictly, naming the file, line and field of what is wrong.
func ParsePolicy(data []byte, name string) (*Policy, error) {
	var doc policyDoc
	yd, err := yamlfile.Decode(data, name, "admission policy", &doc)
	if err != nil {
		return nil, err
	}
	p := &Policy{TenantHeader: doc.TenantHeader, Services: map[string]ServicePolicy{}}
	if h := doc.TenantHeader; h != "" && (http.CanonicalHeaderKey(h) == "" || strings.ContainsAny(h, " :\t\r\n")) {
		return nil, inputerr.New(name, yd.Line("tenant_header"), "tenant_header", "%q is not a header name", h)
	}
	if len(doc.Services) == 0 {
		return nil, inputerr.New(name, yd.Line("services"), "services", "no services: name at least one with its limits")
	}
	names := make([]string, 0, len(doc.Services))
	for n := range doc.Services {
		names = append(names, n)
	}
	slices.Sort(names) // the first error is always the same one
	for _, svc := range names {
		d := doc.Services[svc]
		at := func(keys ...string) int { return yd.Line(append([]string{"services", svc}, keys...)...) }
		field := func(keys ...string) string { return strings.Join(append([]string{"services", svc}, keys...), ".") }
		sp := ServicePolicy{Priority: d.Priority}
		if d.MaxConcurrency != nil {
			if *d.MaxConcurrency < 0 {
				return nil, inputerr.New(name, at("max_concurrency"), field("max_concurrency"), "%d is negative (0 means no cap)", *d.MaxConcurrency)
			}
			sp.MaxConcurrency = *d.MaxConcurrency
		}
		if _, err := ParsePriority(d.Priority); err != nil {
			return nil, inputerr.New(name, at("priority"), field("priority"), "%v", err)
		}
		for tenant, b := range d.Tenants {
			tf := func(k string) string { return field("tenants", tenant, k) }
			switch {
			case b.RatePerS == nil:
				return nil, inputerr.New(name, at("tenants", tenant), tf("rate_per_s"), "missing: the tokens a second the tenant earns")
			case !(*b.RatePerS > 0) || math.IsInf(*b.RatePerS, 0):
				return nil, inputerr.New(name, at("tenants", tenant, "rate_per_s"), tf("rate_per_s"), "%v is not a positive number", *b.RatePerS)
			}
			burst := math.Max(*b.RatePerS, 1) // a second's worth by default
			if b.Burst != nil {
				if !(*b.Burst >= 1) || math.IsInf(*b.Burst, 0) {
					return nil, inputerr.New(name, at("tenants", tenant, "burst"), tf("burst"), "%v: want at least 1 (a request takes one token)", *b.Burst)
				}
				burst = *b.Burst
			}
			if sp.Tenants == nil {
				sp.Tenants = map[string]Bucket{}
			}
			sp.Tenants[tenant] = Bucket{RatePerS: *b.RatePerS, Burst: burst}
		}
		p.Services[svc] = sp
	}
	return p, nil
}

// CheckServices says whether the policy names only services the plan has.
func (p *Policy) CheckServices(have []string) error {
	var unknown []string
	for s := range p.Services {
		if !slices.Contains(have, s) {
			unknown = append(unknown, s)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("the admission policy names %s, which the plan does not serve (it serves %s)",
			strings.Join(unknown, ", "), strings.Join(have, ", "))
	}
	return nil
}
