package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/deploy"
	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/reports"
)

type applyOptions struct {
	io       *ioStreams
	planPath string
	function string
	dryRun   bool
	prune    bool
	format   string
	aws      awsFlags
	// kubernetes are the flags of apply --kubernetes, for cluster plans (apply_kubernetes.go)
	kubernetes kubernetesFlags
}

func newApplyCmd(io *ioStreams) *cobra.Command {
	o := &applyOptions{io: io}
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Give a Lambda function the memory sizes a plan asks for, one alias per buffer",
		Long: `apply sets up a Lambda function so that 'inferplan serve --backend lambda:FUNCTION' can run
each buffer of a plan at its memory size. For buffer N it points the alias inferplan-buffer-N
at a published version of the function's current code and configuration with the buffer's
memory size: an existing version when one matches (same code, runtime, handler, timeout,
architecture, environment and layers), else one it publishes (one per memory size). $LATEST is
left with the memory size it had, also when a step fails.

It prints what it will change first; --dry-run stops there. Applying the same plan again
changes nothing; after new code is deployed to $LATEST, apply publishes versions of it.
Credentials come from the AWS SDK's standard chain; the caller needs lambda:GetFunctionConfiguration,
ListVersionsByFunction, UpdateFunctionConfiguration, PublishVersion, GetAlias, CreateAlias and
UpdateAlias on the function.`,
		Example: `  inferplan apply --plan plan.json --function encoder --dry-run
  inferplan apply --plan plan.json --function encoder --region eu-west-1`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.kubernetesChosen(cmd) {
				return runApplyKubernetes(cmd.Context(), o.kubernetesOptions(cmd))
			}
			return runApply(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.planPath, "plan", "", "plan JSON (contract §3.3)")
	fs.StringVar(&o.function, "function", "", "Lambda function name or ARN")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the changes without making them")
	fs.BoolVar(&o.prune, "prune", false, "delete the aliases of buffers the plan does not have (left from a plan with more buffers)")
	formatFlag(cmd, &o.format, "output")
	o.aws.register(cmd, "")
	o.kubernetes.register(cmd)
	return cmd
}

// applyResult is apply's JSON output.
type applyResult struct {
	Function string               `json:"function"`
	Plan     string               `json:"plan"`
	DryRun   bool                 `json:"dry_run"`
	Changed  bool                 `json:"changed"`
	Changes  []deploy.AliasChange `json:"changes"`
}

func runApply(ctx context.Context, o *applyOptions) error {
	format, err := reports.ParseFormat(o.format)
	if err != nil {
		return &flagError{err: err}
	}
	if o.planPath == "" || o.function == "" {
		return flagErrorf("--plan and --function are required")
	}
	p, err := plan.ReadFile(o.planPath)
	if err != nil {
		return err
	}
	cfg, err := o.aws.config(ctx)
	if err != nil {
		return err
	}
	client := dispatch.NewLambdaClient(cfg, o.aws.endpoint)
	changes, err := deploy.LambdaDiff(ctx, client, o.function, p)
	if err != nil {
		return plan.Locate(err, o.planPath)
	}
	if o.prune {
		deploy.Prune(changes)
	}
	res := applyResult{Function: o.function, Plan: o.planPath, DryRun: o.dryRun, Changed: deploy.Changed(changes), Changes: changes}
	if format != reports.JSON {
		if err := reports.ApplyDocument(o.function, p, changes).Render(o.io.Out, format); err != nil {
			return err
		}
	}
	if res.Changed && !o.dryRun {
		err = deploy.ApplyLambda(ctx, client, o.function, changes, func(step string) { fmt.Fprintln(o.io.ErrOut, step) })
		if err != nil {
			return err
		}
	}
	switch {
	case format == reports.JSON:
		return reports.WriteJSON(o.io.Out, res)
	case !res.Changed && deploy.Stale(changes) > 0:
		fmt.Fprintln(o.io.Out, "Every buffer's alias already runs the plan's memory size; stale aliases left in place (--prune deletes them).")
	case !res.Changed:
		fmt.Fprintln(o.io.Out, "Nothing to change: every alias already runs the plan's memory size.")
	case o.dryRun:
		fmt.Fprintln(o.io.Out, "Dry run: nothing was changed.")
	default:
		fmt.Fprintf(o.io.Out, "Applied. Serve it with: inferplan serve --plan %s --backend lambda:%s\n", o.planPath, o.function)
	}
	return nil
}
