package main

import (
	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/pricing"
	"github.com/inferplan/inferplan/reports"
)

func newPricesCmd(io *ioStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prices",
		Short: "Show the AWS prices plans are costed at",
	}
	cmd.AddCommand(newPricesListCmd(io))
	return cmd
}

func newPricesListCmd(io *ioStreams) *cobra.Command {
	var (
		f      pricing.Filter
		format string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List Lambda prices and EC2 instance types with their on-demand prices",
		Long: `list shows the Lambda per-GB-second prices (with the monthly volume tiers) and request price for
x86_64 and arm64, then the EC2 instance types matching the filters, cheapest first, with vCPUs,
memory, GPUs and the Linux on-demand price per hour.`,
		Example: `  inferplan prices list --gpu h100
  inferplan prices list --family g5 --format json
  inferplan prices list --min-vcpus 16 --priced --limit 10`,
		Args: exactArgs(0),
		RunE: func(_ *cobra.Command, _ []string) error {
			fm, err := reports.ParseFormat(format)
			if err != nil {
				return &flagError{err: err}
			}
			cat, err := catalog()
			if err != nil {
				return err
			}
			ins := cat.Instances(f)
			if limit > 0 && len(ins) > limit {
				ins = ins[:limit]
			}
			if fm == reports.JSON {
				return reports.WriteJSON(io.Out, reports.PricesJSON(cat, ins))
			}
			return reports.PricesDocument(cat, ins).Render(io.Out, fm)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.GPU, "gpu", "", "only instance types with this GPU (h100, a10g, l4, …)")
	fs.StringVar(&f.Family, "family", "", "only this instance family (g5, c7g, …)")
	fs.IntVar(&f.MinVCPUs, "min-vcpus", 0, "only instance types with at least this many vCPUs")
	fs.BoolVar(&f.Priced, "priced", false, "only instance types with an on-demand price")
	fs.IntVar(&limit, "limit", 0, "show at most this many instance types (0: all)")
	fs.StringVar(&format, "format", "table", "output format: table, json or markdown")
	_ = cmd.RegisterFlagCompletionFunc("format", completeFixed("table", "json", "markdown"))
	_ = cmd.RegisterFlagCompletionFunc("gpu", completeFixed("t4", "a10g", "l4", "l40s", "v100", "a100", "h100", "h200", "b200"))
	return cmd
}
