package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/check"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/platform/awslambda"
	"github.com/inferplan/inferplan/pricing"
	"github.com/inferplan/inferplan/reports"
)

type checkOptions struct {
	io         *ioStreams
	planPath   string
	policyPath string
	format     string
	flags      check.Policy
	minSLO     string
	maxInc     string
}

func newCheckCmd(io *ioStreams) *cobra.Command {
	o := &checkOptions{io: io}
	var maxCost, maxMonthly, monthly, p95, p99, maxHour float64
	cmd := &cobra.Command{
		Use:   "check",
		Short: "CI gate: fail when a plan costs too much or no longer meets its SLO",
		Long: `check compares a plan with thresholds and exits 3 when one is broken (0 when all hold), after
printing the report — as a table, JSON, or markdown for a pull-request comment. The plan's own SLO is
always checked; the other thresholds come from flags or from a policy file (inferplan.yaml in the
working directory, or --policy FILE), flags taking precedence:

  max_cost_per_million_usd: 70       # cost per million requests
  monthly_requests: 50000000         # the volume a monthly bill is computed at (Lambda's tiers applied)
  max_monthly_cost_usd: 3500
  free_tier: false
  min_slo_attainment: 0.95           # share of requests within the plan's latency bound
  max_p95_ms: 20000
  max_p99_ms: 40000
  baseline: plans/main.json          # relative to the policy file
  max_increase_pct: 10               # cost per million may rise at most 10% over the baseline
  max_cost_per_hour_usd: 8           # cluster plans: the fleet's cost an hour

On a cluster plan every service's own SLO is checked, and the attainment and latency thresholds
apply to each service; a month is the fleet's cost per hour × 730 hours.`,
		Example: `  inferplan check --plan plan.json --max-cost-per-million 70 --min-slo-attainment 0.95
  inferplan check --plan plan.json --baseline plans/main.json --max-increase 10% --format markdown
  inferplan check --plan plan.json            # thresholds from ./inferplan.yaml`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			ptr := func(name string, v float64) *float64 {
				if fs.Changed(name) {
					return &v
				}
				return nil
			}
			o.flags.MaxCostPerMillionUSD = ptr("max-cost-per-million", maxCost)
			o.flags.MaxMonthlyCostUSD = ptr("max-monthly-cost", maxMonthly)
			o.flags.MonthlyRequests = ptr("monthly-requests", monthly)
			o.flags.MaxP95Ms = ptr("max-p95-ms", p95)
			o.flags.MaxP99Ms = ptr("max-p99-ms", p99)
			o.flags.MaxCostPerHourUSD = ptr("max-cost-per-hour", maxHour)
			return runCheck(o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.planPath, "plan", "", "plan JSON to check")
	fs.StringVar(&o.policyPath, "policy", "", "policy file (default: ./inferplan.yaml when it exists)")
	formatFlag(cmd, &o.format, "report")
	fs.Float64Var(&maxCost, "max-cost-per-million", 0, "most the plan may cost per million requests, USD")
	fs.Float64Var(&maxHour, "max-cost-per-hour", 0, "cluster plans: most the fleet may cost an hour, USD")
	fs.StringVar(&o.minSLO, "min-slo-attainment", "", "least share of requests within the SLO's latency: 0.95 or 95%")
	fs.Float64Var(&maxMonthly, "max-monthly-cost", 0, "most a month may cost at --monthly-requests, USD")
	fs.Float64Var(&monthly, "monthly-requests", 0, "requests per month to cost a monthly bill at")
	fs.BoolVar(&o.flags.FreeTier, "free-tier", false, "deduct Lambda's monthly free tier from the monthly bill")
	fs.Float64Var(&p95, "max-p95-ms", 0, "most the p95 latency may be, ms")
	fs.Float64Var(&p99, "max-p99-ms", 0, "most the p99 latency may be, ms")
	fs.StringVar(&o.flags.Baseline, "baseline", "", "a plan to compare cost with (the main branch's, say)")
	fs.StringVar(&o.maxInc, "max-increase", "", "most cost per million may rise over --baseline: 10% or 10")
	return cmd
}

// parseShare reads 0.95 or 95% as 0.95.
func parseShare(flag, s string) (*float64, error) {
	if s == "" {
		return nil, nil
	}
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return nil, flagErrorf("--%s %q: want a share like 0.95 or 95%%", flag, s)
	}
	if pct {
		v /= 100
	}
	return &v, nil
}

// parsePercent reads 10% or 10 as 10.
func parsePercent(flag, s string) (*float64, error) {
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return nil, flagErrorf("--%s %q: want a percentage like 10%%", flag, s)
	}
	return &v, nil
}

