package controlplane

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

func TestImageGenerationAndNotificationConfiguration(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("noret")}))(t)
	must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("s"), DataRetentionInHours: aws.Int32(1)}))(t)

	img := &types.ImageGenerationConfiguration{
		Status:            types.ConfigurationStatusEnabled,
		ImageSelectorType: types.ImageSelectorTypeServerTimestamp,
		DestinationConfig: &types.ImageGenerationDestinationConfig{Uri: aws.String("s3://bucket/prefix"), DestinationRegion: aws.String("eu-west-1")},
		SamplingInterval:  aws.Int32(3000),
		Format:            types.FormatJpeg,
		FormatConfig:      map[string]string{"JPEGQuality": "80"},
		WidthPixels:       aws.Int32(640),
	}
	_, err := e.client.UpdateImageGenerationConfiguration(ctx, &kinesisvideo.UpdateImageGenerationConfigurationInput{StreamName: aws.String("noret"), ImageGenerationConfiguration: img})
	wantErr[*types.NoDataRetentionException](t, err)

	if got := must(e.client.DescribeImageGenerationConfiguration(ctx, &kinesisvideo.DescribeImageGenerationConfigurationInput{StreamName: aws.String("s")}))(t); got.ImageGenerationConfiguration != nil {
		t.Fatalf("unset configuration = %+v", got.ImageGenerationConfiguration)
	}
	must(e.client.UpdateImageGenerationConfiguration(ctx, &kinesisvideo.UpdateImageGenerationConfigurationInput{StreamName: aws.String("s"), ImageGenerationConfiguration: img}))(t)
	got := must(e.client.DescribeImageGenerationConfiguration(ctx, &kinesisvideo.DescribeImageGenerationConfigurationInput{StreamName: aws.String("s")}))(t).ImageGenerationConfiguration
	if got == nil || got.Status != img.Status || got.Format != img.Format || aws.ToInt32(got.SamplingInterval) != 3000 ||
		aws.ToString(got.DestinationConfig.Uri) != "s3://bucket/prefix" || got.FormatConfig["JPEGQuality"] != "80" ||
		aws.ToInt32(got.WidthPixels) != 640 || got.HeightPixels != nil {
		t.Fatalf("stored configuration = %+v", got)
	}
	// A null configuration deletes it.
	must(e.client.UpdateImageGenerationConfiguration(ctx, &kinesisvideo.UpdateImageGenerationConfigurationInput{StreamName: aws.String("s")}))(t)
	if got := must(e.client.DescribeImageGenerationConfiguration(ctx, &kinesisvideo.DescribeImageGenerationConfigurationInput{StreamName: aws.String("s")}))(t); got.ImageGenerationConfiguration != nil {
		t.Fatalf("deleted configuration = %+v", got.ImageGenerationConfiguration)
	}
	for _, mutate := range []func(c *types.ImageGenerationConfiguration){
		func(c *types.ImageGenerationConfiguration) { c.SamplingInterval = aws.Int32(100) },
		func(c *types.ImageGenerationConfiguration) { c.FormatConfig = map[string]string{"JPEGQuality": "101"} },
		func(c *types.ImageGenerationConfiguration) { c.FormatConfig = map[string]string{"PNGLevel": "1"} },
		func(c *types.ImageGenerationConfiguration) { c.HeightPixels = aws.Int32(2161) },
		func(c *types.ImageGenerationConfiguration) { c.Format = "GIF" },
		func(c *types.ImageGenerationConfiguration) {
			c.DestinationConfig.DestinationRegion = aws.String("mars")
		},
		func(c *types.ImageGenerationConfiguration) { c.DestinationConfig.Uri = aws.String("no-scheme") },
	} {
		bad := *img
		dc := *img.DestinationConfig
		bad.DestinationConfig = &dc
		mutate(&bad)
		_, err := e.client.UpdateImageGenerationConfiguration(ctx, &kinesisvideo.UpdateImageGenerationConfigurationInput{StreamName: aws.String("s"), ImageGenerationConfiguration: &bad})
		wantErr[*types.InvalidArgumentException](t, err)
	}

	n := &types.NotificationConfiguration{Status: types.ConfigurationStatusEnabled, DestinationConfig: &types.NotificationDestinationConfig{Uri: aws.String("arn:aws:sns:eu-west-1:123456789012:topic")}}
	_, err = e.client.UpdateNotificationConfiguration(ctx, &kinesisvideo.UpdateNotificationConfigurationInput{StreamName: aws.String("noret"), NotificationConfiguration: n})
	wantErr[*types.NoDataRetentionException](t, err)
	must(e.client.UpdateNotificationConfiguration(ctx, &kinesisvideo.UpdateNotificationConfigurationInput{StreamName: aws.String("s"), NotificationConfiguration: n}))(t)
	gotN := must(e.client.DescribeNotificationConfiguration(ctx, &kinesisvideo.DescribeNotificationConfigurationInput{StreamName: aws.String("s")}))(t).NotificationConfiguration
	if gotN == nil || gotN.Status != n.Status || aws.ToString(gotN.DestinationConfig.Uri) != aws.ToString(n.DestinationConfig.Uri) {
		t.Fatalf("notification = %+v", gotN)
	}
	_, err = e.client.DescribeNotificationConfiguration(ctx, &kinesisvideo.DescribeNotificationConfigurationInput{StreamName: aws.String("none")})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func TestStreamStorageConfiguration(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("hot")}))(t)
	must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("warm"),
		StreamStorageConfiguration: &types.StreamStorageConfiguration{DefaultStorageTier: types.DefaultStorageTierWarm}}))(t)
	tier := func(name string) types.DefaultStorageTier {
		out := must(e.client.DescribeStreamStorageConfiguration(ctx, &kinesisvideo.DescribeStreamStorageConfigurationInput{StreamName: aws.String(name)}))(t)
		if aws.ToString(out.StreamName) != name {
			t.Fatalf("StreamName = %q", aws.ToString(out.StreamName))
		}
		return out.StreamStorageConfiguration.DefaultStorageTier
	}
	if tier("hot") != types.DefaultStorageTierHot || tier("warm") != types.DefaultStorageTierWarm {
		t.Fatal("tiers not as created")
	}
	v := must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("hot")}))(t).StreamInfo.Version
	_, err := e.client.UpdateStreamStorageConfiguration(ctx, &kinesisvideo.UpdateStreamStorageConfigurationInput{StreamName: aws.String("hot"),
		CurrentVersion: aws.String("x"), StreamStorageConfiguration: &types.StreamStorageConfiguration{DefaultStorageTier: types.DefaultStorageTierWarm}})
	wantErr[*types.VersionMismatchException](t, err)
	must(e.client.UpdateStreamStorageConfiguration(ctx, &kinesisvideo.UpdateStreamStorageConfigurationInput{StreamName: aws.String("hot"),
		CurrentVersion: v, StreamStorageConfiguration: &types.StreamStorageConfiguration{DefaultStorageTier: types.DefaultStorageTierWarm}}))(t)
	if tier("hot") != types.DefaultStorageTierWarm {
		t.Fatal("tier not updated")
	}
}

