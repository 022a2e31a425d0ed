package main

import (
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

// checkLambdaMemory checks a memory size a flag gives for Lambda.
func checkLambdaMemory(flag string, mb int) error {
	if err := awslambda.CheckMemory(mb); err != nil {
		return flagErrorf("%s: %v", flag, err)
	}
	return nil
}
