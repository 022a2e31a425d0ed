//go:build linux && cgo

package hw

import (
	"fmt"
	"os"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvmlGPUs lists GPUs through an nvml.Interface (the real library, or go-nvml's mock in tests).
type nvmlGPUs struct {
	lib nvml.Interface
}

// OpenNVML loads libnvidia-ml and initialises it. Without the library (no NVIDIA driver) it returns ErrNoGPU with
// NVML's reason.
func OpenNVML() (GPUs, error) {
	return openNVML(nvml.New())
}

func openNVML(lib nvml.Interface) (GPUs, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("%w: NVML: %s", ErrNoGPU, nvmlError(lib, ret))
	}
	return &nvmlGPUs{lib: lib}, nil
}

func nvmlError(lib nvml.Interface, ret nvml.Return) string {
	if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
		return "libnvidia-ml.so.1 not found (no NVIDIA driver)"
	}
	return lib.ErrorString(ret)
}

func (g *nvmlGPUs) Close() error {
	if ret := g.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml: shutdown: %s", g.lib.ErrorString(ret))
	}
	return nil
}

func (g *nvmlGPUs) Driver() string {
	v, ret := g.lib.SystemGetDriverVersion()
	if ret != nvml.SUCCESS {
		return ""
	}
	if cuda, ret := g.lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		return fmt.Sprintf("driver %s, CUDA %d.%d", v, cuda/1000, cuda%1000/10)
	}
	return "driver " + v
}

func (g *nvmlGPUs) List() ([]GPU, error) {
	n, ret := g.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml: device count: %s", g.lib.ErrorString(ret))
	}
	out := make([]GPU, 0, n)
	for i := 0; i < n; i++ {
		d, ret := g.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml: device %d: %s", i, g.lib.ErrorString(ret))
		}
		out = append(out, describe(i, d))
	}
	return out, nil
}

// describe asks a device everything `hardware` shows. A question the driver does not support leaves its field at
// its zero value ("not supported" for modes) rather than failing the listing.
func describe(i int, d nvml.Device) GPU {
	gpu := GPU{Index: i, MIGMode: "not supported", ComputeMode: "unknown", Processes: []Process{}}
	ok := func(f func() nvml.Return) bool { return safe(f) == nvml.SUCCESS }
	ok(func() (r nvml.Return) { gpu.Name, r = d.GetName(); return })
	ok(func() (r nvml.Return) { gpu.UUID, r = d.GetUUID(); return })
	ok(func() nvml.Return {
		m, r := d.GetMemoryInfo()
		gpu.MemoryMiB = int(m.Total >> 20)
		return r
	})
	ok(func() (r nvml.Return) { gpu.CUDACores, r = d.GetNumGpuCores(); return })
	ok(func() nvml.Return {
		major, minor, r := d.GetCudaComputeCapability()
		if r == nvml.SUCCESS {
			gpu.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
		}
		return r
	})
	ok(func() nvml.Return {
		c, r := d.GetMaxClockInfo(nvml.CLOCK_SM)
		gpu.MaxSMClockMHz = int(c)
		return r
	})
	ok(func() nvml.Return {
		c, r := d.GetMaxClockInfo(nvml.CLOCK_MEM)
		gpu.MaxMemClockMHz = int(c)
		return r
	})
	ok(func() nvml.Return {
		mw, r := d.GetPowerManagementLimit()
		gpu.PowerLimitW = float64(mw) / 1000
		return r
	})
	ok(func() nvml.Return {
		cur, _, r := d.GetMigMode()
		if r == nvml.SUCCESS {
			gpu.MIGMode = map[bool]string{true: "enabled", false: "disabled"}[cur == nvml.DEVICE_MIG_ENABLE]
		}
		return r
	})
	ok(func() nvml.Return {
		m, r := d.GetComputeMode()
		if r == nvml.SUCCESS {
			gpu.ComputeMode = computeMode(m)
		}
		return r
	})
	ok(func() nvml.Return {
		ps, r := d.GetComputeRunningProcesses()
		for _, p := range ps {
			gpu.Processes = append(gpu.Processes, Process{PID: int(p.Pid), UsedMiB: int(p.UsedGpuMemory >> 20), Name: procName(int(p.Pid))})
		}
		return r
	})
	return gpu
}

// safe turns a panic of a partial NVML implementation (go-nvml's mocks panic on calls they do not implement)
// into "not supported".
func safe(f func() nvml.Return) (r nvml.Return) {
	defer func() {
		if recover() != nil {
			r = nvml.ERROR_NOT_SUPPORTED
		}
	}()
	return f()
}

func computeMode(m nvml.ComputeMode) string {
	switch m {
	case nvml.COMPUTEMODE_DEFAULT:
		return "default"
	case nvml.COMPUTEMODE_EXCLUSIVE_THREAD:
		return "exclusive-thread"
	case nvml.COMPUTEMODE_PROHIBITED:
		return "prohibited"
	case nvml.COMPUTEMODE_EXCLUSIVE_PROCESS:
		return "exclusive-process"
	}
	return fmt.Sprintf("mode %d", m)
}

func procName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Sample reads utilisation, SM clock, memory in use and power of GPU index. A reading the driver does not
// support stays 0.
func (g *nvmlGPUs) Sample(index int) (Telemetry, error) {
	d, ret := g.lib.DeviceGetHandleByIndex(index)
	if ret != nvml.SUCCESS {
		return Telemetry{}, fmt.Errorf("nvml: device %d: %s", index, g.lib.ErrorString(ret))
	}
	var t Telemetry
	safe(func() nvml.Return {
		u, r := d.GetUtilizationRates()
		t.UtilPct = float64(u.Gpu)
		return r
	})
	safe(func() nvml.Return {
		c, r := d.GetClockInfo(nvml.CLOCK_SM)
		t.SMClockMHz = float64(c)
		return r
	})
	safe(func() nvml.Return {
		m, r := d.GetMemoryInfo()
		t.MemUsedMiB = float64(m.Used >> 20)
		return r
	})
	safe(func() nvml.Return {
		mw, r := d.GetPowerUsage()
		t.PowerW = float64(mw) / 1000
		return r
	})
	return t, nil
}
