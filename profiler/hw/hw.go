// Package hw discovers the hardware of the host: its CPU and memory from /proc, and its NVIDIA GPUs through
// NVML (go-nvml) behind an interface, so that a machine without a GPU — or a build without cgo — reports
// "no NVIDIA GPU" and the reason instead of failing.
package hw

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// CPU describes the host's processors and memory.
type CPU struct {
	Model     string  `json:"model"`
	Vendor    string  `json:"vendor,omitempty"`
	Arch      string  `json:"arch"`
	Sockets   int     `json:"sockets"`
	Cores     int     `json:"cores"`   // physical cores
	Threads   int     `json:"threads"` // logical processors
	MemoryGiB float64 `json:"memory_gib"`
}

// ReadCPU reads /proc/cpuinfo and /proc/meminfo under root ("/" for the host; a folder of fixtures in tests).
func ReadCPU(root string) (CPU, error) {
	c := CPU{Arch: runtime.GOARCH}
	f, err := os.Open(filepath.Join(root, "proc", "cpuinfo"))
	if err != nil {
		return c, fmt.Errorf("hw: %w", err)
	}
	defer f.Close()
	type core struct{ phys, id string }
	sockets := map[string]bool{}
	cores := map[core]bool{}
	var phys, coreID string
	cpuCores := 0
	sc := bufio.NewScanner(f)
	flush := func() {
		if phys != "" || coreID != "" {
			sockets[phys] = true
			cores[core{phys, coreID}] = true
		}
		phys, coreID = "", ""
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			c.Threads++
		case "model name", "Model", "cpu model": // x86, arm64 (some kernels), others
			if c.Model == "" {
				c.Model = v
			}
		case "vendor_id", "CPU implementer":
			if c.Vendor == "" {
				c.Vendor = v
			}
		case "physical id":
			phys = v
		case "core id":
			coreID = v
		case "cpu cores":
			cpuCores, _ = strconv.Atoi(v)
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("hw: reading cpuinfo: %w", err)
	}
	c.Sockets = max(len(sockets), 1)
	switch {
	case len(cores) > 0:
		c.Cores = len(cores)
	case cpuCores > 0:
		c.Cores = cpuCores * c.Sockets
	default:
		c.Cores = c.Threads // no topology (some VMs, arm64): count logical CPUs
	}
	if c.Model == "" {
		c.Model = "unknown " + runtime.GOARCH + " CPU"
	}
	mem, err := os.ReadFile(filepath.Join(root, "proc", "meminfo"))
	if err != nil {
		return c, fmt.Errorf("hw: %w", err)
	}
	for _, line := range strings.Split(string(mem), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			fs := strings.Fields(rest)
			if len(fs) >= 1 {
				kb, err := strconv.ParseFloat(fs[0], 64)
				if err == nil {
					c.MemoryGiB = kb / (1 << 20)
				}
			}
		}
	}
	return c, nil
}

// GPU describes one NVIDIA GPU.
type GPU struct {
	Index             int       `json:"index"`
	Name              string    `json:"name"`
	UUID              string    `json:"uuid,omitempty"`
	MemoryMiB         int       `json:"memory_mib"`
	CUDACores         int       `json:"cuda_cores,omitempty"` // 0 when the driver does not say
	ComputeCapability string    `json:"compute_capability,omitempty"`
	MaxSMClockMHz     int       `json:"max_sm_clock_mhz,omitempty"`
	MaxMemClockMHz    int       `json:"max_mem_clock_mhz,omitempty"`
	PowerLimitW       float64   `json:"power_limit_w,omitempty"`
	MIGMode           string    `json:"mig_mode"`     // enabled, disabled, not supported
	ComputeMode       string    `json:"compute_mode"` // default, exclusive-process, prohibited
	Processes         []Process `json:"processes"`
}

// Process is a compute process running on a GPU.
type Process struct {
	PID     int    `json:"pid"`
	UsedMiB int    `json:"used_mib"`
	Name    string `json:"name,omitempty"`
}

// GPUs lists the GPUs of the host and samples their activity.
type GPUs interface {
	List() ([]GPU, error)
	// Sample reads one GPU's current utilisation, SM clock, memory in use and power draw.
	Sample(index int) (Telemetry, error)
	// Driver says which driver and NVML answered ("" when unknown).
	Driver() string
	Close() error
}

// Telemetry is one reading of a GPU's activity.
type Telemetry struct {
	UtilPct    float64 // share of the last sample period a kernel was running
	SMClockMHz float64
	MemUsedMiB float64
	PowerW     float64
}

// ErrNoGPU is returned by GPU sources that cannot reach NVML; the wrapped reason says why.
var ErrNoGPU = errors.New("no NVIDIA GPU")

// Report is what `inferplan hardware` prints.
type Report struct {
	Hostname string `json:"hostname,omitempty"`
	OS       string `json:"os"`
	CPU      CPU    `json:"cpu"`
	GPUs     []GPU  `json:"gpus"`
	Driver   string `json:"gpu_driver,omitempty"`
	// NoGPU says why no GPU is listed ("" when GPUs were found).
	NoGPU string `json:"no_gpu,omitempty"`
}

// Discover reads the CPU under root and lists GPUs from open (which may fail: a missing libnvidia-ml, a build
// without cgo). A GPU failure is not an error: the report says "no NVIDIA GPU (reason)".
func Discover(root string, open func() (GPUs, error)) (Report, error) {
	r := Report{OS: runtime.GOOS + "/" + runtime.GOARCH, GPUs: []GPU{}}
	r.Hostname, _ = os.Hostname()
	cpu, err := ReadCPU(root)
	if err != nil {
		return r, err
	}
	r.CPU = cpu
	src, err := open()
	if err != nil {
		r.NoGPU = reason(err)
		return r, nil
	}
	defer src.Close()
	gpus, err := src.List()
	switch {
	case err != nil:
		r.NoGPU = reason(err)
	case len(gpus) == 0:
		r.NoGPU = "NVML found no devices"
	default:
		r.GPUs = gpus
		r.Driver = src.Driver()
	}
	return r, nil
}

func reason(err error) string {
	return strings.TrimPrefix(err.Error(), ErrNoGPU.Error()+": ")
}
