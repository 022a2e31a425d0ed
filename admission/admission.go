// Package admission decides, per service and tenant, whether the gateway takes a request now (Sequoia's QoS
// policies, ../shared/docs/anchors.md §5): a concurrency cap per service that lower priorities reach sooner, and a
// token bucket per tenant. A refusal says when to try again; nothing is dropped silently.
//
// The policy file (YAML):
//
//	tenant_header: X-Tenant          # the request header naming the tenant (default X-Inferplan-Tenant)
//	services:
//	  code-search:
//	    max_concurrency: 64          # requests of the service inside the gateway at once (0: no cap)
//	    priority: high               # low, normal (default) or high: low may fill half the cap, normal 90 %, high all
//	    tenants:
//	      default: {rate_per_s: 100, burst: 200}   # any tenant not listed, each with a bucket of its own
//	      acme: {rate_per_s: 10, burst: 20}
//
// A service the file does not list is admitted without limits.
package admission

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Priority orders services under a concurrency cap.
type Priority int

// Low, Normal and High priorities; Normal is the zero value.
const (
	Low    Priority = -1
	Normal Priority = 0
	High   Priority = 1
)

// ParsePriority reads low, normal or high ("" is normal).
func ParsePriority(s string) (Priority, error) {
	switch s {
	case "low":
		return Low, nil
	case "", "normal":
		return Normal, nil
	case "high":
		return High, nil
	}
	return Normal, fmt.Errorf("priority %q: want low, normal or high", s)
}

func (p Priority) String() string {
	switch p {
	case Low:
		return "low"
	case High:
		return "high"
	}
	return "normal"
}

// share of a cap each priority may fill
var share = map[Priority]float64{Low: 0.5, Normal: 0.9, High: 1}

// DefaultTenantHeader names the tenant when the policy does not say which header does.
const DefaultTenantHeader = "X-Inferplan-Tenant"

// DefaultTenant is the bucket settings for tenants a service's policy does not list.
const DefaultTenant = "default"

// Policy is the whole file.
type Policy struct {
	TenantHeader string                   `json:"tenant_header,omitempty"`
	Services     map[string]ServicePolicy `json:"services"`
}

// ServicePolicy is one service's admission rules.
type ServicePolicy struct {
	MaxConcurrency int               `json:"max_concurrency,omitempty"`
	Priority       string            `json:"priority,omitempty"`
	Tenants        map[string]Bucket `json:"tenants,omitempty"`
}

// Bucket is a token bucket: RatePerS tokens a second, up to Burst.
type Bucket struct {
	RatePerS float64 `json:"rate_per_s"`
	Burst    float64 `json:"burst"`
}

// Reason says why a request was refused (the metric label).
type Reason string

// Reasons for refusal.
const (
	Concurrency Reason = "concurrency"
	RateLimit   Reason = "rate_limit"
)

// Refusal is a request not admitted: why, and when a retry may succeed.
type Refusal struct {
	Service    string
	Tenant     string
	Reason     Reason
	RetryAfter time.Duration
}

func (r *Refusal) Error() string {
	if r.Reason == RateLimit {
		return fmt.Sprintf("tenant %q is over its rate for service %s; retry in %s", r.Tenant, r.Service, r.RetryAfter.Round(time.Millisecond))
	}
	return fmt.Sprintf("service %s is at its concurrency cap; retry in %s", r.Service, r.RetryAfter.Round(time.Millisecond))
}

// maxTenants bounds the buckets a service keeps; tenants beyond it share the overflow bucket.
const (
	maxTenants     = 10000
	overflowTenant = "\x00overflow"
)

// Controller applies a policy. Its zero value admits everything.
type Controller struct {
	policy Policy
	now    func() time.Time
	mu     sync.Mutex
	svcs   map[string]*serviceState
}

type serviceState struct {
	p        ServicePolicy
	priority Priority
	inside   int
	buckets  map[string]*bucketState
}

type bucketState struct {
	b      Bucket
	tokens float64
	at     time.Time
}

// New builds a controller for a validated policy; now is the clock (nil: time.Now).
func New(p *Policy, now func() time.Time) *Controller {
	if now == nil {
		now = time.Now
	}
	c := &Controller{now: now, svcs: map[string]*serviceState{}}
	if p != nil {
		c.policy = *p
		for name, sp := range p.Services {
			pr, _ := ParsePriority(sp.Priority) // validated on read
			c.svcs[name] = &serviceState{p: sp, priority: pr, buckets: map[string]*bucketState{}}
		}
	}
	return c
}

// TenantHeader is the header that names a request's tenant.
func (c *Controller) TenantHeader() string {
	if c == nil || c.policy.TenantHeader == "" {
		return DefaultTenantHeader
	}
	return c.policy.TenantHeader
}

// Priority is a service's priority by the policy.
func (c *Controller) Priority(service string) Priority {
	if c == nil {
		return Normal
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.svcs[service]; s != nil {
		return s.priority
	}
	return Normal
}

// Admit takes a request of service from tenant ("" is the default tenant) or refuses it. When admitted, the
// returned release must be called once the request has its answer.
func (c *Controller) Admit(service, tenant string) (release func(), err error) {
	if c == nil {
		return func() {}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.svcs[service]
	if s == nil {
		return func() {}, nil
	}
	if tenant == "" {
		tenant = DefaultTenant
	}
	now := c.now()
	if limit := s.p.MaxConcurrency; limit > 0 {
		allowed := max(int(math.Floor(float64(limit)*share[s.priority])), 1)
		if s.inside >= allowed {
			// a request inside leaves within about its SLO; one second is the protocol's smallest Retry-After
			return nil, &Refusal{Service: service, Tenant: tenant, Reason: Concurrency, RetryAfter: time.Second}
		}
	}
	if len(s.buckets) >= maxTenants && s.buckets[tenant] == nil {
		tenant = overflowTenant // a flood of made-up tenant names shares one bucket instead of growing memory
	}
	if b := c.bucket(s, tenant, now); b != nil {
		if b.tokens < 1 {
			wait := time.Duration((1 - b.tokens) / b.b.RatePerS * float64(time.Second))
			return nil, &Refusal{Service: service, Tenant: tenant, Reason: RateLimit, RetryAfter: wait}
		}
		b.tokens--
	}
	s.inside++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			s.inside--
			c.mu.Unlock()
		})
	}, nil
}

// bucket is the tenant's bucket refilled to now, or nil when the service limits no rate for it.
func (c *Controller) bucket(s *serviceState, tenant string, now time.Time) *bucketState {
	b := s.buckets[tenant]
	if b == nil {
		cfg, ok := s.p.Tenants[tenant]
		if !ok {
			if cfg, ok = s.p.Tenants[DefaultTenant]; !ok {
				return nil
			}
		}
		b = &bucketState{b: cfg, tokens: cfg.Burst, at: now}
		s.buckets[tenant] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = math.Min(b.b.Burst, b.tokens+dt*b.b.RatePerS)
		b.at = now
	}
	return b
}
