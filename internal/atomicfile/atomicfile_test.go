package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteReplacesWholeOrNotAtAll(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	if err := Write(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "two" {
		t.Fatalf("read %q, %v", data, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	// a folder that does not exist: an error, and nothing left behind
	if err := Write(filepath.Join(dir, "no", "such", "x"), []byte("x")); err == nil {
		t.Error("wrote into a folder that does not exist")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestWriteKeepsTheModeOfAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the file's own 0600", fi.Mode().Perm())
	}
}

func TestWriteFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	if err := os.WriteFile(real, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("real.json", link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(real); string(data) != "new" {
		t.Errorf("target holds %q", data)
	}
	// a dangling link: its target is created, the link kept
	dangling := filepath.Join(dir, "dangling.json")
	if err := os.Symlink("sub/../made.json", dangling); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(dangling, []byte("made")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "made.json")); string(data) != "made" {
		t.Errorf("dangling link's target holds %q", data)
	}
	if fi, _ := os.Lstat(dangling); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the dangling link was replaced")
	}
}

func TestWriteThroughAFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		data, _ := io.ReadAll(f)
		got <- string(data)
	}()
	if err := Write(fifo, []byte("through")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(fifo); fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced by a %v", fi.Mode()) // (its reader never gets a writer)
	}
	if s := <-got; s != "through" {
		t.Errorf("reader got %q", s)
	}
}

func TestWriteToADevice(t *testing.T) {
	before, err := os.Lstat(os.DevNull)
	if err != nil {
		t.Skip(err)
	}
	if err := Write(os.DevNull, []byte("x")); err != nil {
		t.Fatal(err)
	}
	after, err := os.Lstat(os.DevNull)
	if err != nil || after.Mode() != before.Mode() || after.Mode()&os.ModeDevice == 0 {
		t.Fatalf("%s is now %v (was %v): %v", os.DevNull, after.Mode(), before.Mode(), err)
	}
	if err := CheckWritable(os.DevNull); err != nil {
		t.Errorf("CheckWritable(%s): %v", os.DevNull, err)
	}
}

func TestErrorsNameTheCallersPath(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, "no", "such", "plan.json"), dir} {
		for name, f := range map[string]func(string) error{
			"Write":         func(p string) error { return Write(p, []byte("x")) },
			"CheckWritable": CheckWritable,
		} {
			err := f(path)
			if err == nil {
				t.Errorf("%s(%s): no error", name, path)
				continue
			}
			if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), ".inferplan-") {
				t.Errorf("%s(%s): %v; want the path given, not a temporary file", name, path, err)
			}
		}
	}
}

func TestCheckWritableFindsAReadOnlyFolder(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(ro, 0o755)
	if f, err := os.Create(filepath.Join(ro, "probe")); err == nil { // root ignores permission bits
		f.Close()
		t.Skip("running as a user who can write into a 0555 folder")
	}
	if err := CheckWritable(filepath.Join(ro, "plan.json")); err == nil {
		t.Error("a read-only folder passed the check")
	}
	if err := CheckWritable(filepath.Join(dir, "plan.json")); err != nil {
		t.Errorf("a writable folder: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the check left files: %v", entries)
	}
}

// TestWriteThroughAnOpenDescriptor: -o /dev/stdout with stdout redirected to a file names an open descriptor
// (/proc/self/fd/N), not a file to replace: the data goes into the file the shell opened, which stays the same file.
func TestWriteThroughAnOpenDescriptor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before, _ := f.Stat()
	fd := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if _, err := os.Stat(fd); err != nil {
		t.Skip(err)
	}
	if err := Write(fd, []byte("plan")); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the file was replaced (%v)", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "plan" {
		t.Errorf("file holds %q", data)
	}
}
