package yamlfile

import (
	"errors"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

func TestDecodeNamesLinesAndUnknownKeys(t *testing.T) {
	type doc struct {
		A struct {
			B []int `yaml:"b"`
		} `yaml:"a"`
	}
	var d doc
	yd, err := Decode([]byte("# c\na:\n  b:\n    - 1\n    - 2\n"), "f.yaml", "example", &d)
	if err != nil || len(d.A.B) != 2 {
		t.Fatalf("%v %+v", err, d)
	}
	for _, tc := range []struct {
		path []string
		line int
	}{{nil, 2}, {[]string{"a"}, 2}, {[]string{"a", "b"}, 3}, {[]string{"a", "b", "1"}, 5}, {[]string{"a", "zz"}, 2}} {
		if got := yd.Line(tc.path...); got != tc.line {
			t.Errorf("Line(%v) = %d, want %d", tc.path, got, tc.line)
		}
	}
	_, err = Decode([]byte("a:\n  c: 1\n"), "f.yaml", "example", &d)
	var ie *inputerr.Error
	if !errors.As(err, &ie) || ie.Line != 2 || ie.Error() != "f.yaml:2: field c is not an example key" {
		t.Errorf("unknown key: %v", err)
	}
	_, err = Decode([]byte("a: [\n"), "f.yaml", "example", &d)
	if !errors.As(err, &ie) || ie.Line == 0 {
		t.Errorf("bad YAML: %v", err)
	}
	if _, err = Decode(nil, "f.yaml", "example", &d); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
}
