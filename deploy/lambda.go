// Package deploy applies plans to the platforms that run them. For Lambda: publish one version of the function
// per memory size a plan uses and point each buffer's alias (awslambda.AliasName) at the version with its memory,
// so the runtime's Lambda backend invokes every buffer at the memory the plan chose.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/platform/awslambda"
	"github.com/inferplan/inferplan/profiler"
)

// ApplyAPI is the part of the Lambda API `apply` calls; *lambda.Client satisfies it.
type ApplyAPI interface {
	profiler.LambdaAPI
	ListVersionsByFunction(ctx context.Context, in *lambda.ListVersionsByFunctionInput, opts ...func(*lambda.Options)) (*lambda.ListVersionsByFunctionOutput, error)
	PublishVersion(ctx context.Context, in *lambda.PublishVersionInput, opts ...func(*lambda.Options)) (*lambda.PublishVersionOutput, error)
	GetAlias(ctx context.Context, in *lambda.GetAliasInput, opts ...func(*lambda.Options)) (*lambda.GetAliasOutput, error)
	CreateAlias(ctx context.Context, in *lambda.CreateAliasInput, opts ...func(*lambda.Options)) (*lambda.CreateAliasOutput, error)
	UpdateAlias(ctx context.Context, in *lambda.UpdateAliasInput, opts ...func(*lambda.Options)) (*lambda.UpdateAliasOutput, error)
	ListAliases(ctx context.Context, in *lambda.ListAliasesInput, opts ...func(*lambda.Options)) (*lambda.ListAliasesOutput, error)
	DeleteAlias(ctx context.Context, in *lambda.DeleteAliasInput, opts ...func(*lambda.Options)) (*lambda.DeleteAliasOutput, error)
}

// Actions an AliasChange takes.
const (
	ActionNone   = "unchanged"
	ActionCreate = "create alias"
	ActionUpdate = "update alias"
	// ActionStale is an alias of a buffer the plan no longer has (a plan with fewer buffers than the last one
	// applied): nothing routes to it, but it keeps its version; Prune turns it into ActionDelete.
	ActionStale  = "stale (not in the plan)"
	ActionDelete = "delete alias"
)

// AliasChange is what `apply` does for one buffer: point its alias at a version of the function's current code
// and configuration with the buffer's memory size — one already published, or one to publish.
type AliasChange struct {
	Buffer       int    `json:"buffer"` // 1-based, as plans print them
	Alias        string `json:"alias"`
	MemoryMB     int    `json:"memory_mb"`
	FromVersion  string `json:"from_version,omitempty"` // "" when the alias does not exist
	FromMemoryMB int    `json:"from_memory_mb,omitempty"`
	ToVersion    string `json:"to_version,omitempty"` // "" until published
	Publish      bool   `json:"publish"`              // a new version is published for it
	Action       string `json:"action"`
}

// LambdaDiff reads the function and its aliases and says what applying p takes. A version is reused when its
// code and configuration equal $LATEST's except for the memory size, which equals the buffer's; so applying the
// same plan twice changes nothing, and new code deployed to $LATEST gets new versions.
//
// Aliases of buffers beyond the plan's (inferplan-buffer-N for N above its buffer count) are listed after the
// buffers as ActionStale. A memory size outside Lambda's range is an input error on the buffer's field, found
// before any call.
func LambdaDiff(ctx context.Context, api ApplyAPI, function string, p *plan.Plan) ([]AliasChange, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	for i, b := range p.Lambda.Buffers {
		if err := awslambda.CheckMemory(b.MemoryMB); err != nil {
			return nil, inputerr.New("", 0, fmt.Sprintf("buffers[%d].memory_mb", i), "%v", err)
		}
	}
	latest, err := api.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(function)})
	if err != nil {
		return nil, fmt.Errorf("lambda %s: %w", function, err)
	}
	versions, err := listVersions(ctx, api, function)
	if err != nil {
		return nil, err
	}
	byVersion := map[string]types.FunctionConfiguration{}
	reuse := map[int]string{} // memory → the newest matching version
	want := frozenLatest(latest)
	for _, v := range versions {
		ver := aws.ToString(v.Version)
		byVersion[ver] = v
		if frozenVersion(v) == want {
			mb := int(aws.ToInt32(v.MemorySize))
			if cur, ok := reuse[mb]; !ok || versionNumber(ver) > versionNumber(cur) {
				reuse[mb] = ver
			}
		}
	}
	var changes []AliasChange
	for i, b := range p.Lambda.Buffers {
		c := AliasChange{Buffer: i + 1, Alias: awslambda.AliasName(i), MemoryMB: b.MemoryMB}
		a, err := api.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(function), Name: aws.String(c.Alias)})
		var nf *types.ResourceNotFoundException
		switch {
		case errors.As(err, &nf):
		case err != nil:
			return nil, fmt.Errorf("lambda %s: alias %s: %w", function, c.Alias, err)
		default:
			c.FromVersion = aws.ToString(a.FunctionVersion)
			c.FromMemoryMB = int(aws.ToInt32(byVersion[c.FromVersion].MemorySize))
		}
		c.ToVersion = reuse[b.MemoryMB]
		c.Publish = c.ToVersion == ""
		switch {
		case c.FromVersion == "":
			c.Action = ActionCreate
		case c.FromVersion == c.ToVersion:
			c.Action = ActionNone
		default:
			c.Action = ActionUpdate
		}
		changes = append(changes, c)
	}
	stale, err := staleAliases(ctx, api, function, len(p.Lambda.Buffers), byVersion)
	if err != nil {
		return nil, err
	}
	return append(changes, stale...), nil
}

