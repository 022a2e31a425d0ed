package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/pricing"
)

// version is set at release build time with -ldflags "-X main.version=v1.2.3"; otherwise the module's build info
// says what was built.
var version = ""

// Main runs the CLI with args and returns the process exit code (contract §2).
func Main(args []string, io *ioStreams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(io)
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	var te *thresholdError
	if !errors.As(err, &te) { // a failed check has already printed its report; the exit code says the rest
		fmt.Fprintf(io.ErrOut, "inferplan: %s\n", errorText(err))
	}
	if code == exitUsage && isUsage(err) {
		fmt.Fprintf(io.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

func isUsage(err error) bool {
	var fe *flagError
	return errors.As(err, &fe) || isCobraUsageError(err)
}

func newRootCmd(io *ioStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "inferplan",
		Short: "Find the cheapest way to serve a model within a latency SLO",
		Long: `inferplan plans ML inference serving. It reads a latency profile of your model (measured on
AWS Lambda, a CPU or a GPU) and a trace of your traffic, searches batching and hardware
configurations, and writes a plan: on Lambda, buffers over the request-size axis, each with a
batch size, a batch timeout and a memory size, costed at AWS prices and verified by replaying
the trace. In CI it fails a build when a change makes serving more expensive.`,
		Example: `  # plan the built-in example: DeepSpeech on Lambda, real Azure arrivals, SLO p95 ≤ 20 s
  inferplan plan --example

  # plan your own model and traffic
  inferplan plan --profile profile.json --trace trace.csv --slo-ms 500 --percentile 99 -o plan.json

  # see a trace's rates and sizes before planning
  inferplan trace stats --time-col TIMESTAMP --size-col ContextTokens azure_conv.csv`,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("inferplan {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &flagError{err: err} })
	root.AddCommand(
		newPlanCmd(io),
		newSimulateCmd(io),
		newTraceCmd(io),
		newPricesCmd(io),
		newProfileCmd(io),
		newHardwareCmd(io),
		newHarnessCmd(io),
		newCheckCmd(io),
		newDiffCmd(io),
		newReportCmd(io),
		newServeCmd(io),
		newWorkersCmd(io),
		newReplayCmd(io),
		newApplyCmd(io),
		newBenchCmd(io),
		newWorkerCmd(io),
	)
	return root
}

// versionString describes the build: version, commit, Go version, platform, and the contract and price snapshot
// it speaks.
func versionString() string {
	v, commit, dirty := version, "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	parts := []string{v}
	if commit != "" {
		parts = append(parts, "commit "+commit+dirty)
	}
	parts = append(parts, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH, "contract v1",
		"prices as of "+pricing.Embedded().AsOf())
	return parts[0] + " (" + strings.Join(parts[1:], ", ") + ")"
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func itoa(n int) string { return strconv.Itoa(n) }

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return flagErrorf("%s takes %d argument%s, got %d", cmd.CommandPath(), n, map[bool]string{true: "", false: "s"}[n == 1], len(args))
		}
		return nil
	}
}

// formatFlag adds --format (table, json or markdown, completed by the shell); what names what it formats.
func formatFlag(cmd *cobra.Command, p *string, what string) {
	enumFlag(cmd, p, "format", "", "table", []string{"table", "json", "markdown"}, what+" format")
}

// completeFixed offers fixed values for a flag.
func completeFixed(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}
