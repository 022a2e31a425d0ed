package trace

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

func read(t *testing.T, csv string, opt Options) *Trace {
	t.Helper()
	tr, err := Read(strings.NewReader(csv), "t.csv", opt)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return tr
}

func ats(tr *Trace) []int64 {
	out := make([]int64, len(tr.Requests))
	for i, r := range tr.Requests {
		out[i] = r.At
	}
	return out
}

func TestReadSecondsCRLFUnsortedStable(t *testing.T) {
	csv := "Size,other,TimeStamp\r\n" +
		"10,x,100.5\r\n" +
		"20,y,100.25\r\n" +
		"\r\n" +
		"30,z,100.5\r\n" +
		"40,w,101\r\n"
	tr := read(t, csv, Options{})
	got := fmt.Sprint(tr.Requests)
	// times relative to the first row (100.5 s); 100.25 sorts first; equal times keep file order (10 before 30)
	want := "[{-250000 20} {0 10} {0 30} {500000 40}]"
	if got != want {
		t.Fatalf("requests = %s, want %s", got, want)
	}
}

func TestReadMillisecondsAndColumns(t *testing.T) {
	csv := "timestamp,input_length,output_length\n0,6758,500\n1000,7322,490\n1000.4,10,1\n"
	tr := read(t, csv, Options{SizeCol: "input_length", Unit: Milliseconds})
	if got, want := fmt.Sprint(ats(tr)), "[0 1000000 1000400]"; got != want {
		t.Fatalf("times = %s, want %s", got, want)
	}
}

func TestReadDateTimes(t *testing.T) {
	csv := "TIMESTAMP,ContextTokens\n" +
		"2023-11-16 18:15:46.6805900,374\n" +
		"2023-11-16 18:15:50.9951690,396\n" +
		"2023-11-16T18:15:51.2224675Z,879\n" // RFC 3339; the 7th decimal rounds half up to the µs
	tr := read(t, csv, Options{TimeCol: "timestamp", SizeCol: "contexttokens"})
	// 50.9951690 − 46.6805900 = 4.3145790 s; 51.2224675 − 46.6805900 = 4.5418775 s → 4541878 µs
	if got, want := fmt.Sprint(ats(tr)), "[0 4314579 4541878]"; got != want {
		t.Fatalf("times = %s, want %s", got, want)
	}
}

func TestReadKeepsEpochPrecision(t *testing.T) {
	// 1.7e9 s with 7 decimals has 17 significant digits: a float64 would lose the microseconds.
	csv := "timestamp,size\n1700000000.1234567,1\n1700000000.1234575,1\n1700000003.0000015,1\n"
	tr := read(t, csv, Options{})
	// differences: 0.0000008 s → 1 µs (0.8 rounds up); 2.8765448 s → 2876545 µs (…44.8 rounds up)
	if got, want := fmt.Sprint(ats(tr)), "[0 1 2876545]"; got != want {
		t.Fatalf("times = %s, want %s", got, want)
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ns   int64
		fail bool
	}{
		{"0", 0, false},
		{"1.5", 1_500_000_000, false},
		{".25", 250_000_000, false},
		{"-2.0000000005", -2_000_000_001, false}, // half away from zero
		{"1.9999999996", 2_000_000_000, false},   // the carry crosses into the integer part
		{"1e3", 1000_000_000_000, false},
		{"", 0, true},
		{".", 0, true},
		{"1.2.3", 0, true},
		{"12a", 0, true},
		{"99999999999999999999", 0, true},
	} {
		got, err := parseDecimal(tc.in, 1e9, 9)
		if (err != nil) != tc.fail || got != tc.ns {
			t.Errorf("parseDecimal(%q) = %d, %v; want %d, fail=%v", tc.in, got, err, tc.ns, tc.fail)
		}
	}
}

