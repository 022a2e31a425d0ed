// Package atomicfile writes files whole or not at all: through a temporary file in the same folder, renamed into
// place, so that a crash or a full disk never leaves half a plan or half a price cache where a good one was.
//
// Only a regular file (or a name not yet taken) is replaced that way. A symbolic link is followed to its target,
// which is written as if named directly, so the link survives. A device or a FIFO (-o /dev/null, -o /dev/stdout,
// a pipe made with mkfifo) cannot be replaced by a rename without destroying it, and has no "half-written" state
// a rename could avoid, so the data is written through to it. Errors name the path the caller gave, never the
// temporary file.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks bounds how many symbolic links are followed, as the kernel does (ELOOP).
const maxLinks = 40

// target is where a write to a path lands.
type target struct {
	path    string      // the path after following symbolic links
	mode    fs.FileMode // the existing file's mode (0 when there is none)
	exists  bool
	special bool // a device, FIFO or socket: written through, never replaced
}

// resolve follows symbolic links from path (even a dangling last link, whose target is then created) and says
// what is there.
func resolve(path string) (target, error) {
	// Stat follows every link, the kernel's magic ones too (/dev/stdout → /proc/self/fd/1 → pipe:[…])
	if fi, err := os.Stat(path); err == nil {
		switch {
		case fi.IsDir():
			return target{}, syscall.EISDIR
		case !fi.Mode().IsRegular():
			return target{path: path, mode: fi.Mode(), exists: true, special: true}, nil
		}
	}
	p := path
	for range maxLinks {
		if isDescriptor(p) {
			// an open file descriptor (-o /dev/stdout > out.json): the file is the shell's, open; write to it
			return target{path: path, exists: true, special: true}, nil
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return target{path: p}, nil
		}
		if err != nil {
			return target{}, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			t := target{path: p, mode: fi.Mode(), exists: true}
			switch {
			case fi.IsDir():
				return target{}, syscall.EISDIR
			case !fi.Mode().IsRegular():
				t.special = true
			}
			return t, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return target{}, err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		p = link
	}
	return target{}, syscall.ELOOP
}

// isDescriptor reports whether p names an open file descriptor rather than a file: /dev/fd/N, /proc/…/fd/N.
func isDescriptor(p string) bool {
	return strings.HasPrefix(p, "/dev/fd/") || strings.HasPrefix(p, "/proc/") && strings.Contains(p, "/fd/")
}

// pathError names the caller's path with the underlying reason, whatever file the failing call was on.
func pathError(op, path string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// CheckWritable reports, before any long work starts, whether Write(path, …) could succeed: the folder the file
// lands in exists and takes a new file (tried by creating and removing one, which also catches read-only file
// systems and root-squashed mounts that permission bits do not show), or the device or FIFO there is writable.
func CheckWritable(path string) error {
	t, err := resolve(path)
	if err != nil {
		return pathError("write", path, err)
	}
	if t.special {
		if err := syscall.Access(t.path, 2 /* W_OK */); err != nil {
			return pathError("write", path, err)
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(t.path), ".inferplan-check-*")
	if err != nil {
		return pathError("write", path, err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}

// Write writes data to path, whole or not at all. A new file gets mode 0644; an existing regular file keeps its
// mode; a symbolic link is followed; a device or FIFO is written through.
func Write(path string, data []byte) error {
	t, err := resolve(path)
	if err != nil {
		return pathError("write", path, err)
	}
	if t.special {
		return writeThrough(path, t.path, data)
	}
	mode := fs.FileMode(0o644)
	if t.exists {
		mode = t.mode.Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(t.path), ".inferplan-*")
	if err != nil {
		return pathError("write", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return pathError("write", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return pathError("write", path, err)
	}
	if err := os.Rename(tmp, t.path); err != nil {
		os.Remove(tmp)
		return pathError("write", path, err)
	}
	return nil
}

// writeThrough writes to a device, FIFO or open descriptor in place: there is nothing to replace, and replacing it
// would destroy it. It appends, as a shell's redirection to the descriptor would have the data follow what is there.
func writeThrough(path, resolved string, data []byte) error {
	f, err := os.OpenFile(resolved, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return pathError("write", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return pathError("write", path, err)
	}
	if err := f.Close(); err != nil {
		return pathError("write", path, err)
	}
	return nil
}
