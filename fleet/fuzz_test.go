package fleet

import (
	"os"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// FuzzParseMapping: any input gives a mapping or an input error, never a panic or another kind of error.
func FuzzParseMapping(f *testing.F) {
	if data, err := os.ReadFile("testdata/workers.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"workers": []}`))
	f.Add([]byte(`{"workers": [{"id": "a", "service": "s", "url": "http://h"}]} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMapping(data, "fuzz.json")
		if err != nil {
			if !inputerr.Is(err) {
				t.Fatalf("not an input error: %v", err)
			}
			return
		}
		if len(m.Workers) == 0 {
			t.Fatal("a mapping without workers was accepted")
		}
	})
}
