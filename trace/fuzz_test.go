package trace

import (
	"bytes"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// FuzzRead feeds arbitrary bytes to the reader: it must return a trace or an input error, never panic, and a
// trace it returns must be sorted with positive sizes. Seeds are in testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	f.Add([]byte("timestamp,size\n0,1\n1.5,2\n"), false)
	f.Add([]byte("TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6805900,374,44\r\n2023-11-16 18:15:50.9951690,396,109"), false)
	f.Add([]byte("timestamp,input_length\n0,6758\n1000,7322\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, ms bool) {
		opt := Options{}
		if bytes.HasPrefix(data, []byte("TIMESTAMP")) {
			opt = Options{TimeCol: "TIMESTAMP", SizeCol: "ContextTokens"}
		} else if bytes.Contains(data, []byte("input_length")) {
			opt.SizeCol = "input_length"
		}
		if ms {
			opt.Unit = Milliseconds
		}
		tr, err := Read(bytes.NewReader(data), "fuzz.csv", opt)
		if err != nil {
			if !inputerr.Is(err) {
				t.Fatalf("error is not an input error: %v", err)
			}
			return
		}
		for i, r := range tr.Requests {
			if !(r.Size > 0) {
				t.Fatalf("request %d has size %v", i, r.Size)
			}
			if i > 0 && r.At < tr.Requests[i-1].At {
				t.Fatalf("not sorted at %d", i)
			}
		}
	})
}