func runCheck(o *checkOptions) error {
	format, err := reports.ParseFormat(o.format)
	if err != nil {
		return &flagError{err: err}
	}
	if o.planPath == "" {
		return flagErrorf("--plan is required")
	}
	if o.flags.MinSLOAttainment, err = parseShare("min-slo-attainment", o.minSLO); err != nil {
		return err
	}
	if o.flags.MaxIncreasePct, err = parsePercent("max-increase", o.maxInc); err != nil {
		return err
	}
	pol, err := loadPolicy(o.policyPath)
	if err != nil {
		return err
	}
	pol = pol.Override(o.flags)
	if err := pol.Validate(); err != nil {
		return &flagError{err: err}
	}
	p, err := readEstimatedPlan(o.planPath)
	if err != nil {
		return err
	}
	var base *plan.Plan
	if pol.Baseline != "" {
		if base, err = readEstimatedPlan(pol.Baseline); err != nil {
			return err
		}
	}
	res, err := check.Evaluate(o.planPath, p, base, pol, monthlyBill(o.io))
	if err != nil {
		return err
	}
	if err := reports.RenderCheck(o.io.Out, format, res); err != nil {
		return err
	}
	if !res.Pass {
		return &thresholdError{broken: res.Broken}
	}
	return nil
}

// readEstimatedPlan reads a plan whose estimate a command compares: a plan without one is an input error naming
// the file (exit 2), not a threshold broken by zeros.
func readEstimatedPlan(path string) (*plan.Plan, error) {
	p, err := plan.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := p.RequireEstimate(); err != nil {
		var ie *inputerr.Error
		if errors.As(err, &ie) {
			ie.File = path
		}
		return nil, err
	}
	return p, nil
}

// loadPolicy reads the policy file given, or ./inferplan.yaml when it exists; a baseline path in it is relative
// to the file.
func loadPolicy(path string) (check.Policy, error) {
	explicit := path != ""
	if !explicit {
		path = check.PolicyFile
	}
	pol, err := check.LoadPolicy(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return check.Policy{}, nil
		}
		return check.Policy{}, err
	}
	if pol.Baseline != "" && !filepath.IsAbs(pol.Baseline) {
		pol.Baseline = filepath.Join(filepath.Dir(path), pol.Baseline)
	}
	return pol, nil
}

// hoursPerMonth is the month a fleet is billed for (365 × 24 / 12).
const hoursPerMonth = 730

// monthlyBill bills a month of requests by each plan's platform: Lambda's volume tiers at the catalog's prices; a
// fleet's hours.
func monthlyBill(io *ioStreams) check.MonthlyBill {
	return func(p *plan.Plan, requests float64, freeTier bool) (float64, error) {
		if p.Cluster != nil {
			return p.Estimate.CostPerHourUSD * hoursPerMonth, nil // a fleet runs all month, whatever the volume
		}
		if p.Lambda == nil {
			return 0, errorf("no monthly bill for a %s plan", p.Platform)
		}
		lp, err := lambdaPrice(io, p.Lambda.Arch)
		if err != nil {
			return 0, err
		}
		return awslambda.PlanMonthlyUSD(p, lp, requests, freeTier)
	}
}

func lambdaPrice(io *ioStreams, arch string) (pricing.LambdaPrice, error) {
	cat, err := catalog(io)
	if err != nil {
		return pricing.LambdaPrice{}, err
	}
	if arch == "" {
		arch = "x86_64"
	}
	lp, ok := cat.Lambda(arch)
	if !ok {
		return lp, errorf("no Lambda price for architecture %q", arch)
	}
	return lp, nil
}

func newDiffCmd(io *ioStreams) *cobra.Command {
	var (
		format   string
		monthly  float64
		freeTier bool
		maxBytes int
	)
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show what changed between two plans",
		Long: `diff compares two plans: cost per million requests (and per month at --monthly-requests), SLO
attainment, latency percentiles, padding and invocations, then buffer by buffer — buffers over the same
size range compared field by field, others added or removed. --format markdown writes a pull-request
comment: a summary table and the buffers in a collapsed section, trimmed to GitHub's comment size.`,
		Example: `  inferplan diff plans/main.json plan.json
  inferplan diff plans/main.json plan.json --format markdown --monthly-requests 50000000 > comment.md`,
		Args: exactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			f, err := reports.ParseFormat(format)
			if err != nil {
				return &flagError{err: err}
			}
			old, err := readEstimatedPlan(args[0])
			if err != nil {
				return err
			}
			nw, err := readEstimatedPlan(args[1])
			if err != nil {
				return err
			}
			d := plan.Compare(old, nw)
			if monthly > 0 {
				bill := monthlyBill(io)
				for _, side := range []struct {
					p *plan.Plan
					s *plan.Summary
				}{{old, &d.Old}, {nw, &d.New}} {
					m, err := bill(side.p, monthly, freeTier)
					if err != nil {
						return err
					}
					side.s.MonthlyUSD = &m
				}
			}
			return reports.RenderDiff(io.Out, f, args[0], args[1], d, maxBytes)
		},
	}
	formatFlag(cmd, &format, "output")
	cmd.Flags().Float64Var(&monthly, "monthly-requests", 0, "also compare monthly bills at this many requests a month")
	cmd.Flags().BoolVar(&freeTier, "free-tier", false, "deduct Lambda's monthly free tier from monthly bills")
	cmd.Flags().IntVar(&maxBytes, "max-bytes", reports.GitHubCommentLimit, "markdown: trim buffer rows to stay under this size")
	return cmd
}