// staleAliases lists the function's aliases of buffers beyond the plan's first n, by buffer number.
func staleAliases(ctx context.Context, api ApplyAPI, function string, n int, byVersion map[string]types.FunctionConfiguration) ([]AliasChange, error) {
	var out []AliasChange
	var marker *string
	for {
		page, err := api.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String(function), Marker: marker})
		if err != nil {
			return nil, fmt.Errorf("lambda %s: listing aliases: %w", function, err)
		}
		for _, a := range page.Aliases {
			k, ok := awslambda.AliasBuffer(aws.ToString(a.Name))
			if !ok || k < n {
				continue
			}
			v := aws.ToString(a.FunctionVersion)
			out = append(out, AliasChange{Buffer: k + 1, Alias: aws.ToString(a.Name), FromVersion: v,
				FromMemoryMB: int(aws.ToInt32(byVersion[v].MemorySize)), Action: ActionStale})
		}
		if aws.ToString(page.NextMarker) == "" {
			break
		}
		marker = page.NextMarker
	}
	slices.SortFunc(out, func(a, b AliasChange) int { return a.Buffer - b.Buffer })
	return out, nil
}

// Prune marks the stale aliases among changes for deletion (apply --prune).
func Prune(changes []AliasChange) {
	for i := range changes {
		if changes[i].Action == ActionStale {
			changes[i].Action = ActionDelete
		}
	}
}

// Stale counts the aliases of buffers the plan no longer has that are left in place.
func Stale(changes []AliasChange) int {
	n := 0
	for _, c := range changes {
		if c.Action == ActionStale {
			n++
		}
	}
	return n
}

// Changed reports whether applying the changes would do anything (a stale alias left in place is no change).
func Changed(changes []AliasChange) bool {
	return slices.ContainsFunc(changes, func(c AliasChange) bool { return c.Action != ActionNone && c.Action != ActionStale })
}