func TestMediaStorageConfiguration(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	noRet := must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("noret")}))(t).StreamARN
	st := must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("rec"), DataRetentionInHours: aws.Int32(2)}))(t).StreamARN
	ch := must(e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("c")}))(t).ChannelARN
	ch2 := must(e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("c2")}))(t).ChannelARN

	msc := must(e.client.DescribeMediaStorageConfiguration(ctx, &kinesisvideo.DescribeMediaStorageConfigurationInput{ChannelName: aws.String("c")}))(t).MediaStorageConfiguration
	if msc.Status != types.MediaStorageConfigurationStatusDisabled || msc.StreamARN != nil {
		t.Fatalf("default = %+v", msc)
	}
	enable := func(channel, stream *string) error {
		_, err := e.client.UpdateMediaStorageConfiguration(ctx, &kinesisvideo.UpdateMediaStorageConfigurationInput{ChannelARN: channel,
			MediaStorageConfiguration: &types.MediaStorageConfiguration{Status: types.MediaStorageConfigurationStatusEnabled, StreamARN: stream}})
		return err
	}
	wantErr[*types.NoDataRetentionException](t, enable(ch, noRet))
	wantErr[*types.InvalidArgumentException](t, enable(ch, nil))
	wantErr[*types.ResourceNotFoundException](t, enable(ch, aws.String("arn:aws:kinesisvideo:eu-west-1:123456789012:stream/rec/1")))
	noErr(t, enable(ch, st))
	wantErr[*types.ResourceInUseException](t, enable(ch2, st))
	noErr(t, enable(ch, st)) // idempotent for the same channel

	msc = must(e.client.DescribeMediaStorageConfiguration(ctx, &kinesisvideo.DescribeMediaStorageConfigurationInput{ChannelARN: ch}))(t).MediaStorageConfiguration
	if msc.Status != types.MediaStorageConfigurationStatusEnabled || aws.ToString(msc.StreamARN) != aws.ToString(st) {
		t.Fatalf("enabled = %+v", msc)
	}
	mapped := must(e.client.DescribeMappedResourceConfiguration(ctx, &kinesisvideo.DescribeMappedResourceConfigurationInput{StreamARN: st}))(t)
	if len(mapped.MappedResourceConfigurationList) != 1 || aws.ToString(mapped.MappedResourceConfigurationList[0].ARN) != aws.ToString(ch) ||
		aws.ToString(mapped.MappedResourceConfigurationList[0].Type) != mappedResourceType || mapped.NextToken != nil {
		t.Fatalf("mapped = %+v", mapped)
	}
	if n := len(must(e.client.DescribeMappedResourceConfiguration(ctx, &kinesisvideo.DescribeMappedResourceConfigurationInput{StreamName: aws.String("noret"), MaxResults: aws.Int32(1)}))(t).MappedResourceConfigurationList); n != 0 {
		t.Fatalf("unmapped stream has %d mappings", n)
	}
	_, err := e.client.DescribeMappedResourceConfiguration(ctx, &kinesisvideo.DescribeMappedResourceConfigurationInput{StreamARN: st, MaxResults: aws.Int32(2)})
	wantErr[*types.InvalidArgumentException](t, err)

	// Disabling frees the stream for another channel.
	must(e.client.UpdateMediaStorageConfiguration(ctx, &kinesisvideo.UpdateMediaStorageConfigurationInput{ChannelARN: ch,
		MediaStorageConfiguration: &types.MediaStorageConfiguration{Status: types.MediaStorageConfigurationStatusDisabled}}))(t)
	noErr(t, enable(ch2, st))
	_, err = e.client.UpdateMediaStorageConfiguration(ctx, &kinesisvideo.UpdateMediaStorageConfigurationInput{ChannelARN: ch,
		MediaStorageConfiguration: &types.MediaStorageConfiguration{Status: "MAYBE"}})
	wantErr[*types.InvalidArgumentException](t, err)
}

