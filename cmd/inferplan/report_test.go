package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestReportFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pl := filepath.Join(dir, "plan.json")
	if r := run(t, "plan", "--example", "--window", "10m", "--refine", "0", "-o", pl); r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	html := filepath.Join(dir, "plan.html")
	r := run(t, "report", pl, "--html", html, "--charts", filepath.Join(dir, "charts"), "--chart-format", "png")
	if r.code != 0 {
		t.Fatalf("report: exit %d %s", r.code, r.stderr)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"sizes", "latency", "cost", "batching", "padding", "schedule"} {
		if !strings.Contains(string(page), `<figure id="chart-`+id+`">`) {
			t.Errorf("the page lacks the %s chart", id)
		}
		png, err := os.ReadFile(filepath.Join(dir, "charts", id+".png"))
		if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
			t.Errorf("%s.png: %v", id, err)
		}
	}
	if n := strings.Count(string(page), "<svg"); n != 6 {
		t.Errorf("%d inline SVGs, want 6", n)
	}
	if strings.Contains(string(page), "<script") || strings.Contains(string(page), "src=\"http") {
		t.Error("the page is not self-contained")
	}
	if r := run(t, "report", pl); r.code != 2 || !strings.Contains(r.stderr, "--html") {
		t.Errorf("no output asked for: exit %d %s", r.code, r.stderr)
	}
}

// TestReportInChromium opens the example plan's report in headless Chromium (Debian's chromium package; .ci/run
// installs it): the page must load, and the DOM Chromium builds must hold every chart. With
// INFERPLAN_SCREENSHOT=FILE it also saves a screenshot.
func TestReportInChromium(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium); .ci/run installs it")
	}
	t.Parallel()
	dir := t.TempDir()
	_, pl := plansFor(t) // the gate tests' example plan, shared
	html := filepath.Join(dir, "plan.html")
	if r := run(t, "report", pl, "--html", html); r.code != 0 {
		t.Fatalf("report: %s", r.stderr)
	}
	args := func(extra ...string) []string {
		return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}, append(extra, "file://"+html)...)
	}
	cmd := exec.Command(chrome, args("--dump-dom")...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	if n := strings.Count(string(dom), "<svg"); n != 5 {
		t.Errorf("the rendered DOM holds %d charts, want 5 (no schedule without --window)", n)
	}
	if regexp.MustCompile(`(?i)console\(.*error|Uncaught|Failed to load resource`).MatchString(stderr.String()) {
		t.Errorf("the page logged errors:\n%s", stderr.String())
	}
	if !strings.Contains(string(dom), "Plan vs baselines") {
		t.Error("the summary tables are missing")
	}
	if shot := os.Getenv("INFERPLAN_SCREENSHOT"); shot != "" {
		if out, err := exec.Command(chrome, args("--window-size=1200,3000", "--screenshot="+shot)...).CombinedOutput(); err != nil {
			t.Fatalf("screenshot: %v\n%s", err, out)
		}
		t.Logf("screenshot in %s", shot)
	}
}
