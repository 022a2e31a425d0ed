package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// Mapping says which URL serves which of a plan's workers: `inferplan workers` writes one per host it runs, and
// `inferplan serve --plan --workers` reads them.
type Mapping struct {
	Plan    string         `json:"plan,omitempty"` // the plan file the workers were started from
	Host    string         `json:"host,omitempty"`
	Workers []MappedWorker `json:"workers"`
}

// MappedWorker is one worker and the base URL of its Open Inference Protocol v2 server.
type MappedWorker struct {
	ID      string `json:"id"`
	Service string `json:"service"`
	URL     string `json:"url"`
}

// ReadMapping reads a mapping file.
func ReadMapping(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &inputerr.Error{File: path, Err: err}
	}
	return ParseMapping(data, path)
}

// ParseMapping reads a mapping from JSON, strictly (unknown fields are errors), naming the file, line and field
// of what is wrong.
func ParseMapping(data []byte, name string) (*Mapping, error) {
	var m Mapping
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, inputerr.New(name, lineAt(data, se.Offset), "", "invalid JSON: %v", err)
		case errors.As(err, &te):
			return nil, inputerr.New(name, lineAt(data, te.Offset), te.Field, "want a %s, not JSON %s", te.Type, te.Value)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, inputerr.New(name, lineAt(data, int64(len(data))), "", "unexpected end of file")
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, inputerr.New(name, lineOfNth(data, f, 0), "", "unknown field %s", f)
		}
		return nil, inputerr.New(name, 0, "", "%v", err)
	}
	if dec.More() {
		return nil, inputerr.New(name, lineAt(data, dec.InputOffset()), "", "more than one JSON document")
	}
	if len(m.Workers) == 0 {
		return nil, inputerr.New(name, 1, "workers", "no workers")
	}
	seen := map[string]bool{}
	for i, w := range m.Workers {
		field := func(k string) string { return fmt.Sprintf("workers[%d].%s", i, k) }
		line := lineOfNth(data, `"id"`, i)
		switch {
		case w.ID == "":
			return nil, inputerr.New(name, line, field("id"), "missing")
		case seen[w.ID]:
			return nil, inputerr.New(name, line, field("id"), "worker %q is mapped twice", w.ID)
		case w.Service == "":
			return nil, inputerr.New(name, line, field("service"), "missing")
		}
		seen[w.ID] = true
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, inputerr.New(name, line, field("url"), "%q is not an http(s) URL", truncate(w.URL))
		}
	}
	return &m, nil
}

// Marshal writes the mapping as indented JSON.
func (m *Mapping) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// URLs resolves mappings against the fleet: the URL of every worker (by fleet index; "" for one not mapped).
// Every mapped worker must be one of the fleet's, of the service the plan gives it; every worker of a static
// pool must be mapped, and a scaled pool needs its fewest instances' workers (the gateway routes among those
// mapped).
func (f *Fleet) URLs(maps ...*Mapping) ([]string, error) {
	byID := map[string]int{}
	for i, w := range f.Workers {
		byID[w.ID] = i
	}
	urls := make([]string, len(f.Workers))
	for _, m := range maps {
		for _, mw := range m.Workers {
			i, ok := byID[mw.ID]
			if !ok {
				return nil, fmt.Errorf("worker %q is not in the plan (its workers are %s)", mw.ID, f.someIDs())
			}
			if s := f.Services[f.Workers[i].Service].Name; s != mw.Service {
				return nil, fmt.Errorf("worker %q serves %q in the plan, not %q", mw.ID, s, mw.Service)
			}
			if urls[i] != "" {
				return nil, fmt.Errorf("worker %q is mapped twice", mw.ID)
			}
			urls[i] = strings.TrimRight(mw.URL, "/")
		}
	}
	var missing []string
	for i, w := range f.Workers {
		if h, _ := f.Host(w.Host); urls[i] == "" && h.AlwaysUp {
			missing = append(missing, w.ID)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%d of the plan's workers have no URL: %s", len(missing), strings.Join(cut(missing, 6), ", "))
	}
	return urls, nil
}

func (f *Fleet) someIDs() string {
	ids := make([]string, 0, len(f.Workers))
	for _, w := range f.Workers {
		ids = append(ids, w.ID)
	}
	return strings.Join(cut(ids, 6), ", ")
}

func cut(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}

func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// lineOfNth is the line of the n-th occurrence of key (0-based), or 0.
func lineOfNth(data []byte, key string, n int) int {
	off := 0
	for i := 0; i <= n; i++ {
		j := bytes.Index(data[off:], []byte(key))
		if j < 0 {
			return 0
		}
		if i == n {
			return lineAt(data, int64(off+j))
		}
		off += j + len(key)
	}
	return 0
}