func TestReadErrors(t *testing.T) {
	var big strings.Builder
	big.WriteString("timestamp,size\n")
	for i := 2; i < 1234; i++ {
		fmt.Fprintf(&big, "%d.5,3\n", i)
	}
	big.WriteString("12:00,3\n") // line 1234
	for _, tc := range []struct {
		name, csv  string
		opt        Options
		line       int
		field, msg string
	}{
		{"bad timestamp on line 1234", big.String(), Options{}, 1234, "timestamp", `cannot read "12:00" as a time`},
		{"missing time column", "time,size\n1,2\n", Options{}, 1, "timestamp", "no such column"},
		{"missing size column", "timestamp,tokens\n1,2\n", Options{}, 1, "size", "--size-col"},
		{"short row", "timestamp,size\n1,2\n3\n", Options{}, 3, "size", "column is missing"},
		{"bad size", "timestamp,size\n1,2\n2,abc\n", Options{}, 3, "size", `"abc"`},
		{"zero size", "timestamp,size\n1,0\n", Options{}, 2, "size", "not positive"},
		{"nan size", "timestamp,size\n1,NaN\n", Options{}, 2, "size", "as a number"},
		{"mixed formats", "timestamp,size\n1,1\n2023-11-16 18:15:46,1\n", Options{}, 3, "timestamp", "mixes"},
		{"empty", "", Options{}, 1, "", "header"},
		{"header only", "timestamp,size\r\n", Options{}, 0, "", "no requests"},
		{"bad quote", "timestamp,size\n1,\"2\n", Options{}, 2, "column", "quote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.csv), "bad.csv", tc.opt)
			var ie *inputerr.Error
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an input error", err)
			}
			if ie.File != "bad.csv" || ie.Line != tc.line || !strings.Contains(ie.Field, tc.field) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %q (line %d, field %q); want line %d, field %q, message with %q", err, ie.Line, ie.Field, tc.line, tc.field, tc.msg)
			}
		})
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	in := &Trace{Requests: []Request{{-5, 1}, {0, 2.5}, {1, 3}, {1_234_567, 1e-3}}}
	var buf bytes.Buffer
	if err := Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "timestamp,size\n-0.000005,1\n0.000000,2.5\n") {
		t.Fatalf("unexpected CSV:\n%s", buf.String())
	}
	out := read(t, buf.String(), Options{})
	// times are relative to the first row, so the round trip shifts them by +5 µs
	for i, r := range out.Requests {
		if r.At != in.Requests[i].At+5 || r.Size != in.Requests[i].Size {
			t.Fatalf("request %d = %+v, want %+v shifted by 5 µs", i, r, in.Requests[i])
		}
	}
}

func TestSliceAndSpan(t *testing.T) {
	tr := &Trace{Requests: []Request{{0, 1}, {10, 1}, {10, 2}, {20, 1}, {30, 1}}}
	s := tr.Slice(10, 30)
	if s.Len() != 3 || s.Requests[0].At != 10 || s.Span() != 10 {
		t.Fatalf("Slice(10,30) = %v", s.Requests)
	}
}

func TestCut(t *testing.T) {
	tr := &Trace{Requests: []Request{{100, 5}, {110, 700}, {120, 3}, {130, 900}, {145, 1}}}
	// window [100+10, 100+10+25) = [110, 135): three requests, times from 110, halved, sizes capped at 512
	got := Cut(tr, 10, 25, 512, 2)
	want := []Request{{0, 512}, {5, 3}, {10, 512}}
	if !slices.Equal(got.Requests, want) {
		t.Fatalf("Cut = %v, want %v", got.Requests, want)
	}
	// length 0 runs to the end; speed-up 1 and no cap keep times and sizes as they are
	got = Cut(tr, 30, 0, 0, 1)
	want = []Request{{0, 900}, {15, 1}}
	if !slices.Equal(got.Requests, want) {
		t.Fatalf("Cut to end = %v, want %v", got.Requests, want)
	}
	// rounding to the microsecond: 15/4 = 3.75 → 4
	if got := Cut(tr, 30, 0, 0, 4); got.Requests[1].At != 4 {
		t.Fatalf("Cut speed-up 4 = %v, want second at 4", got.Requests)
	}
	if Cut(&Trace{}, 0, 10, 0, 1).Len() != 0 || Cut(tr, 1000, 0, 0, 1).Len() != 0 {
		t.Fatal("Cut of an empty trace or past the end must be empty")
	}
	// the input is not modified
	if tr.Requests[1].Size != 700 {
		t.Fatal("Cut modified its input")
	}
}

