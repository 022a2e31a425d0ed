package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
)

// awsFlags are the flags of every command that calls AWS: credentials come from the SDK's standard chain
// (environment, shared config and credentials files, SSO, instance roles).
type awsFlags struct {
	region, endpoint string
}

func (f *awsFlags) register(cmd *cobra.Command, what string) {
	fs := cmd.Flags()
	fs.StringVar(&f.region, "region", "", what+"AWS region (default: the SDK's configuration)")
	fs.StringVar(&f.endpoint, "endpoint-url", "", what+"Lambda endpoint override, e.g. a local emulator such as moto_server")
}

func (f *awsFlags) config(ctx context.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if f.region != "" {
		opts = append(opts, config.WithRegion(f.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	// Without a region the SDK signs requests for none, and an endpoint override (moto_server, say) answers with
	// an opaque 500; say what is missing instead.
	if cfg.Region == "" {
		return aws.Config{}, flagErrorf("no AWS region: give --region, or set AWS_REGION (or region in the AWS config file)")
	}
	return cfg, nil
}