// ApplyLambda carries the changes out: for every memory size without a version, it sets $LATEST to that size and
// publishes a version; then it creates or moves the aliases. $LATEST gets its memory size back at the end, also
// after a failure. progress, when not nil, hears of every step.
func ApplyLambda(ctx context.Context, api ApplyAPI, function string, changes []AliasChange, progress func(string)) (err error) {
	if progress == nil {
		progress = func(string) {}
	}
	if !Changed(changes) {
		return nil
	}
	s, err := profiler.OpenLambda(ctx, api, function)
	if err != nil {
		return err
	}
	s.Poll = pollInterval
	published := map[int]string{}
	defer func() {
		if len(published) == 0 {
			return
		}
		if rerr := s.Restore(ctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restoring $LATEST to %d MB: %w", s.OriginalMemoryMB(), rerr))
			return
		}
		progress(fmt.Sprintf("restored $LATEST to %d MB", s.OriginalMemoryMB()))
	}()
	for i := range changes {
		c := &changes[i]
		switch c.Action {
		case ActionNone, ActionStale:
			continue
		case ActionDelete:
			if _, err := api.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: aws.String(function), Name: aws.String(c.Alias)}); err != nil {
				return fmt.Errorf("lambda %s: delete alias %s: %w", function, c.Alias, err)
			}
			progress(fmt.Sprintf("deleted alias %s (version %s), which no buffer of the plan uses", c.Alias, c.FromVersion))
			continue
		}
		if c.Publish {
			if v, ok := published[c.MemoryMB]; ok {
				c.ToVersion = v
			} else {
				if err := s.SetMemory(ctx, int32(c.MemoryMB)); err != nil {
					return err
				}
				published[c.MemoryMB] = "" // $LATEST changed: restore it even if publishing fails
				out, err := api.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(function),
					Description: aws.String(fmt.Sprintf("inferplan: %d MB", c.MemoryMB))})
				if err != nil {
					return fmt.Errorf("lambda %s: publishing a version at %d MB: %w", function, c.MemoryMB, err)
				}
				if got := int(aws.ToInt32(out.MemorySize)); got != c.MemoryMB {
					return fmt.Errorf("lambda %s: version %s was published at %d MB, not %d", function, aws.ToString(out.Version), got, c.MemoryMB)
				}
				c.ToVersion = aws.ToString(out.Version)
				published[c.MemoryMB] = c.ToVersion
				progress(fmt.Sprintf("published version %s at %d MB", c.ToVersion, c.MemoryMB))
			}
		}
		desc := aws.String(fmt.Sprintf("inferplan buffer %d: %d MB", c.Buffer, c.MemoryMB))
		if c.Action == ActionCreate {
			_, err = api.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(function), Name: aws.String(c.Alias),
				FunctionVersion: aws.String(c.ToVersion), Description: desc})
		} else {
			_, err = api.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(function), Name: aws.String(c.Alias),
				FunctionVersion: aws.String(c.ToVersion), Description: desc})
		}
		if err != nil {
			return fmt.Errorf("lambda %s: %s %s → version %s: %w", function, c.Action, c.Alias, c.ToVersion, err)
		}
		progress(fmt.Sprintf("%s %s → version %s (%d MB)", c.Action, c.Alias, c.ToVersion, c.MemoryMB))
	}
	return nil
}

// pollInterval is how often a configuration update is checked; tests shorten it.
var pollInterval = time.Second

func listVersions(ctx context.Context, api ApplyAPI, function string) ([]types.FunctionConfiguration, error) {
	var out []types.FunctionConfiguration
	var marker *string
	for {
		page, err := api.ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(function), Marker: marker})
		if err != nil {
			return nil, fmt.Errorf("lambda %s: listing versions: %w", function, err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Version) != "$LATEST" {
				out = append(out, v)
			}
		}
		if aws.ToString(page.NextMarker) == "" {
			return out, nil
		}
		marker = page.NextMarker
	}
}

// frozen is what a version freezes — code, runtime, handler, timeout, architecture, environment, layers — less
// the memory size, as one comparable string.
func frozen(code *string, rt types.Runtime, handler *string, timeout *int32, arch []types.Architecture, e *types.EnvironmentResponse, layers []types.Layer) string {
	var vars []string
	if e != nil {
		for _, k := range slices.Sorted(maps.Keys(e.Variables)) {
			vars = append(vars, strconv.Quote(k)+"="+strconv.Quote(e.Variables[k]))
		}
	}
	var arns []string
	for _, l := range layers {
		arns = append(arns, aws.ToString(l.Arn))
	}
	return fmt.Sprintf("%s|%s|%s|%d|%v|%v|%v", aws.ToString(code), rt, aws.ToString(handler), aws.ToInt32(timeout), arch, vars, arns)
}

func frozenVersion(v types.FunctionConfiguration) string {
	return frozen(v.CodeSha256, v.Runtime, v.Handler, v.Timeout, v.Architectures, v.Environment, v.Layers)
}

func frozenLatest(v *lambda.GetFunctionConfigurationOutput) string {
	return frozen(v.CodeSha256, v.Runtime, v.Handler, v.Timeout, v.Architectures, v.Environment, v.Layers)
}

func versionNumber(v string) int {
	n, _ := strconv.Atoi(v)
	return n
}
