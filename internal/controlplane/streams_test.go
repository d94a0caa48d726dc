package controlplane

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

var versionRE = regexp.MustCompile(`^[a-zA-Z0-9]{20}$`)

func TestStreamLifecycle(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()

	created := must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{
		StreamName:           aws.String("cam-1"),
		DeviceName:           aws.String("dev-1"),
		MediaType:            aws.String("video/h264,audio/aac"),
		DataRetentionInHours: aws.Int32(24),
		Tags:                 map[string]string{"env": "test"},
	}))(t)
	wantARN := fmt.Sprintf("arn:aws:kinesisvideo:eu-west-1:123456789012:stream/cam-1/%d", testEpoch.UnixMilli())
	if got := aws.ToString(created.StreamARN); got != wantARN {
		t.Fatalf("StreamARN = %q, want %q", got, wantARN)
	}

	byName := must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-1")}))(t).StreamInfo
	byARN := must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: created.StreamARN}))(t).StreamInfo
	both := must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-1"), StreamARN: created.StreamARN}))(t).StreamInfo
	for _, info := range []*types.StreamInfo{byName, byARN, both} {
		if aws.ToString(info.StreamARN) != wantARN || aws.ToString(info.StreamName) != "cam-1" ||
			aws.ToString(info.DeviceName) != "dev-1" || aws.ToString(info.MediaType) != "video/h264,audio/aac" ||
			aws.ToInt32(info.DataRetentionInHours) != 24 || info.Status != types.StatusActive ||
			aws.ToString(info.KmsKeyId) != "arn:aws:kms:eu-west-1:123456789012:alias/aws/kinesisvideo" ||
			!aws.ToTime(info.CreationTime).Equal(testEpoch) || !versionRE.MatchString(aws.ToString(info.Version)) {
			t.Fatalf("StreamInfo = %+v", info)
		}
	}

	// A second stream of the same name is ResourceInUse.
	_, err := e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam-1")})
	wantErr[*types.ResourceInUseException](t, err)

	// UpdateStream checks the version and changes it.
	v1 := aws.ToString(byName.Version)
	_, err = e.client.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamName: aws.String("cam-1"), CurrentVersion: aws.String("stale"), MediaType: aws.String("video/h265")})
	wantErr[*types.VersionMismatchException](t, err)
	must(e.client.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamARN: created.StreamARN, CurrentVersion: aws.String(v1), MediaType: aws.String("video/h265"), DeviceName: aws.String("dev-2")}))(t)
	info := must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-1")}))(t).StreamInfo
	v2 := aws.ToString(info.Version)
	if v2 == v1 || !versionRE.MatchString(v2) || aws.ToString(info.MediaType) != "video/h265" || aws.ToString(info.DeviceName) != "dev-2" {
		t.Fatalf("after UpdateStream: %+v (old version %s)", info, v1)
	}
	_, err = e.client.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamName: aws.String("cam-1"), CurrentVersion: aws.String(v1)})
	wantErr[*types.VersionMismatchException](t, err)

	// Deleting with a stale version fails; without one it succeeds.
	_, err = e.client.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: created.StreamARN, CurrentVersion: aws.String(v1)})
	wantErr[*types.VersionMismatchException](t, err)
	must(e.client.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: created.StreamARN, CurrentVersion: aws.String(v2)}))(t)
	if len(e.deletedStreams) != 1 || e.deletedStreams[0] != wantARN {
		t.Fatalf("OnStreamDeleted saw %v", e.deletedStreams)
	}
	_, err = e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-1")})
	nf := wantErr[*types.ResourceNotFoundException](t, err)
	if nf.ErrorMessage() != msgStreamNotFound {
		t.Errorf("message = %q", nf.ErrorMessage())
	}
	_, err = e.client.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: created.StreamARN})
	wantErr[*types.ResourceNotFoundException](t, err)

	// Recreated under the same name, the stream has a new ARN; the old
	// ARN names nothing.
	e.clock.Advance(time.Second)
	again := must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam-1")}))(t)
	if aws.ToString(again.StreamARN) == wantARN {
		t.Fatal("recreated stream kept the old ARN")
	}
	_, err = e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: created.StreamARN})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = e.client.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: created.StreamARN})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = e.client.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamARN: created.StreamARN, Tags: map[string]string{"a": "b"}})
	wantErr[*types.ResourceNotFoundException](t, err)
	fresh := must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: again.StreamARN}))(t).StreamInfo
	if aws.ToInt32(fresh.DataRetentionInHours) != 0 || fresh.DeviceName != nil || fresh.MediaType != nil {
		t.Errorf("recreated stream: %+v", fresh)
	}
}

