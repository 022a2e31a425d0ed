// Package trace reads request traces (contract §3.1): one row per request with an arrival time and a size.
//
// The reader streams: it keeps 16 bytes per request (an int64 arrival time in microseconds and a float64 size)
// and never the CSV text, so a 10-million-row trace needs about 160 MB, well under the size of the file itself.
package trace

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// Request is one request of a trace.
type Request struct {
	At   int64   // arrival time in microseconds; 0 is the first row of the file (contract §3.1)
	Size float64 // request size in the profile's size unit
}

// Trace is a sequence of requests sorted (stably) by arrival time.
type Trace struct {
	Source   string // file name, or a description for generated traces
	Requests []Request
}

// TimeUnit is the unit of numeric timestamps.
type TimeUnit int

const (
	Seconds TimeUnit = iota
	Milliseconds
)

// ParseTimeUnit parses "s" or "ms".
func ParseTimeUnit(s string) (TimeUnit, error) {
	switch strings.ToLower(s) {
	case "", "s", "sec", "seconds":
		return Seconds, nil
	case "ms", "milliseconds":
		return Milliseconds, nil
	}
	return 0, fmt.Errorf("time unit %q: want s or ms", s)
}

func (u TimeUnit) String() string {
	if u == Milliseconds {
		return "ms"
	}
	return "s"
}

// Options says which columns hold the time and the size, and the unit of numeric times.
type Options struct {
	TimeCol string // default "timestamp"
	SizeCol string // default "size"
	Unit    TimeUnit
}

func (o Options) withDefaults() Options {
	if o.TimeCol == "" {
		o.TimeCol = "timestamp"
	}
	if o.SizeCol == "" {
		o.SizeCol = "size"
	}
	return o
}

// ReadFile reads a trace file; errors name the file, the line and the column.
func ReadFile(path string, opt Options) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &inputerr.Error{File: path, Err: err}
	}
	defer f.Close()
	return Read(f, path, opt)
}

type timeFormat int

const (
	formatUnknown timeFormat = iota
	formatNumber
	formatDateTime
)

// Read reads a CSV trace from r. name is used in error messages.
func Read(r io.Reader, name string, opt Options) (*Trace, error) {
	opt = opt.withDefaults()
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<16))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // we check the columns we need ourselves, with better messages

	header, err := cr.Read()
	if err == io.EOF {
		return nil, inputerr.New(name, 1, "", "empty file: a header row is required")
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	timeIdx, sizeIdx := -1, -1
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if strings.EqualFold(h, opt.TimeCol) && timeIdx < 0 {
			timeIdx = i
		}
		if strings.EqualFold(h, opt.SizeCol) && sizeIdx < 0 {
			sizeIdx = i
		}
	}
	if timeIdx < 0 {
		return nil, inputerr.New(name, 1, opt.TimeCol, "no such column in the header %s (choose one with --time-col)", inputerr.Quote(strings.Join(header, ",")))
	}
	if sizeIdx < 0 {
		return nil, inputerr.New(name, 1, opt.SizeCol, "no such column in the header %s (choose one with --size-col)", inputerr.Quote(strings.Join(header, ",")))
	}
	timeName, sizeName := strings.TrimSpace(header[timeIdx]), strings.TrimSpace(header[sizeIdx])

	scale := int64(1e9) // nanoseconds per unit
	fracDigits := 9
	if opt.Unit == Milliseconds {
		scale, fracDigits = 1e6, 6
	}

	var (
		ns     []int64 // absolute times in ns; converted in place to µs offsets at the end
		sizes  []float64
		format timeFormat
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && rec[0] == "" {
			continue // a blank line
		}
		if timeIdx >= len(rec) || sizeIdx >= len(rec) {
			missing := timeName
			if timeIdx < len(rec) {
				missing = sizeName
			}
			return nil, inputerr.New(name, line, missing, "row has %d fields, the column is missing", len(rec))
		}
		tf := strings.TrimSpace(rec[timeIdx])
		f := classify(tf)
		if format == formatUnknown {
			format = f
		} else if f != format && f != formatUnknown {
			return nil, inputerr.New(name, line, timeName, "%s mixes a %s with the %ss of earlier rows", inputerr.Quote(tf), f, format)
		}
		var t int64
		switch f {
		case formatNumber:
			t, err = parseDecimal(tf, scale, fracDigits)
		case formatDateTime:
			t, err = parseDateTime(tf)
		default:
			err = fmt.Errorf("empty timestamp")
		}
		if err != nil {
			return nil, inputerr.New(name, line, timeName, "cannot read %s as a time: %v", inputerr.Quote(tf), err)
		}
		sf := strings.TrimSpace(rec[sizeIdx])
		s, err := strconv.ParseFloat(sf, 64)
		if err != nil || math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, inputerr.New(name, line, sizeName, "cannot read %s as a number", inputerr.Quote(sf))
		}
		if s <= 0 {
			return nil, inputerr.New(name, line, sizeName, "size %s is not positive", inputerr.Quote(sf))
		}
		ns = append(ns, t)
		sizes = append(sizes, s)
	}
	if len(ns) == 0 {
		return nil, inputerr.New(name, 0, "", "no requests after the header")
	}

	reqs := make([]Request, len(ns))
	first := ns[0]
	for i, t := range ns {
		d := t - first
		if (t > first && d < 0) || (t < first && d > 0) {
			return nil, inputerr.New(name, 0, timeName, "times span more than 292 years")
		}
		reqs[i] = Request{At: roundDiv(d, 1000), Size: sizes[i]}
	}
	sortStable(reqs)
	return &Trace{Source: name, Requests: reqs}, nil
}

