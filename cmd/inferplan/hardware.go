package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/profiler/encoder"
	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/reports"
)

// gpuSource opens the host's GPUs; tests replace it.
var gpuSource = hw.OpenNVML

// procRoot is where /proc is read from; tests replace it.
var procRoot = "/"

func newHardwareCmd(io *ioStreams) *cobra.Command {
	var (
		format     string
		requireGPU bool
	)
	cmd := &cobra.Command{
		Use:   "hardware",
		Short: "List this host's CPU and NVIDIA GPUs",
		Long: `hardware lists the CPU (model, sockets, cores, threads, memory, from /proc) and every NVIDIA GPU
through NVML: name, memory, CUDA cores, compute capability, maximum clocks, power limit, MIG mode,
compute mode and running processes. Without an NVIDIA driver (or in a build without cgo) it says
"no NVIDIA GPU" and why, and exits 0 — unless --require-gpu is given, which makes that exit 1.`,
		Example: `  inferplan hardware
  inferplan hardware --format json
  inferplan hardware --require-gpu   # in a GPU CI job: fail when the GPU is not visible`,
		Args: exactArgs(0),
		RunE: func(_ *cobra.Command, _ []string) error {
			f, err := reports.ParseFormat(format, reports.Table, reports.JSON, reports.Markdown)
			if err != nil {
				return &flagError{err: err}
			}
			r, err := hw.Discover(procRoot, gpuSource)
			if err != nil {
				return err
			}
			if f == reports.JSON {
				err = reports.WriteJSON(io.Out, r)
			} else {
				err = reports.HardwareDocument(r).Render(io.Out, f)
			}
			if err != nil {
				return err
			}
			if requireGPU && len(r.GPUs) == 0 {
				return errors.New(fmt.Sprint("--require-gpu: no NVIDIA GPU (", r.NoGPU, ")"))
			}
			return nil
		},
	}
	formatFlag(cmd, &format, "output")
	cmd.Flags().BoolVar(&requireGPU, "require-gpu", false, "exit 1 when no NVIDIA GPU is found")
	return cmd
}

func newHarnessCmd(io *ioStreams) *cobra.Command {
	var (
		model   string
		threads int
		seed    uint64
	)
	cmd := &cobra.Command{
		Use:   "harness",
		Short: "Serve the built-in model over the exec protocol (a harness for profile --target exec:)",
		Long: `harness runs the built-in encoder as an exec harness: it prints a ready line, then answers JSON
requests on stdin ({"batch": N, "size": S}) with {"latency_ms": T} on stdout. 'inferplan profile
--target exec:"inferplan harness"' measures it through the same protocol your own harness speaks,
and sharing sweeps (--colocate) start several copies of it. It serves real inputs too:
{"batch": N, "size": S, "input_ids": [[…], …]} gets {"latency_ms": T, "outputs": [[…], …]}, each
input's first-token hidden state ('inferplan workers --harness "inferplan harness"').`,
		Example: `  inferplan profile --target exec:"inferplan harness --model bert-tiny" --colocate 1,2 -o p.json
  echo '{"batch": 2, "size": 16}' | inferplan harness --model bert-tiny
  echo '{"batch": 1, "size": 3, "input_ids": [[101, 7592, 102]]}' | inferplan harness --model bert-tiny`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cpu, err := hw.ReadCPU(procRoot)
			if err != nil {
				return err
			}
			t, err := profilerBuiltin(model, threads, seed, cpu)
			if err != nil {
				return &flagError{err: err}
			}
			return serveHarness(cmd.Context(), io, t)
		},
	}
	enumFlag(cmd, &model, "model", "", "bert-mini", encoder.ModelNames(), "built-in model")
	cmd.Flags().IntVar(&threads, "threads", 1, "threads")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the random weights")
	return cmd
}
