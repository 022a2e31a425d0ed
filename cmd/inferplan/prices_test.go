package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// recordedPriceList serves GetProducts from pricing/testdata/pricelist; with bad set, the second EC2 page is cut.
func recordedPriceList(bad *atomic.Bool) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ ServiceCode, NextToken string }
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &in)
		page := map[bool]string{true: "2", false: "1"}[in.NextToken == "page2"]
		data, err := os.ReadFile(filepath.Join("..", "..", "pricing", "testdata", "pricelist", in.ServiceCode+"-"+page+".json"))
		if err != nil {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"__type":"InvalidParameterException","Message":%q}`, err.Error())
			return
		}
		if bad.Load() && in.ServiceCode == "AmazonEC2" && page == "2" {
			data = data[:len(data)/2] // a page cut off mid-stream
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Write(data)
	}))
}

func TestPricesUpdateKeepsTheLastGoodCache(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("INFERPLAN_CACHE_DIR", cache)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var bad atomic.Bool
	srv := recordedPriceList(&bad)
	defer srv.Close()

	r := run(t, "prices", "update", "--endpoint-url", srv.URL)
	if r.code != 0 {
		t.Fatalf("update: exit %d %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "12 prices unchanged") || !strings.Contains(r.stdout, "Lambda arm64: $0.0000133334") {
		t.Fatalf("update report:\n%s", r.stdout)
	}
	path := filepath.Join(cache, "prices-us-east-1.json")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// later runs use the cache, and plans say so
	r = run(t, "prices", "list", "--gpu", "h100")
	if !strings.Contains(r.stdout, "as of 2026-11-23 (AWS Price List API, cached in "+path) {
		t.Fatalf("prices list does not use the cache:\n%s", r.stdout)
	}
	// a truncated page: exit 1, says the previous prices stay, and the cache is byte for byte the same
	bad.Store(true)
	r = run(t, "prices", "update", "--endpoint-url", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "the previous prices stay") || !strings.Contains(r.stderr, "AmazonEC2 price list, page 2") {
		t.Fatalf("bad page: exit %d %s", r.code, r.stderr)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(good) {
		t.Fatal("a failed update changed the cache")
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		t.Fatalf("left-overs in the cache folder: %v", entries)
	}
}
