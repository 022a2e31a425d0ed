//go:build linux && cgo

package hw

import (
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
)

// TestNVMLAdapterOnMockDGXA100 runs the adapter on go-nvml's fake DGX A100 (8 × A100-SXM4-40GB), adding the
// answers the fake leaves out, as a driver would give them.
func TestNVMLAdapterOnMockDGXA100(t *testing.T) {
	server := dgxa100.New()
	for i, d := range server.Devices {
		dev := d.(*dgxa100.Device)
		dev.GetNumGpuCoresFunc = func() (int, nvml.Return) { return 6912, nvml.SUCCESS }
		dev.GetMaxClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
			if c == nvml.CLOCK_SM {
				return 1410, nvml.SUCCESS
			}
			return 1215, nvml.SUCCESS
		}
		dev.GetPowerManagementLimitFunc = func() (uint32, nvml.Return) { return 400000, nvml.SUCCESS }
		dev.GetComputeModeFunc = func() (nvml.ComputeMode, nvml.Return) { return nvml.COMPUTEMODE_DEFAULT, nvml.SUCCESS }
		if i == 0 {
			dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
				return []nvml.ProcessInfo{{Pid: 4242, UsedGpuMemory: 1 << 30}}, nvml.SUCCESS
			}
		}
		// GetPowerManagementLimit etc. on device 7 left unset for one call below: the adapter must survive it
		if i == 7 {
			dev.GetPowerManagementLimitFunc = nil
		}
	}
	src, err := openNVML(server)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	gpus, err := src.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(gpus) != 8 {
		t.Fatalf("%d GPUs", len(gpus))
	}
	g := gpus[0]
	if g.Name != "Mock NVIDIA A100-SXM4-40GB" || g.ComputeCapability != "8.0" || g.MemoryMiB != 40960 ||
		g.CUDACores != 6912 || g.MaxSMClockMHz != 1410 || g.PowerLimitW != 400 || g.MIGMode != "disabled" ||
		g.ComputeMode != "default" || len(g.Processes) != 1 || g.Processes[0].UsedMiB != 1024 {
		t.Fatalf("GPU 0 = %+v", g)
	}
	if gpus[7].PowerLimitW != 0 || gpus[7].Name == "" {
		t.Fatalf("GPU 7 (power limit unanswered) = %+v", gpus[7])
	}
	server.Devices[0].(*dgxa100.Device).GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: 87, Memory: 40}, nvml.SUCCESS
	}
	server.Devices[0].(*dgxa100.Device).GetPowerUsageFunc = func() (uint32, nvml.Return) { return 312500, nvml.SUCCESS }
	tel, err := src.Sample(0)
	if err != nil || tel.UtilPct != 87 || tel.PowerW != 312.5 {
		t.Fatalf("telemetry %+v, %v", tel, err)
	}
	if d := src.Driver(); d == "" {
		t.Fatal("no driver string")
	}
}
