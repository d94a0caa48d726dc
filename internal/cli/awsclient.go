package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/spf13/cobra"
)

// awsFlags are the connection flags of every client subcommand. Unset flags
// fall back to the standard AWS environment and shared config files
// (AWS_ENDPOINT_URL, AWS_REGION/AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_CA_BUNDLE, AWS_PROFILE), so
// the same command works against openkvs and against AWS.
type awsFlags struct {
	endpoint string
	region   string
	profile  string
	caBundle string
}

func (f *awsFlags) register(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.endpoint, "endpoint-url", "", "control-plane endpoint (default: AWS_ENDPOINT_URL, else AWS)")
	fl.StringVar(&f.region, "region", "", "AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / profile)")
	fl.StringVar(&f.profile, "profile", "", "shared config profile (default: AWS_PROFILE)")
	fl.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of CAs to trust (default: AWS_CA_BUNDLE)")
}

// load resolves the AWS configuration: flags first, then the environment
// and shared config files.
func (f *awsFlags) load(ctx context.Context) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if f.region != "" {
		opts = append(opts, awsconfig.WithRegion(f.region))
	}
	if f.profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(f.profile))
	}
	if f.caBundle != "" {
		pem, err := os.Open(f.caBundle)
		if err != nil {
			return aws.Config{}, fmt.Errorf("ca bundle: %w", err)
		}
		defer pem.Close()
		opts = append(opts, awsconfig.WithCustomCABundle(pem))
	}
	if f.endpoint != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(f.endpoint))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("no region: set --region or AWS_REGION")
	}
	return cfg, nil
}

// kvsClient returns a kinesisvideo control-plane client.
func (f *awsFlags) kvsClient(ctx context.Context) (*kinesisvideo.Client, error) {
	cfg, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	return kinesisvideo.NewFromConfig(cfg), nil
}
