// Package yamlfile decodes the tool's YAML input files strictly (an unknown key is an error) and says where in the
// file a problem is, so that every YAML parser reports problems the same way: file, line, field.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// Doc is a decoded file's node tree, to find the line of a key.
type Doc struct{ root yaml.Node }

// ErrEmpty is returned (wrapped in an input error) for a file with no document.
var ErrEmpty = errors.New("the file is empty")

// Decode reads the first YAML document of data into v, strictly. what names the kind of file in messages about
// unknown keys ("is not a workload key"). Errors are *inputerr.Error naming name and the line.
func Decode(data []byte, name, what string, v any) (*Doc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &inputerr.Error{File: name, Err: ErrEmpty}
		}
		return nil, Error(name, what, err)
	}
	d := &Doc{}
	_ = yaml.Unmarshal(data, &d.root) // it decoded above, so it parses
	return d, nil
}

// typeName is the Go type yaml names in "not found in type pkg.T".
var typeName = regexp.MustCompile(`not found in type .*$`)

// Error turns a YAML decoding error into an input error naming the file and the line; what names the kind of
// file ("workload") in messages about unknown keys.
func Error(name, what string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		line := 0
		if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
			msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		}
		article := "a"
		if what != "" && strings.ContainsRune("aeiou", rune(what[0])) {
			article = "an"
		}
		msg = typeName.ReplaceAllString(msg, "is not "+article+" "+what+" key")
		return inputerr.New(name, line, "", "%s", msg)
	}
	msg := err.Error()
	line := 0
	if _, e := fmt.Sscanf(msg, "yaml: line %d:", &line); e == nil {
		msg = strings.TrimSpace(msg[strings.Index(msg[6:], ":")+7:])
	}
	return inputerr.New(name, line, "", "invalid YAML: %s", msg)
}

// Line is the line of the node at a path of mapping keys and sequence indexes (the deepest node found when the
// path goes further than the file; 0 for a nil Doc).
func (d *Doc) Line(path ...string) int {
	if d == nil {
		return 0
	}
	n := &d.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}
