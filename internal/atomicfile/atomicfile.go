// Package atomicfile writes files whole or not at all: through a temporary file in the same folder, renamed into
// place, so that a crash or a full disk never leaves half a plan or half a price cache where a good one was.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path with mode 0644, atomically.
func Write(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".inferplan-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