func (f timeFormat) String() string {
	if f == formatNumber {
		return "number"
	}
	return "date-time"
}

func sortStable(reqs []Request) {
	if slices.IsSortedFunc(reqs, cmpAt) {
		return
	}
	slices.SortStableFunc(reqs, cmpAt)
}

func cmpAt(a, b Request) int {
	switch {
	case a.At < b.At:
		return -1
	case a.At > b.At:
		return 1
	}
	return 0
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return inputerr.New(name, pe.Line, fmt.Sprintf("column %d", pe.Column), "%v", pe.Err)
	}
	return &inputerr.Error{File: name, Err: err}
}

// classify tells a decimal number from a date-time by its first characters: a date-time has a '-' after four
// digits ("2023-11-16 ..."), a number does not.
func classify(s string) timeFormat {
	if s == "" {
		return formatUnknown
	}
	if len(s) >= 5 && s[4] == '-' && isDigits(s[:4]) {
		return formatDateTime
	}
	return formatNumber
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDecimal reads a decimal number of units exactly as an integer count of nanoseconds (scale = ns per unit),
// so epoch-second timestamps with 7 decimals keep every digit (a float64 would not). Digits beyond the nanosecond
// round half away from zero. Exponent notation falls back to float parsing.
func parseDecimal(s string, scale int64, fracDigits int) (int64, error) {
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, errors.New("not a number")
		}
		v := f * float64(scale)
		if math.IsNaN(v) || math.Abs(v) > math.MaxInt64/2 {
			return 0, errors.New("out of range")
		}
		return int64(math.Round(v)), nil
	}
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" || !isDigits(intPart) || !isDigits(frac) {
		return 0, errors.New("not a number")
	}
	var v int64
	for i := 0; i < len(intPart); i++ {
		d := int64(intPart[i] - '0')
		if v > (math.MaxInt64/2-d)/10 {
			return 0, errors.New("out of range")
		}
		v = v*10 + d
	}
	if v > math.MaxInt64/2/scale {
		return 0, errors.New("out of range")
	}
	v *= scale
	var f int64
	for i := 0; i < fracDigits; i++ {
		f *= 10
		if i < len(frac) {
			f += int64(frac[i] - '0')
		}
	}
	if len(frac) > fracDigits && frac[fracDigits] >= '5' {
		f++
	}
	v += f
	if neg {
		v = -v
	}
	return v, nil
}

var dateTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
}

// parseDateTime reads "2023-11-16 18:17:03.9791684" (no zone: UTC) or RFC 3339, as Unix nanoseconds.
func parseDateTime(s string) (int64, error) {
	for _, layout := range dateTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixNano(), nil
		}
	}
	return 0, errors.New(`want seconds, or a date-time like "2023-11-16 18:17:03.9791684" or RFC 3339`)
}

// roundDiv divides and rounds half away from zero.
func roundDiv(a, b int64) int64 {
	if a >= 0 {
		return (a + b/2) / b
	}
	return -((-a + b/2) / b)
}

// Len is the number of requests.
func (t *Trace) Len() int { return len(t.Requests) }

// Span is the time from the first to the last arrival, in microseconds.
func (t *Trace) Span() int64 {
	if len(t.Requests) == 0 {
		return 0
	}
	return t.Requests[len(t.Requests)-1].At - t.Requests[0].At
}

// Slice returns the requests arriving in [from, to) microseconds, sharing the underlying array.
func (t *Trace) Slice(from, to int64) *Trace {
	lo, _ := slices.BinarySearchFunc(t.Requests, from, func(r Request, at int64) int { return cmp.Compare(r.At, at) })
	hi, _ := slices.BinarySearchFunc(t.Requests, to, func(r Request, at int64) int { return cmp.Compare(r.At, at) })
	return &Trace{Source: t.Source, Requests: t.Requests[lo:hi]}
}

// Write writes the trace as CSV with columns timestamp (seconds, microsecond precision) and size.
func Write(w io.Writer, t *Trace) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString("timestamp,size\n"); err != nil {
		return err
	}
	buf := make([]byte, 0, 64)
	for _, r := range t.Requests {
		buf = buf[:0]
		at := r.At
		if at < 0 {
			buf = append(buf, '-')
			at = -at
		}
		buf = strconv.AppendInt(buf, at/1e6, 10)
		buf = append(buf, '.')
		frac := strconv.AppendInt(nil, 1e6+at%1e6, 10)
		buf = append(buf, frac[1:]...)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, r.Size, 'g', -1, 64)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Cut returns the requests arriving in [first + from, first + from + length) (length 0: to the end), with times
// counted from the window's start and divided by speedup (rounded to the microsecond), and sizes capped at
// maxSize (0: no cap). It is how a replay window is prepared.
func Cut(t *Trace, from, length int64, maxSize, speedup float64) *Trace {
	out := &Trace{Source: t.Source}
	if len(t.Requests) == 0 {
		return out
	}
	lo := t.Requests[0].At + from
	hi := int64(math.MaxInt64)
	if length > 0 {
		hi = lo + length
	}
	win := t.Slice(lo, hi)
	out.Requests = make([]Request, len(win.Requests))
	for i, r := range win.Requests {
		at := r.At - lo
		if speedup != 1 {
			at = int64(math.Round(float64(at) / speedup))
		}
		size := r.Size
		if maxSize > 0 {
			size = math.Min(size, maxSize)
		}
		out.Requests[i] = Request{At: at, Size: size}
	}
	return out
}