func TestStatsSmall(t *testing.T) {
	// gaps 0.5, 0.5, 2 s: mean 1, population std sqrt(((−.5)²+(−.5)²+1²)/3) = sqrt(0.5)
	tr := &Trace{Requests: []Request{{0, 4}, {500_000, 1}, {1_000_000, 3}, {3_000_000, 2}}}
	st := tr.Stats()
	if st.Requests != 4 || st.SpanS != 3 || math.Abs(st.MeanRPS-4.0/3) > 1e-12 || st.PeakRPS != 2 {
		t.Fatalf("stats = %+v", st)
	}
	if math.Abs(st.InterArrivalCV-math.Sqrt(0.5)) > 1e-12 {
		t.Fatalf("CV = %v, want %v", st.InterArrivalCV, math.Sqrt(0.5))
	}
	// sizes sorted 1 2 3 4: p50 = rank 2 → 2; p90 = rank 4 → 4
	if st.SizeP50 != 2 || st.SizeP90 != 4 || st.SizeMin != 1 || st.SizeMax != 4 || st.SizeMean != 2.5 {
		t.Fatalf("size stats = %+v", st)
	}
}

func TestWithSizesDeterministic(t *testing.T) {
	mix, err := ParseSizeMix([]byte(`{"shares":[{"size":1,"share":3},{"size":2,"share":0},{"size":5,"share":1}]}`), "mix.json")
	if err != nil {
		t.Fatal(err)
	}
	arr := &Trace{Source: "arr", Requests: make([]Request, 40000)}
	for i := range arr.Requests {
		arr.Requests[i].At = int64(i)
	}
	a, b := WithSizes(arr, mix, 7), WithSizes(arr, mix, 7)
	ones := 0
	for i := range a.Requests {
		if a.Requests[i] != b.Requests[i] {
			t.Fatal("same seed gave different sizes")
		}
		switch a.Requests[i].Size {
		case 1:
			ones++
		case 2:
			t.Fatal("drew a zero-share size")
		}
	}
	// share 3/4; binomial std of the count is sqrt(40000·0.75·0.25) ≈ 87, so ±500 cannot fail by chance
	if ones < 30000-500 || ones > 30000+500 {
		t.Fatalf("%d of 40000 draws are size 1, want about 30000", ones)
	}
	c := WithSizes(arr, mix, 8)
	same := 0
	for i := range a.Requests {
		if a.Requests[i] == c.Requests[i] {
			same++
		}
	}
	if same == len(a.Requests) {
		t.Fatal("different seeds gave the same sizes")
	}
}

func TestParseSizeMixErrors(t *testing.T) {
	for _, bad := range []string{`{}`, `{"shares":[{"size":-1,"share":1}]}`, `{"shares":[{"size":1,"share":0}]}`, `[`} {
		if _, err := ParseSizeMix([]byte(bad), "m.json"); !inputerr.Is(err) {
			t.Errorf("ParseSizeMix(%s) = %v, want an input error", bad, err)
		}
	}
}

// TestErrorsQuoteAtMostAHundredBytes: a 2 MB header with no newline (a binary file, a JSON file given as a
// trace) is not echoed whole into the error.
func TestErrorsQuoteAtMostAHundredBytes(t *testing.T) {
	header := strings.Repeat("x", 2<<20)
	_, err := Read(strings.NewReader(header), "big.csv", Options{})
	if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), "(2097152 bytes)") {
		t.Fatalf("error of %d bytes: %.300s", len(fmt.Sprint(err)), err)
	}
	_, err = Read(strings.NewReader("timestamp,size\n"+strings.Repeat("9", 5000)+"x,3\n"), "t.csv", Options{})
	if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), "t.csv:2: timestamp") {
		t.Fatalf("a long bad time: %.300s", err)
	}
}
