package tables

import (
	"bytes"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/profiler/profile"
)

// fuzzTable checks what must hold for any input: a result or an input error, never a panic or another error; every
// row ends up in a profile or in the skipped list (none dropped silently); every profile validates and writes to
// a document profile.Parse reads back with the same points. Seeds are in testdata/fuzz/<name> (a few rows of
// the real tables, a BOM, CRLF, quoted cells over two lines, duplicates); the two hex-named ones are the
// fuzzer's finds: a cell that is not UTF-8 came back from JSON as U+FFFD. Run with e.g.
//
//	go test ./profiler/tables -run '^$' -fuzz FuzzTensorRTBERT -fuzztime 60s -fuzzminimizetime 5s
func fuzzTable(t *testing.T, data []byte, read func(*bytes.Reader, string) (*Result, error)) {
	res, err := read(bytes.NewReader(data), "fuzz.csv")
	if err != nil {
		if !inputerr.Is(err) {
			t.Fatalf("error is not an input error: %v", err)
		}
		return
	}
	rows := 0
	for _, s := range res.Skipped {
		if s.Reason == "" || s.Rows != len(s.Lines) {
			t.Fatalf("skip without a reason or with %d lines for %d rows: %+v", len(s.Lines), s.Rows, s)
		}
		rows += s.Rows
	}
	for _, p := range res.Profiles {
		rows += len(p.Measurements)
		if err := p.Validate(); err != nil {
			t.Fatalf("profile does not validate: %v", err)
		}
		var buf bytes.Buffer
		if err := p.Write(&buf); err != nil {
			t.Fatal(err)
		}
		q, err := profile.Parse(buf.Bytes(), FileName(p))
		if err != nil {
			t.Fatalf("written profile does not parse: %v\n%s", err, buf.Bytes())
		}
		if len(q.Measurements) != len(p.Measurements) || q.Model != p.Model || q.Source != p.Source {
			t.Fatalf("read back %d measurements of %q, wrote %d of %q", len(q.Measurements), q.Model, len(p.Measurements), p.Model)
		}
		if _, ok := ProvenanceOf(q); !ok {
			t.Fatal("provenance lost")
		}
	}
	if rows != res.Rows {
		t.Fatalf("%d rows read, %d in profiles and skips", res.Rows, rows)
	}
}

func FuzzTensorRTBERT(f *testing.F) {
	f.Add([]byte(trtHeader + trtRow1 + trtRow8))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzTable(t, data, trt) })
}

func FuzzHFEncoderBatch1(f *testing.F) {
	f.Add([]byte(hfHeader + hfRow8 + hfRow16))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzTable(t, data, hf) })
}
