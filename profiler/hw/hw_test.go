package hw

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestReadCPUx86Topology(t *testing.T) {
	c, err := ReadCPU("testdata/x86")
	if err != nil {
		t.Fatal(err)
	}
	// 2 sockets × 2 cores × 2 hyper-threads; 65,848,320 kB = 62.8 GiB
	if c.Model != "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz" || c.Sockets != 2 || c.Cores != 4 || c.Threads != 8 || c.Vendor != "GenuineIntel" {
		t.Fatalf("%+v", c)
	}
	if math.Abs(c.MemoryGiB-62.798) > 0.01 {
		t.Fatalf("memory %v GiB", c.MemoryGiB)
	}
}

func TestReadCPUWithoutTopology(t *testing.T) {
	c, err := ReadCPU("testdata/arm")
	if err != nil {
		t.Fatal(err)
	}
	// arm64 cpuinfo has no model name or topology: logical CPUs count as cores
	if c.Threads != 4 || c.Cores != 4 || c.Sockets != 1 || c.Vendor != "0x41" || c.Model == "" {
		t.Fatalf("%+v", c)
	}
}

func TestReadCPUMissing(t *testing.T) {
	if _, err := ReadCPU(t.TempDir()); err == nil {
		t.Fatal("no error without /proc/cpuinfo")
	}
}

// fakeGPUs is the GPU source unit tests use in place of NVML.
type fakeGPUs struct {
	gpus []GPU
	err  error
}

func (f fakeGPUs) List() ([]GPU, error)          { return f.gpus, f.err }
func (f fakeGPUs) Driver() string                { return "driver 580.159, CUDA 13.0" }
func (f fakeGPUs) Sample(int) (Telemetry, error) { return Telemetry{}, nil }
func (f fakeGPUs) Close() error                  { return nil }

func TestDiscover(t *testing.T) {
	h100 := GPU{Name: "NVIDIA H100 80GB HBM3", MemoryMiB: 81559, ComputeCapability: "9.0", MIGMode: "disabled", ComputeMode: "default"}
	r, err := Discover("testdata/x86", func() (GPUs, error) { return fakeGPUs{gpus: []GPU{h100}}, nil })
	if err != nil || len(r.GPUs) != 1 || r.NoGPU != "" || r.Driver == "" || r.CPU.Cores != 4 {
		t.Fatalf("%+v, %v", r, err)
	}
	r, err = Discover("testdata/x86", func() (GPUs, error) {
		return nil, fmt.Errorf("%w: NVML: libnvidia-ml.so.1 not found (no NVIDIA driver)", ErrNoGPU)
	})
	if err != nil || len(r.GPUs) != 0 || r.NoGPU != "NVML: libnvidia-ml.so.1 not found (no NVIDIA driver)" {
		t.Fatalf("%+v, %v", r, err)
	}
	r, _ = Discover("testdata/x86", func() (GPUs, error) { return fakeGPUs{err: errors.New("nvml: device count: Unknown Error")}, nil })
	if r.NoGPU != "nvml: device count: Unknown Error" {
		t.Fatalf("%+v", r)
	}
	r, _ = Discover("testdata/x86", func() (GPUs, error) { return fakeGPUs{}, nil })
	if r.NoGPU != "NVML found no devices" {
		t.Fatalf("%+v", r)
	}
}

// TestOpenNVMLHere runs the real adapter on this machine: with no NVIDIA driver (or no cgo) it must say why.
func TestOpenNVMLHere(t *testing.T) {
	src, err := OpenNVML()
	if err == nil {
		defer src.Close()
		gpus, err := src.List()
		t.Logf("NVML is here: %d GPUs, %v (%s)", len(gpus), err, src.Driver())
		return
	}
	if !errors.Is(err, ErrNoGPU) {
		t.Fatalf("err %v is not ErrNoGPU", err)
	}
	t.Logf("no GPU here: %v", err)
}
