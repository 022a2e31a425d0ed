package main

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeRSSAfterBursts measures what the README reports for defect 6: the resident memory of `serve` after
// each of three bursts of 5,000 simultaneous requests (built-in bert-tiny backend, 16 tokens each), with the
// default memory limit and with none. It is a measurement for the README, not a check that could fail on a busy
// machine, so it runs only when asked: INFERPLAN_RSS=1 go test ./cmd/inferplan -run RSSAfterBursts -v.
func TestServeRSSAfterBursts(t *testing.T) {
	if os.Getenv("INFERPLAN_RSS") == "" {
		t.Skip("a measurement; set INFERPLAN_RSS=1")
	}
	p := writeTestPlan(t, t.TempDir(), "plan.json", twoBuffers...)
	var table strings.Builder
	table.WriteString("| --memory-limit | GOGC | limit | RSS after burst 1 | burst 2 | burst 3 | 10 s later |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, limit := range []string{"off", "auto"} {
		s := startServe(t, "--plan", p, "--backend", "builtin:bert-tiny", "--max-queue", "8192", "--memory-limit", limit)
		m := regexp.MustCompile(`memory_limit=(\S+)`).FindStringSubmatch(s.logText())
		c := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 5000}}
		var rss []string
		for burst := 0; burst < 3; burst++ {
			var wg sync.WaitGroup
			var mu sync.Mutex
			failed := 0
			for i := 0; i < 5000; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if code, _, err := infer(c, s.url, strconv.Itoa(i), 16); err != nil || code != http.StatusOK {
						mu.Lock()
						failed++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if failed > 0 {
				t.Logf("burst %d: %d of 5,000 requests failed", burst+1, failed)
			}
			time.Sleep(time.Second)
			rss = append(rss, residentMB(t, s.cmd.Process.Pid))
		}
		time.Sleep(10 * time.Second)
		rss = append(rss, residentMB(t, s.cmd.Process.Pid))
		gogc := scrape(t, c, s.url, "go_gc_gogc_percent")
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", limit, gogc, m[1], strings.Join(rss, " | "))
		if err := s.stop(t, os.Interrupt); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("\n%s", table.String())
}

// residentMB is a process's resident set size from /proc, in MB.
func residentMB(t *testing.T, pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(data)
	kb, _ := strconv.Atoi(string(m[1]))
	return fmt.Sprintf("%d MB", kb/1024)
}

// scrape reads one gauge from the gateway's /metrics.
func scrape(t *testing.T, c *http.Client, url, name string) string {
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(b.String()); m != nil {
		return m[1]
	}
	return "?"
}
