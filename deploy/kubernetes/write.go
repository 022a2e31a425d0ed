package kubernetes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"sigs.k8s.io/yaml"
)

// Render writes a file's objects as one multi-document YAML stream: each object's fields as its type marshals
// them (keys sorted by sigs.k8s.io/yaml), documents separated by "---", without the (empty) status a typed
// object carries. The same objects always render to the same bytes.
func (f File) Render() ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range f.Objects {
		j, err := json.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", f.Name, o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
		var m map[string]any
		if err := json.Unmarshal(j, &m); err != nil {
			return nil, err
		}
		delete(m, "status") // what the cluster reports, never ours to write
		y, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(y)
	}
	return buf.Bytes(), nil
}

// mustYAML marshals a configuration document held in a ConfigMap; our types always marshal.
func mustYAML(v any) string {
	y, err := yaml.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("kubernetes: marshal %T: %v", v, err))
	}
	return string(y)
}

// WriteDir writes the manifests into dir (made if missing): every file is first written whole beside its final
// name, then all are renamed into place, so a failure leaves no half-written file; the files of AllFiles that
// these manifests do not have (left by an earlier plan) are removed, so `kubectl apply -f dir` applies this plan
// only. Other files in dir are left alone.
func (m *Manifests) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	type staged struct{ tmp, final string }
	var done []staged
	cleanup := func() {
		for _, s := range done {
			os.Remove(s.tmp)
		}
	}
	for _, f := range m.Files {
		data, err := f.Render()
		if err != nil {
			cleanup()
			return err
		}
		final := filepath.Join(dir, f.Name)
		if fi, err := os.Lstat(final); err == nil && !fi.Mode().IsRegular() {
			cleanup()
			return fmt.Errorf("%s exists and is not a regular file", final)
		}
		tmp, err := os.CreateTemp(dir, ".inferplan-"+f.Name+"-*")
		if err != nil {
			cleanup()
			return err
		}
		done = append(done, staged{tmp.Name(), final})
		_, err = tmp.Write(data)
		if err == nil {
			err = tmp.Chmod(0o644)
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			cleanup()
			return fmt.Errorf("write %s: %w", final, err)
		}
	}
	for i, s := range done {
		if err := os.Rename(s.tmp, s.final); err != nil {
			cleanup()
			return fmt.Errorf("write %s: %w (%d of %d files are the new ones)", s.final, err, i, len(done))
		}
	}
	for _, name := range AllFiles {
		if slices.ContainsFunc(m.Files, func(f File) bool { return f.Name == name }) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the stale %s: %w", name, err)
		}
	}
	return nil
}
