package main

import (
	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/reports"
)

func newProfileCmd(io *ioStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Inspect latency profiles",
	}
	cmd.AddCommand(newProfileShowCmd(io))
	return cmd
}

func newProfileShowCmd(io *ioStreams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Validate a profile and show its configurations and how well a model fits them",
		Long: `show validates a profile (contract §3.2) and lists its measured configurations — platform,
hardware, memory or vCPUs — with their batch and size ranges, and the error of a least-squares latency
model fitted to each (for Lambda, one model across memory sizes): the mean and largest error on points
held out of the fit (5-fold cross-validation), which says how far interpolating or extrapolating
between the measurements can be trusted.`,
		Example: `  inferplan profile show lambda-deepspeech.json
  inferplan profile show gpu-h100-bert-base-float16.json --format markdown`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			f, err := reports.ParseFormat(format)
			if err != nil {
				return &flagError{err: err}
			}
			p, err := readProfile(args[0])
			if err != nil {
				return err
			}
			sum := reports.ProfileSummary(latency.Summarise(p))
			if f == reports.JSON {
				return reports.WriteJSON(io.Out, sum)
			}
			return sum.Document(args[0]).Render(io.Out, f)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json or markdown")
	_ = cmd.RegisterFlagCompletionFunc("format", completeFixed("table", "json", "markdown"))
	return cmd
}