func TestEdgeConfiguration(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	hub := "arn:aws:iot:eu-west-1:123456789012:thing/hub-1"
	cfg := func() *types.EdgeConfig {
		return &types.EdgeConfig{
			HubDeviceArn: aws.String(hub),
			RecorderConfig: &types.RecorderConfig{
				MediaSourceConfig: &types.MediaSourceConfig{MediaUriSecretArn: aws.String("arn:aws:secretsmanager:eu-west-1:123456789012:secret:cam"), MediaUriType: types.MediaUriTypeRtspUri},
				ScheduleConfig:    &types.ScheduleConfig{ScheduleExpression: aws.String("0 0/5 * * * ?"), DurationInSeconds: aws.Int32(60)},
			},
			UploaderConfig: &types.UploaderConfig{ScheduleConfig: &types.ScheduleConfig{ScheduleExpression: aws.String("0 0 * * * ?  "), DurationInSeconds: aws.Int32(3600)}},
			DeletionConfig: &types.DeletionConfig{EdgeRetentionInHours: aws.Int32(24), DeleteAfterUpload: aws.Bool(true),
				LocalSizeConfig: &types.LocalSizeConfig{MaxLocalMediaSizeInMB: aws.Int32(64), StrategyOnFullSize: types.StrategyOnFullSizeDeleteOldestMedia}},
		}
	}
	must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("noret")}))(t)
	for _, n := range []string{"e1", "e2", "e3"} {
		must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(n), DataRetentionInHours: aws.Int32(1)}))(t)
	}

	_, err := e.client.DescribeEdgeConfiguration(ctx, &kinesisvideo.DescribeEdgeConfigurationInput{StreamName: aws.String("e1")})
	wantErr[*types.StreamEdgeConfigurationNotFoundException](t, err)
	_, err = e.client.StartEdgeConfigurationUpdate(ctx, &kinesisvideo.StartEdgeConfigurationUpdateInput{StreamName: aws.String("noret"), EdgeConfig: cfg()})
	wantErr[*types.NoDataRetentionException](t, err)

	start := must(e.client.StartEdgeConfigurationUpdate(ctx, &kinesisvideo.StartEdgeConfigurationUpdateInput{StreamName: aws.String("e1"), EdgeConfig: cfg()}))(t)
	if start.SyncStatus != types.SyncStatusSyncing || aws.ToString(start.StreamName) != "e1" || !aws.ToTime(start.CreationTime).Equal(testEpoch) {
		t.Fatalf("start = %+v", start)
	}
	e.clock.Advance(time.Minute)
	must(e.client.StartEdgeConfigurationUpdate(ctx, &kinesisvideo.StartEdgeConfigurationUpdateInput{StreamName: aws.String("e1"), EdgeConfig: cfg()}))(t)
	d := must(e.client.DescribeEdgeConfiguration(ctx, &kinesisvideo.DescribeEdgeConfigurationInput{StreamName: aws.String("e1")}))(t)
	if !aws.ToTime(d.CreationTime).Equal(testEpoch) || !aws.ToTime(d.LastUpdatedTime).Equal(testEpoch.Add(time.Minute)) ||
		aws.ToString(d.EdgeConfig.HubDeviceArn) != hub || aws.ToInt32(d.EdgeConfig.DeletionConfig.LocalSizeConfig.MaxLocalMediaSizeInMB) != 64 ||
		aws.ToString(d.EdgeConfig.RecorderConfig.MediaSourceConfig.MediaUriSecretArn) == "" {
		t.Fatalf("describe = %+v", d)
	}
	must(e.client.StartEdgeConfigurationUpdate(ctx, &kinesisvideo.StartEdgeConfigurationUpdateInput{StreamName: aws.String("e2"), EdgeConfig: cfg()}))(t)
	other := cfg()
	other.HubDeviceArn = aws.String("arn:aws:iot:eu-west-1:123456789012:thing/hub-2")
	must(e.client.StartEdgeConfigurationUpdate(ctx, &kinesisvideo.StartEdgeConfigurationUpdateInput{StreamName: aws.String("e3"), EdgeConfig: other}))(t)

	var names []string
	p := kinesisvideo.NewListEdgeAgentConfigurationsPaginator(e.client, &kinesisvideo.ListEdgeAgentConfigurationsInput{HubDeviceArn: aws.String(hub), MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		for _, c := range must(p.NextPage(ctx))(t).EdgeConfigs {
			names = append(names, aws.ToString(c.StreamName))
		}
	}
	if len(names) != 2 || names[0] != "e1" || names[1] != "e2" {
		t.Fatalf("edge configs for hub = %v", names)
	}

	must(e.client.DeleteEdgeConfiguration(ctx, &kinesisvideo.DeleteEdgeConfigurationInput{StreamName: aws.String("e1")}))(t)
	_, err = e.client.DeleteEdgeConfiguration(ctx, &kinesisvideo.DeleteEdgeConfigurationInput{StreamName: aws.String("e1")})
	wantErr[*types.StreamEdgeConfigurationNotFoundException](t, err)
	_, err = e.client.DescribeEdgeConfiguration(ctx, &kinesisvideo.DescribeEdgeConfigurationInput{StreamName: aws.String("e1")})
	wantErr[*types.StreamEdgeConfigurationNotFoundException](t, err)

	for _, mutate := range []func(c *types.EdgeConfig){
		func(c *types.EdgeConfig) { c.HubDeviceArn = aws.String("arn:aws:iot:eu-west-1:1:hub/x") },
		func(c *types.EdgeConfig) { c.RecorderConfig.MediaSourceConfig.MediaUriType = "HTTP_URI" },
		func(c *types.EdgeConfig) { c.RecorderConfig.MediaSourceConfig.MediaUriSecretArn = aws.String("short") },
		func(c *types.EdgeConfig) { c.RecorderConfig.ScheduleConfig.DurationInSeconds = aws.Int32(59) },
		func(c *types.EdgeConfig) { c.RecorderConfig.ScheduleConfig.ScheduleExpression = aws.String("* * *") },
		func(c *types.EdgeConfig) { c.DeletionConfig.EdgeRetentionInHours = aws.Int32(721) },
		func(c *types.EdgeConfig) { c.DeletionConfig.LocalSizeConfig.MaxLocalMediaSizeInMB = aws.Int32(63) },
		func(c *types.EdgeConfig) { c.DeletionConfig.LocalSizeConfig.StrategyOnFullSize = "PANIC" },
	} {
		c := cfg()
		mutate(c)
		_, err := e.client.StartEdgeConfigurationUpdate(ctx, &kinesisvideo.StartEdgeConfigurationUpdateInput{StreamName: aws.String("e2"), EdgeConfig: c})
		wantErr[*types.InvalidArgumentException](t, err)
	}
	_, err = e.client.ListEdgeAgentConfigurations(ctx, &kinesisvideo.ListEdgeAgentConfigurationsInput{HubDeviceArn: aws.String(hub), MaxResults: aws.Int32(11)})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = e.client.ListEdgeAgentConfigurations(ctx, &kinesisvideo.ListEdgeAgentConfigurationsInput{HubDeviceArn: aws.String("not-a-thing")})
	wantErr[*types.InvalidArgumentException](t, err)
}
