//go:build !linux || !cgo

package hw

import "fmt"

// OpenNVML reports that this build cannot use NVML: go-nvml needs cgo on Linux.
func OpenNVML() (GPUs, error) {
	return nil, fmt.Errorf("%w: this inferplan was built without cgo (NVML needs CGO_ENABLED=1 on Linux)", ErrNoGPU)
}
