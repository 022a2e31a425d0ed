package main

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/pricing"
	"github.com/inferplan/inferplan/reports"
)

func newPricesCmd(io *ioStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prices",
		Short: "Show the AWS prices plans are costed at",
	}
	cmd.AddCommand(newPricesListCmd(io), newPricesUpdateCmd(io))
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
			cat, err := catalog(io)
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
	formatFlag(cmd, &format, "output")
	_ = cmd.RegisterFlagCompletionFunc("gpu", completeFixed("t4", "a10g", "l4", "l40s", "v100", "a100", "h100", "h200", "b200"))
	return cmd
}

func newPricesUpdateCmd(io *ioStreams) *cobra.Command {
	var (
		region, endpoint string
		dryRun           bool
	)
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Fetch current Lambda and EC2 prices from the AWS Price List API into the price cache",
		Long: `update reads the current Lambda prices (per-GB-second tiers and request price, x86_64 and arm64)
and Linux on-demand EC2 prices of a region through the AWS Price List API (GetProducts, every page),
checks them, and writes them, dated, to the price cache ($INFERPLAN_CACHE_DIR, or the user cache
folder's inferplan/) that later runs use in preference to the embedded snapshot. A fetch that fails
or returns a partial or malformed list writes nothing: the last good prices stay, and it says so.
Credentials come from the standard AWS chain; any IAM identity with pricing:GetProducts will do.`,
		Example: `  inferplan prices update
  inferplan prices update --dry-run      # fetch and show what changed, keep the cache as it is`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			prev, _ := catalog(io)
			cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
			if err != nil {
				return fmt.Errorf("AWS configuration: %w", err)
			}
			snap, rep, err := pricing.Fetch(ctx, pricing.PriceListClient(cfg, endpoint), region, prev.Snapshot(), io.Now())
			if err != nil {
				return fmt.Errorf("price update failed, the previous prices stay (%s, as of %s): %w", prev.Source(), prev.AsOf(), err)
			}
			path, err := pricing.CachePath(region)
			if err != nil {
				return err
			}
			fmt.Fprint(io.Out, reports.PriceUpdateText(snap, rep, prev, path, dryRun))
			if dryRun {
				return nil
			}
			return pricing.SaveCache(path, snap)
		},
	}
	cmd.Flags().StringVar(&region, "region", "us-east-1", "region whose prices to fetch")
	cmd.Flags().StringVar(&endpoint, "endpoint-url", "", "Price List API endpoint override (tests, proxies)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "fetch and report, but keep the cache as it is")
	return cmd
}
