package reports

import "testing"

func TestJobFormats(t *testing.T) {
	for v, want := range map[float64]string{0.003951605: "$0.00395", 0.0104: "$0.0104", 0.25: "$0.250", 1.5: "$1.50", 0: "$0", 2500: "$2,500"} {
		if got := JobUSD(v); got != want {
			t.Errorf("JobUSD(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0.4123: "0.412 s", 12.34: "12.3 s", 900: "15.0 min"} {
		if got := JobSeconds(v); got != want {
			t.Errorf("JobSeconds(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{6.7e-6: "6.7 µs", 0.00136: "1.36 ms", 2.5: "2.500 s"} {
		if got := benchMicros(v); got != want {
			t.Errorf("benchMicros(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0: "no limit", 4e8: "400 MB/s", 1.3e9: "1.30 GB/s"} {
		if got := benchRate(v); got != want {
			t.Errorf("benchRate(%v) = %q, want %q", v, got, want)
		}
	}
}