func TestUpdateDataRetention(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("s"), DataRetentionInHours: aws.Int32(10)}))(t)
	version := func() *string {
		return must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("s")}))(t).StreamInfo.Version
	}
	retention := func() int32 {
		return aws.ToInt32(must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("s")}))(t).StreamInfo.DataRetentionInHours)
	}
	update := func(op types.UpdateDataRetentionOperation, hours int32, v *string) error {
		_, err := e.client.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{
			StreamName: aws.String("s"), CurrentVersion: v, Operation: op, DataRetentionChangeInHours: aws.Int32(hours),
		})
		return err
	}
	inc, dec := types.UpdateDataRetentionOperationIncreaseDataRetention, types.UpdateDataRetentionOperationDecreaseDataRetention

	noErr(t, update(inc, 5, version()))
	if got := retention(); got != 15 {
		t.Fatalf("after +5: %d", got)
	}
	noErr(t, update(dec, 15, version()))
	if got := retention(); got != 0 {
		t.Fatalf("after -15: %d", got)
	}
	wantErr[*types.InvalidArgumentException](t, update(dec, 1, version()))
	noErr(t, update(inc, 87600, version()))
	wantErr[*types.InvalidArgumentException](t, update(inc, 1, version()))
	if got := retention(); got != 87600 {
		t.Fatalf("after failed increase: %d", got)
	}
	wantErr[*types.VersionMismatchException](t, update(dec, 1, aws.String("0123456789abcdefghij")))
	wantErr[*types.InvalidArgumentException](t, update(dec, 0, version()))
	wantErr[*types.InvalidArgumentException](t, update("SIDEWAYS", 1, version()))

	// Creation checks the same bounds.
	_, err := e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("t"), DataRetentionInHours: aws.Int32(87601)})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("t"), DataRetentionInHours: aws.Int32(-1)})
	wantErr[*types.InvalidArgumentException](t, err)
}

