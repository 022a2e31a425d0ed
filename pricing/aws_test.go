package pricing

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// priceListServer answers GetProducts (AWS JSON 1.1, X-Amz-Target AWSPriceListService.GetProducts) from the
// recorded pages in testdata/pricelist; corrupt replaces one page's body.
type priceListServer struct {
	mu      sync.Mutex
	calls   []string
	filters map[string][]string
	corrupt map[string]string // "AmazonEC2-2" → body
}

func (s *priceListServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "AWSPriceListService.GetProducts" {
		http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
		return
	}
	var in struct {
		ServiceCode string
		NextToken   string
		Filters     []struct{ Type, Field, Value string }
	}
	body, _ := io.ReadAll(r.Body)
	json.Unmarshal(body, &in)
	page := "1"
	if in.NextToken == "page2" {
		page = "2"
	}
	name := in.ServiceCode + "-" + page
	s.mu.Lock()
	s.calls = append(s.calls, name)
	if s.filters == nil {
		s.filters = map[string][]string{}
	}
	for _, f := range in.Filters {
		s.filters[in.ServiceCode] = append(s.filters[in.ServiceCode], f.Field+"="+f.Value)
	}
	bad, isBad := s.corrupt[name]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if isBad {
		w.Write([]byte(bad))
		return
	}
	data, err := os.ReadFile(filepath.Join("testdata", "pricelist", name+".json"))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"InvalidParameterException","Message":"no such page %s"}`, name)
		return
	}
	w.Write(data)
}

func fetchFrom(t *testing.T, srv *httptest.Server) (*Snapshot, FetchReport, error) {
	t.Helper()
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
	})}
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	return Fetch(context.Background(), PriceListClient(cfg, srv.URL), "us-east-1", Embedded().Snapshot(), now)
}

// TestFetchReproducesTheSnapshot: the recorded pages hold the shared data's prices, so a fetch must give back the
// embedded snapshot's Lambda prices and the sampled EC2 prices exactly.
func TestFetchReproducesTheSnapshot(t *testing.T) {
	ps := &priceListServer{}
	srv := httptest.NewServer(ps)
	defer srv.Close()
	snap, rep, err := fetchFrom(t, srv)
	if err != nil {
		t.Fatal(err)
	}
	emb := Embedded().Snapshot()
	for _, arch := range []string{"x86_64", "arm64"} {
		got, want := snap.Lambda[arch], emb.Lambda[arch]
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: fetched %+v, embedded %+v", arch, got, want)
		}
	}
	cat := New(*snap, "test")
	for _, typ := range []string{"c6i.xlarge", "c7g.xlarge", "g4dn.xlarge", "g5.xlarge", "g6.xlarge", "g6e.xlarge", "inf2.xlarge",
		"p3.2xlarge", "p4d.24xlarge", "p5.48xlarge", "m7i.large", "r6g.medium"} {
		got, ok := cat.OnDemandPrice(typ)
		want, _ := Embedded().OnDemandPrice(typ)
		if !ok || got != want {
			t.Errorf("%s: fetched %v, embedded %v", typ, got, want)
		}
	}
	if rep.EC2Unchanged != 12 || rep.EC2Updated != 0 || rep.EC2Added != 0 || rep.Skipped != 3 || rep.Pages != 3 {
		t.Errorf("report %+v", rep)
	}
	// specs and GPUs come from the previous prices; the date and source are the fetch's
	if p5, _ := cat.Instance("p5.48xlarge"); p5.GPU == nil || p5.GPU.Count != 8 {
		t.Errorf("p5.48xlarge lost its GPUs: %+v", p5)
	}
	if snap.AsOf != "2026-11-23" || !strings.Contains(snap.Sources[0].What, "AWS Price List API") {
		t.Errorf("as of %s, sources %+v", snap.AsOf, snap.Sources)
	}
	if got := strings.Join(ps.filters["AmazonEC2"], ","); !strings.Contains(got, "operatingSystem=Linux") || !strings.Contains(got, "tenancy=Shared") {
		t.Errorf("EC2 filters %s", got)
	}
}

func TestFetchFailsWholeOnABadPage(t *testing.T) {
	for name, body := range map[string]string{
		"truncated page":    `{"FormatVersion":"aws_v1","PriceList":["{\"product\":{\"sku\":\"X\"`,
		"malformed product": `{"FormatVersion":"aws_v1","PriceList":["{\"product\": 42}"]}`,
		"bad price":         `{"FormatVersion":"aws_v1","PriceList":["{\"product\":{\"sku\":\"X\",\"attributes\":{\"instanceType\":\"z.large\"}},\"terms\":{\"OnDemand\":{\"t\":{\"priceDimensions\":{\"d\":{\"unit\":\"Hrs\",\"pricePerUnit\":{\"USD\":\"abc\"}}}}}}}"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(&priceListServer{corrupt: map[string]string{"AmazonEC2-2": body}})
			defer srv.Close()
			if _, _, err := fetchFrom(t, srv); err == nil || !strings.Contains(err.Error(), "page 2") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// a Lambda list without arm64 is partial
	lamb, _ := os.ReadFile("testdata/pricelist/AWSLambda-1.json")
	var page map[string]any
	json.Unmarshal(lamb, &page)
	list := page["PriceList"].([]any)
	var keep []any
	for _, p := range list {
		if !strings.Contains(p.(string), "-ARM") {
			keep = append(keep, p)
		}
	}
	page["PriceList"] = keep
	noARM, _ := json.Marshal(page)
	srv := httptest.NewServer(&priceListServer{corrupt: map[string]string{"AWSLambda-1": string(noARM)}})
	defer srv.Close()
	if _, _, err := fetchFrom(t, srv); err == nil || !strings.Contains(err.Error(), "arm64") {
		t.Fatalf("no arm64: err = %v", err)
	}
}

func TestCacheRoundTrip(t *testing.T) {
	t.Setenv("INFERPLAN_CACHE_DIR", t.TempDir())
	if _, err := LoadCache("us-east-1"); err != ErrNoCache {
		t.Fatalf("empty cache: %v", err)
	}
	if c, warn := Default(); c.Source() != "embedded snapshot" || warn != "" {
		t.Fatalf("default without a cache: %s %q", c.Source(), warn)
	}
	path, _ := CachePath("us-east-1")
	s := Embedded().Snapshot()
	s.AsOf = "2026-11-23"
	if err := SaveCache(path, &s); err != nil {
		t.Fatal(err)
	}
	c, warn := Default()
	if warn != "" || c.AsOf() != "2026-11-23" || !strings.Contains(c.Source(), path) {
		t.Fatalf("default with a cache: %s %s %q", c.AsOf(), c.Source(), warn)
	}
	os.WriteFile(path, []byte("{"), 0o644)
	if c, warn := Default(); c.Source() != "embedded snapshot" || !strings.Contains(warn, "ignoring the price cache") {
		t.Fatalf("corrupt cache: %s %q", c.Source(), warn)
	}
}

// TestImplausibleCachesFallBackToTheSnapshot: cached prices that validate on their own but are far from the
// embedded snapshot's (a unit mistake, a hand edit, another region, a date that is not one) are not used; the
// run warns and uses the snapshot.
func TestImplausibleCachesFallBackToTheSnapshot(t *testing.T) {
	t.Setenv("INFERPLAN_CACHE_DIR", t.TempDir())
	path, _ := CachePath("us-east-1")
	for _, tc := range []struct {
		name  string
		edit  func(s *Snapshot)
		words string
	}{
		{"request price 1e6", func(s *Snapshot) { lp := s.Lambda["x86_64"]; lp.RequestUSD = 1e6; s.Lambda["x86_64"] = lp }, "request price"},
		{"GB-s price 1e-300", func(s *Snapshot) {
			lp := s.Lambda["arm64"]
			lp.Tiers = append([]Tier(nil), lp.Tiers...)
			lp.Tiers[0].USDPerGBSec = 1e-300
			s.Lambda["arm64"] = lp
		}, "tier 0 price per GB-s"},
		{"bad as_of", func(s *Snapshot) { s.AsOf = "yesterday" }, "not a date"},
		{"future as_of", func(s *Snapshot) { s.AsOf = "2999-01-01" }, "in the future"},
		{"older than the snapshot", func(s *Snapshot) { s.AsOf = "2020-01-01" }, "older than the embedded snapshot"},
		{"another region", func(s *Snapshot) { s.Region = "eu-west-1" }, `region "eu-west-1"`},
		{"an EC2 price in cents", func(s *Snapshot) {
			for i, in := range s.Instances {
				if in.OnDemandUSDPerHour != nil {
					v := *in.OnDemandUSDPerHour * 100
					s.Instances[i].OnDemandUSDPerHour = &v
					return
				}
			}
		}, "on-demand price per hour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Embedded().Snapshot()
			s.Lambda = maps.Clone(s.Lambda)
			s.Instances = slices.Clone(s.Instances)
			s.AsOf = "2026-11-23"
			tc.edit(&s)
			data, err := s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			c, warn := Default()
			if c.Source() != "embedded snapshot" || !strings.Contains(warn, "ignoring the price cache") || !strings.Contains(warn, tc.words) {
				t.Fatalf("source %s, warning %q; want the snapshot and a warning about %q", c.Source(), warn, tc.words)
			}
		})
	}
}
