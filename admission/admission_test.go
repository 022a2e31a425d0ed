package admission

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/inferplan/inferplan/internal/inputerr"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func refusal(err error) *Refusal         { var r *Refusal; errors.As(err, &r); return r }
func readPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := ReadPolicy("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTokenBucketByHand: acme earns 2 tokens a second up to 3. Three requests at once pass, the fourth waits
// (1 − 0)/2 = 0.5 s; after 0.25 s half a token has come back, so the wait is 0.25 s; after 0.5 s one passes.
func TestTokenBucketByHand(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	ctl := New(readPolicy(t), c.now)
	for i := range 3 {
		rel, err := ctl.Admit("code-search", "acme")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		rel()
	}
	_, err := ctl.Admit("code-search", "acme")
	if r := refusal(err); r == nil || r.Reason != RateLimit || r.RetryAfter != 500*time.Millisecond {
		t.Fatalf("fourth: %v, want a rate-limit refusal with 0.5 s", err)
	}
	c.advance(250 * time.Millisecond)
	if _, err := ctl.Admit("code-search", "acme"); refusal(err) == nil || refusal(err).RetryAfter != 250*time.Millisecond {
		t.Fatalf("after 0.25 s: %v, want 0.25 s to wait", err)
	}
	c.advance(250 * time.Millisecond)
	if _, err := ctl.Admit("code-search", "acme"); err != nil {
		t.Fatalf("after 0.5 s: %v", err)
	}
	// another tenant has its own bucket from the default: 200 at once
	for i := range 200 {
		rel, err := ctl.Admit("code-search", "other")
		if err != nil {
			t.Fatalf("other, request %d: %v", i, err)
		}
		rel()
	}
	if _, err := ctl.Admit("code-search", "other"); refusal(err) == nil {
		t.Error("the 201st request of a default tenant was let in at once")
	}
	// a service the policy does not list is not limited
	if _, err := ctl.Admit("doc-rerank", "acme"); err != nil {
		t.Error(err)
	}
}

// TestConcurrencyCapByPriority: a cap of 10 lets a high-priority service have 10 inside, a low one 5.
func TestConcurrencyCapByPriority(t *testing.T) {
	ctl := New(readPolicy(t), nil)
	for _, tc := range []struct {
		svc  string
		want int
	}{{"code-search", 10}, {"chat-embed", 5}} {
		var rels []func()
		for {
			rel, err := ctl.Admit(tc.svc, "")
			if err != nil {
				if r := refusal(err); r == nil || r.Reason != Concurrency || r.RetryAfter <= 0 {
					t.Fatalf("%s: %v", tc.svc, err)
				}
				break
			}
			rels = append(rels, rel)
		}
		if len(rels) != tc.want {
			t.Errorf("%s: %d inside at once, want %d", tc.svc, len(rels), tc.want)
		}
		rels[0]()
		rels[0]() // twice is once
		if _, err := ctl.Admit(tc.svc, ""); err != nil {
			t.Errorf("%s: after one left: %v", tc.svc, err)
		}
		if _, err := ctl.Admit(tc.svc, ""); err == nil {
			t.Errorf("%s: a release counted twice", tc.svc)
		}
	}
	if ctl.Priority("code-search") != High || ctl.Priority("chat-embed") != Low || ctl.TenantHeader() != "X-Tenant" {
		t.Error("priorities or tenant header not as the file says")
	}
	var none *Controller
	if rel, err := none.Admit("x", "y"); err != nil || rel == nil || none.TenantHeader() != DefaultTenantHeader {
		t.Error("a nil controller should admit everything")
	}
}

func TestPolicyErrorsNameLineAndField(t *testing.T) {
	good, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(good)
	for _, tc := range []struct {
		from, to string
		line     int
		field    string
	}{
		{"max_concurrency: 10\n    priority: high", "max_concurrency: -1\n    priority: high", 5, "services.code-search.max_concurrency"},
		{"priority: low", "priority: urgent", 12, "services.chat-embed.priority"},
		{"rate_per_s: 2,", "rate_per_s: 0,", 9, "services.code-search.tenants.acme.rate_per_s"},
		{"burst: 3", "burst: 0.5", 9, "services.code-search.tenants.acme.burst"},
		{"rate_per_s: 2, burst: 3", "burst: 3", 9, "services.code-search.tenants.acme.rate_per_s"},
		{"priority: low", "priority: low\n    bogus: 1", 13, ""},
		{"tenant_header: X-Tenant", "tenant_header: 'X Tenant'", 2, "tenant_header"},
	} {
		_, err := ParsePolicy([]byte(strings.Replace(doc, tc.from, tc.to, 1)), "policy.yaml")
		var ie *inputerr.Error
		if !errors.As(err, &ie) || ie.Line != tc.line || ie.Field != tc.field {
			t.Errorf("%q → %q: err = %v, want line %d field %q", tc.from, tc.to, err, tc.line, tc.field)
		}
	}
	p := readPolicy(t)
	if err := p.CheckServices([]string{"code-search"}); err == nil || !strings.Contains(err.Error(), "chat-embed") {
		t.Errorf("CheckServices: %v", err)
	}
	if b := p.Services["code-search"].Tenants["acme"]; b.RatePerS != 2 || b.Burst != 3 {
		t.Errorf("acme: %+v", b)
	}
}

func FuzzParsePolicy(f *testing.F) {
	if data, err := os.ReadFile("testdata/policy.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("services: {a: {tenants: {default: {rate_per_s: 1}}}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data, "fuzz.yaml")
		if err != nil {
			if !inputerr.Is(err) {
				t.Fatalf("not an input error: %v", err)
			}
			return
		}
		ctl := New(p, nil)
		for s := range p.Services {
			if rel, err := ctl.Admit(s, "t"); err == nil {
				rel()
			}
		}
	})
}