func TestListStreamsPagination(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	var want []string
	for _, n := range []string{"cam-3", "door-1", "cam-0", "cam-4", "door-0", "cam-1", "cam-2"} {
		must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(n)}))(t)
	}
	want = []string{"cam-0", "cam-1", "cam-2", "cam-3", "cam-4"}

	all := must(e.client.ListStreams(ctx, &kinesisvideo.ListStreamsInput{}))(t)
	if len(all.StreamInfoList) != 7 || all.NextToken != nil {
		t.Fatalf("ListStreams: %d streams, token %v", len(all.StreamInfoList), all.NextToken)
	}

	var got []string
	pages := 0
	p := kinesisvideo.NewListStreamsPaginator(e.client, &kinesisvideo.ListStreamsInput{
		MaxResults:          aws.Int32(2),
		StreamNameCondition: &types.StreamNameCondition{ComparisonOperator: types.ComparisonOperatorBeginsWith, ComparisonValue: aws.String("cam-")},
	})
	for p.HasMorePages() {
		out := must(p.NextPage(ctx))(t)
		pages++
		for _, s := range out.StreamInfoList {
			got = append(got, aws.ToString(s.StreamName))
		}
		if out.NextToken != nil && !nextTokenPattern.MatchString(*out.NextToken) {
			t.Fatalf("NextToken %q does not match the model pattern", *out.NextToken)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || pages != 3 {
		t.Fatalf("paginated names = %v in %d pages, want %v in 3", got, pages, want)
	}

	first := must(e.client.ListStreams(ctx, &kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(1)}))(t)
	tok := aws.ToString(first.NextToken)
	chTok := encodeToken(tokenChannels, "cam-0")
	for _, bad := range []string{"garbage", "Z2FyYmFnZQ==", tok[:len(tok)-4] + "AAA=", chTok} {
		_, err := e.client.ListStreams(ctx, &kinesisvideo.ListStreamsInput{NextToken: aws.String(bad)})
		wantErr[*types.InvalidArgumentException](t, err)
	}
	for _, bad := range []int32{0, 10001} {
		_, err := e.client.ListStreams(ctx, &kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(bad)})
		wantErr[*types.InvalidArgumentException](t, err)
	}
	_, err := e.client.ListStreams(ctx, &kinesisvideo.ListStreamsInput{StreamNameCondition: &types.StreamNameCondition{ComparisonOperator: "ENDS_WITH", ComparisonValue: aws.String("x")}})
	wantErr[*types.InvalidArgumentException](t, err)
}

func TestStreamTags(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	arn := must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("s"), Tags: map[string]string{"a": "1"}}))(t).StreamARN

	must(e.client.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String("s"), Tags: map[string]string{"b": "2", "a": "one", "empty": ""}}))(t)
	tags := must(e.client.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamARN: arn}))(t).Tags
	if fmt.Sprint(tags) != "map[a:one b:2 empty:]" {
		t.Fatalf("tags = %v", tags)
	}
	must(e.client.UntagStream(ctx, &kinesisvideo.UntagStreamInput{StreamARN: arn, TagKeyList: []string{"a", "missing"}}))(t)
	tags = must(e.client.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("s")}))(t).Tags
	if fmt.Sprint(tags) != "map[b:2 empty:]" {
		t.Fatalf("tags after untag = %v", tags)
	}

	// 50 tags in all is the limit, whether in one call or accumulated.
	many := map[string]string{}
	for i := range 48 {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	must(e.client.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String("s"), Tags: many}))(t)
	_, err := e.client.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String("s"), Tags: map[string]string{"one-too-many": "v"}})
	wantErr[*types.TagsPerResourceExceededLimitException](t, err)
	many["k48"], many["k49"], many["k50"] = "v", "v", "v"
	_, err = e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("t"), Tags: many})
	wantErr[*types.TagsPerResourceExceededLimitException](t, err)
	if got := len(must(e.client.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("s")}))(t).Tags); got != 50 {
		t.Fatalf("%d tags, want 50", got)
	}

	for _, bad := range []map[string]string{{"": "v"}, {"k": "bad\x00value"}, {strings.Repeat("k", 129): "v"}, {"k*": "v"}} {
		_, err = e.client.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String("s"), Tags: bad})
		wantErr[*types.InvalidArgumentException](t, err)
	}
	_, err = e.client.UntagStream(ctx, &kinesisvideo.UntagStreamInput{StreamName: aws.String("s"), TagKeyList: []string{}})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = e.client.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("s"), NextToken: aws.String("abc")})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = e.client.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("nope")})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func TestStreamValidation(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	cases := []struct {
		name string
		in   *kinesisvideo.CreateStreamInput
		msg  string
	}{
		{"bad name", &kinesisvideo.CreateStreamInput{StreamName: aws.String("bad name!")},
			"1 validation error detected: Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"},
		{"empty name", &kinesisvideo.CreateStreamInput{StreamName: aws.String("")},
			"Member must have length greater than or equal to 1"},
		{"long name", &kinesisvideo.CreateStreamInput{StreamName: aws.String(strings.Repeat("a", 257))},
			"Member must have length less than or equal to 256"},
		{"long device", &kinesisvideo.CreateStreamInput{StreamName: aws.String("s"), DeviceName: aws.String(strings.Repeat("d", 129))},
			"at 'deviceName'"},
		{"media type", &kinesisvideo.CreateStreamInput{StreamName: aws.String("s"), MediaType: aws.String("h264")},
			"at 'mediaType'"},
		{"kms key", &kinesisvideo.CreateStreamInput{StreamName: aws.String("s"), KmsKeyId: aws.String(strings.Repeat("k", 2049))},
			"at 'kmsKeyId'"},
		{"storage tier", &kinesisvideo.CreateStreamInput{StreamName: aws.String("s"), StreamStorageConfiguration: &types.StreamStorageConfiguration{DefaultStorageTier: "COLD"}},
			"Member must satisfy enum value set: [HOT, WARM]"},
		{"two errors", &kinesisvideo.CreateStreamInput{StreamName: aws.String("a b"), DeviceName: aws.String("c d")},
			"2 validation errors detected: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.client.CreateStream(ctx, c.in)
			ia := wantErr[*types.InvalidArgumentException](t, err)
			if !strings.Contains(ia.ErrorMessage(), c.msg) {
				t.Errorf("message %q lacks %q", ia.ErrorMessage(), c.msg)
			}
		})
	}

	// Custom KMS key ids are kept.
	must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("k"), KmsKeyId: aws.String("alias/mine")}))(t)
	if got := aws.ToString(must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("k")}))(t).StreamInfo.KmsKeyId); got != "alias/mine" {
		t.Errorf("KmsKeyId = %q", got)
	}

	// ARNs: malformed, of another type, or naming another stream.
	for _, bad := range []string{
		"not-an-arn",
		"arn:aws:kinesisvideo:eu-west-1:123456789012:stream/k",
		"arn:aws:kinesisvideo:eu-west-1:123456789012:channel/k/1",
	} {
		_, err := e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: aws.String(bad)})
		wantErr[*types.InvalidArgumentException](t, err)
	}
	_, err := e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: aws.String("arn:aws:kinesisvideo:eu-west-1:123456789012:stream/k/1")})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{})
	wantErr[*types.InvalidArgumentException](t, err)
}

