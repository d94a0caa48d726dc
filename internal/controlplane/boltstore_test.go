package controlplane

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/openkvs/openkvs/internal/catalog/boltstore"
)

// TestBoltStore runs a condensed scenario on the embedded default store:
// everything the control plane keeps (tags, the JSON configurations,
// versions) must survive its encoding, and reopening the file.
func TestBoltStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	open := func() *boltstore.Store {
		st, err := boltstore.Open(boltstore.Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	ctx := context.Background()
	store := open()
	e := newTestEnv(t, func(c *Config) { c.Store = store })
	stARN := must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("s"), DataRetentionInHours: aws.Int32(3), Tags: map[string]string{"a": "1"}}))(t).StreamARN
	chARN := must(e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("c"),
		SingleMasterConfiguration: &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(7)}}))(t).ChannelARN
	must(e.client.UpdateMediaStorageConfiguration(ctx, &kinesisvideo.UpdateMediaStorageConfigurationInput{ChannelARN: chARN,
		MediaStorageConfiguration: &types.MediaStorageConfiguration{Status: types.MediaStorageConfigurationStatusEnabled, StreamARN: stARN}}))(t)
	must(e.client.UpdateNotificationConfiguration(ctx, &kinesisvideo.UpdateNotificationConfigurationInput{StreamARN: stARN,
		NotificationConfiguration: &types.NotificationConfiguration{Status: types.ConfigurationStatusDisabled, DestinationConfig: &types.NotificationDestinationConfig{Uri: aws.String("sns:topic")}}}))(t)
	version := must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: stARN}))(t).StreamInfo.Version
	e.srv.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	e = newTestEnv(t, func(c *Config) { c.Store = open() })
	t.Cleanup(func() { e.store.Close() })
	info := must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: stARN}))(t).StreamInfo
	if aws.ToString(info.Version) != aws.ToString(version) || aws.ToInt32(info.DataRetentionInHours) != 3 || !aws.ToTime(info.CreationTime).Equal(testEpoch) {
		t.Fatalf("reopened stream = %+v", info)
	}
	if tags := must(e.client.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamARN: stARN}))(t).Tags; tags["a"] != "1" {
		t.Fatalf("tags = %v", tags)
	}
	if ttl := must(e.client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: chARN}))(t).ChannelInfo.SingleMasterConfiguration.MessageTtlSeconds; aws.ToInt32(ttl) != 7 {
		t.Fatalf("TTL = %d", aws.ToInt32(ttl))
	}
	msc := must(e.client.DescribeMediaStorageConfiguration(ctx, &kinesisvideo.DescribeMediaStorageConfigurationInput{ChannelARN: chARN}))(t).MediaStorageConfiguration
	if msc.Status != types.MediaStorageConfigurationStatusEnabled || aws.ToString(msc.StreamARN) != aws.ToString(stARN) {
		t.Fatalf("media storage = %+v", msc)
	}
	n := must(e.client.DescribeNotificationConfiguration(ctx, &kinesisvideo.DescribeNotificationConfigurationInput{StreamARN: stARN}))(t).NotificationConfiguration
	if n == nil || aws.ToString(n.DestinationConfig.Uri) != "sns:topic" {
		t.Fatalf("notification = %+v", n)
	}
	must(e.client.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: stARN, CurrentVersion: version}))(t)
	_, err := e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: stARN})
	wantErr[*types.ResourceNotFoundException](t, err)
}
