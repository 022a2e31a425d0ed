package main

import (
	"os"
	"path/filepath"

	"github.com/inferplan/inferplan/internal/atomicfile"
	"github.com/inferplan/inferplan/platform/awslambda"
)

// checkOutput checks, before any long work, that an output flag's file can be written (its folder exists and
// takes a new file, or the device or FIFO there is writable), so that a typo in -o does not throw away a search
// or a measurement at the very end. "" and "-" (stdout) always pass.
func checkOutput(flag, path string) error {
	if path == "" || path == "-" {
		return nil
	}
	if err := atomicfile.CheckWritable(path); err != nil {
		return flagErrorf("%s: %v", flag, err)
	}
	return nil
}

// checkOutputDir checks, before any work, that files can be written into a folder: it exists (or its parent
// does, to create it in) and takes a new file.
func checkOutputDir(flag, dir string) error {
	if dir == "" {
		return nil
	}
	probe := filepath.Join(dir, ".probe")
	if fi, err := os.Stat(dir); err != nil {
		probe = filepath.Join(filepath.Dir(filepath.Clean(dir)), ".probe") // created by the writer
	} else if !fi.IsDir() {
		return flagErrorf("%s %s: not a folder", flag, dir)
	}
	if err := atomicfile.CheckWritable(probe); err != nil {
		return flagErrorf("%s %s: %v", flag, dir, err)
	}
	return nil
}

// checkLambdaMemory checks a memory size a flag gives for Lambda.
func checkLambdaMemory(flag string, mb int) error {
	if err := awslambda.CheckMemory(mb); err != nil {
		return flagErrorf("%s: %v", flag, err)
	}
	return nil
}