func TestAccountLimitsAndActivation(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.MaxStreams, c.MaxChannels = 2, 1
		c.ActivationDelay = 5 * time.Second
	})
	ctx := context.Background()
	must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("a")}))(t)
	must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("b")}))(t)
	_, err := e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("c")})
	wantErr[*types.AccountStreamLimitExceededException](t, err)
	must(e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("a")}))(t)
	_, err = e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("b")})
	wantErr[*types.AccountChannelLimitExceededException](t, err)

	// During the activation delay resources are CREATING and cannot be
	// changed; afterwards they are ACTIVE.
	info := must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("a")}))(t).StreamInfo
	if info.Status != types.StatusCreating {
		t.Fatalf("status = %s, want CREATING", info.Status)
	}
	ch := must(e.client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("a")}))(t).ChannelInfo
	if ch.ChannelStatus != types.StatusCreating {
		t.Fatalf("channel status = %s, want CREATING", ch.ChannelStatus)
	}
	_, err = e.client.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamName: aws.String("a"), CurrentVersion: info.Version, DeviceName: aws.String("d")})
	wantErr[*types.ResourceInUseException](t, err)
	_, err = e.client.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{ChannelARN: ch.ChannelARN})
	wantErr[*types.ResourceInUseException](t, err)

	e.clock.Advance(5 * time.Second)
	info = must(e.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("a")}))(t).StreamInfo
	if info.Status != types.StatusActive {
		t.Fatalf("status = %s, want ACTIVE", info.Status)
	}
	must(e.client.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamName: aws.String("a"), CurrentVersion: info.Version, DeviceName: aws.String("d")}))(t)
}
