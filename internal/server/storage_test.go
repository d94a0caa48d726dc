package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
	"github.com/openkvs/openkvs/internal/testserver"
)

// TestPostgresCatalogSharedByNodes starts two servers with their own data
// dirs on one PostgreSQL catalog: what one creates, the other sees.
func TestPostgresCatalogSharedByNodes(t *testing.T) {
	dsn := pgtest.Start(t)
	shared := func(c *config.Config) { c.Storage.Catalog = dsn }
	a := testserver.Start(t, testserver.Options{Configure: shared})
	b := testserver.Start(t, testserver.Options{Configure: shared})
	ctx := context.Background()
	if _, err := a.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("shared-cam")}); err != nil {
		t.Fatal(err)
	}
	out, err := b.KVS().DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("shared-cam")})
	if err != nil {
		t.Fatalf("node b does not see node a's stream: %v", err)
	}
	if aws.ToString(out.StreamInfo.StreamName) != "shared-cam" {
		t.Fatalf("DescribeStream on node b: %+v", out.StreamInfo)
	}
}
