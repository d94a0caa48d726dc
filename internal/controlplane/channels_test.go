package controlplane

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

func TestChannelLifecycle(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()

	arn := must(e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{
		ChannelName: aws.String("door"),
		Tags:        []types.Tag{{Key: aws.String("site"), Value: aws.String("hq")}},
	}))(t).ChannelARN
	wantARN := fmt.Sprintf("arn:aws:kinesisvideo:eu-west-1:123456789012:channel/door/%d", testEpoch.UnixMilli())
	if aws.ToString(arn) != wantARN {
		t.Fatalf("ChannelARN = %q, want %q", aws.ToString(arn), wantARN)
	}
	_, err := e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("door")})
	wantErr[*types.ResourceInUseException](t, err)

	byName := must(e.client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("door")}))(t).ChannelInfo
	byARN := must(e.client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: arn}))(t).ChannelInfo
	for _, c := range []*types.ChannelInfo{byName, byARN} {
		if aws.ToString(c.ChannelARN) != wantARN || aws.ToString(c.ChannelName) != "door" || c.ChannelType != types.ChannelTypeSingleMaster ||
			c.ChannelStatus != types.StatusActive || aws.ToInt32(c.SingleMasterConfiguration.MessageTtlSeconds) != 60 ||
			!aws.ToTime(c.CreationTime).Equal(testEpoch) || !versionRE.MatchString(aws.ToString(c.Version)) {
			t.Fatalf("ChannelInfo = %+v", c)
		}
	}
	_, err = e.client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("other"), ChannelARN: arn})
	wantErr[*types.InvalidArgumentException](t, err)

	// Update checks and changes the version.
	v1 := byName.Version
	_, err = e.client.UpdateSignalingChannel(ctx, &kinesisvideo.UpdateSignalingChannelInput{ChannelARN: arn, CurrentVersion: aws.String("old"),
		SingleMasterConfiguration: &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(30)}})
	wantErr[*types.VersionMismatchException](t, err)
	_, err = e.client.UpdateSignalingChannel(ctx, &kinesisvideo.UpdateSignalingChannelInput{ChannelARN: arn, CurrentVersion: v1,
		SingleMasterConfiguration: &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(121)}})
	wantErr[*types.InvalidArgumentException](t, err)
	must(e.client.UpdateSignalingChannel(ctx, &kinesisvideo.UpdateSignalingChannelInput{ChannelARN: arn, CurrentVersion: v1,
		SingleMasterConfiguration: &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(30)}}))(t)
	c := must(e.client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: arn}))(t).ChannelInfo
	if aws.ToInt32(c.SingleMasterConfiguration.MessageTtlSeconds) != 30 || aws.ToString(c.Version) == aws.ToString(v1) {
		t.Fatalf("after update: %+v", c)
	}

	_, err = e.client.DeleteSignalingChannel(ctx, &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: arn, CurrentVersion: v1})
	wantErr[*types.VersionMismatchException](t, err)
	must(e.client.DeleteSignalingChannel(ctx, &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: arn}))(t)
	if len(e.deletedChannels) != 1 || e.deletedChannels[0] != wantARN {
		t.Fatalf("OnChannelDeleted saw %v", e.deletedChannels)
	}
	_, err = e.client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: arn})
	nf := wantErr[*types.ResourceNotFoundException](t, err)
	if nf.ErrorMessage() != msgChannelNotFound {
		t.Errorf("message = %q", nf.ErrorMessage())
	}
	_, err = e.client.DeleteSignalingChannel(ctx, &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: arn})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func TestChannelValidation(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	for _, in := range []*kinesisvideo.CreateSignalingChannelInput{
		{ChannelName: aws.String("a/b")},
		{ChannelName: aws.String(strings.Repeat("c", 257))},
		{ChannelName: aws.String("c"), ChannelType: "STAR"},
		{ChannelName: aws.String("c"), SingleMasterConfiguration: &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(4)}},
		{ChannelName: aws.String("c"), Tags: []types.Tag{{Key: aws.String(""), Value: aws.String("v")}}},
	} {
		_, err := e.client.CreateSignalingChannel(ctx, in)
		wantErr[*types.InvalidArgumentException](t, err)
	}
	var tags []types.Tag
	for i := range 51 {
		tags = append(tags, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
	}
	_, err := e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("c"), Tags: tags})
	wantErr[*types.TagsPerResourceExceededLimitException](t, err)

	must(e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{
		ChannelName: aws.String("mesh"), ChannelType: types.ChannelTypeFullMesh,
		SingleMasterConfiguration: &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(5)},
	}))(t)
	c := must(e.client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("mesh")}))(t).ChannelInfo
	if c.ChannelType != types.ChannelTypeFullMesh || aws.ToInt32(c.SingleMasterConfiguration.MessageTtlSeconds) != 5 {
		t.Fatalf("ChannelInfo = %+v", c)
	}
	_, err = e.client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = e.client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: aws.String("arn:aws:kinesisvideo:eu-west-1:123456789012:stream/mesh/1")})
	wantErr[*types.InvalidArgumentException](t, err)
}

func TestListSignalingChannels(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	for i := range 5 {
		must(e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String(fmt.Sprint("ch-", i))}))(t)
	}
	must(e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("other")}))(t)

	var got []string
	p := kinesisvideo.NewListSignalingChannelsPaginator(e.client, &kinesisvideo.ListSignalingChannelsInput{
		MaxResults:           aws.Int32(2),
		ChannelNameCondition: &types.ChannelNameCondition{ComparisonOperator: types.ComparisonOperatorBeginsWith, ComparisonValue: aws.String("ch-")},
	})
	for p.HasMorePages() {
		for _, c := range must(p.NextPage(ctx))(t).ChannelInfoList {
			got = append(got, aws.ToString(c.ChannelName))
		}
	}
	if strings.Join(got, ",") != "ch-0,ch-1,ch-2,ch-3,ch-4" {
		t.Fatalf("names = %v", got)
	}
	if n := len(must(e.client.ListSignalingChannels(ctx, &kinesisvideo.ListSignalingChannelsInput{}))(t).ChannelInfoList); n != 6 {
		t.Fatalf("%d channels, want 6", n)
	}
	_, err := e.client.ListSignalingChannels(ctx, &kinesisvideo.ListSignalingChannelsInput{NextToken: aws.String(encodeToken(tokenStreams, "ch-1"))})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = e.client.ListSignalingChannels(ctx, &kinesisvideo.ListSignalingChannelsInput{NextToken: aws.String("not a token!")})
	wantErr[*types.InvalidArgumentException](t, err)
}

func TestResourceTags(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	chARN := must(e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{
		ChannelName: aws.String("c"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}},
	}))(t).ChannelARN
	stARN := must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("s")}))(t).StreamARN

	for _, arn := range []*string{chARN, stARN} {
		must(e.client.TagResource(ctx, &kinesisvideo.TagResourceInput{ResourceARN: arn, Tags: []types.Tag{
			{Key: aws.String("b"), Value: aws.String("2")}, {Key: aws.String("c"), Value: aws.String("3")},
		}}))(t)
		must(e.client.UntagResource(ctx, &kinesisvideo.UntagResourceInput{ResourceARN: arn, TagKeyList: []string{"c"}}))(t)
	}
	if got := fmt.Sprint(must(e.client.ListTagsForResource(ctx, &kinesisvideo.ListTagsForResourceInput{ResourceARN: chARN}))(t).Tags); got != "map[a:1 b:2]" {
		t.Errorf("channel tags = %s", got)
	}
	if got := fmt.Sprint(must(e.client.ListTagsForResource(ctx, &kinesisvideo.ListTagsForResourceInput{ResourceARN: stARN}))(t).Tags); got != "map[b:2]" {
		t.Errorf("stream tags = %s", got)
	}
	// Stream tags are one set, whichever operation touches them.
	if got := fmt.Sprint(must(e.client.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamARN: stARN}))(t).Tags); got != "map[b:2]" {
		t.Errorf("ListTagsForStream = %s", got)
	}

	var many []types.Tag
	for i := range 49 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("")})
	}
	_, err := e.client.TagResource(ctx, &kinesisvideo.TagResourceInput{ResourceARN: chARN, Tags: many})
	wantErr[*types.TagsPerResourceExceededLimitException](t, err)

	missing := "arn:aws:kinesisvideo:eu-west-1:123456789012:channel/none/1"
	_, err = e.client.ListTagsForResource(ctx, &kinesisvideo.ListTagsForResourceInput{ResourceARN: &missing})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = e.client.TagResource(ctx, &kinesisvideo.TagResourceInput{ResourceARN: &missing, Tags: many[:1]})
	wantErr[*types.ResourceNotFoundException](t, err)
	other := "arn:aws:kinesisvideo:eu-west-1:123456789012:thing/c/1"
	_, err = e.client.ListTagsForResource(ctx, &kinesisvideo.ListTagsForResourceInput{ResourceARN: &other})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = e.client.ListTagsForResource(ctx, &kinesisvideo.ListTagsForResourceInput{ResourceARN: aws.String("arn:nope")})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = e.client.TagResource(ctx, &kinesisvideo.TagResourceInput{ResourceARN: chARN, Tags: []types.Tag{}})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = e.client.UntagResource(ctx, &kinesisvideo.UntagResourceInput{ResourceARN: chARN, TagKeyList: []string{strings.Repeat("k", 129)}})
	wantErr[*types.InvalidArgumentException](t, err)
}

func TestEndpoints(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	stARN := must(e.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("s")}))(t).StreamARN
	chARN := must(e.client.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("c")}))(t).ChannelARN
	host := strings.TrimPrefix(e.srv.URL, "http://")

	for _, api := range types.APIName("").Values() {
		out := must(e.client.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("s"), APIName: api}))(t)
		if got := aws.ToString(out.DataEndpoint); got != "https://"+host {
			t.Errorf("%s: DataEndpoint = %q", api, got)
		}
	}
	must(e.client.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamARN: stARN, APIName: types.APINamePutMedia}))(t)
	_, err := e.client.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("none"), APIName: types.APINamePutMedia})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = e.client.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("s"), APIName: "PUT_EVERYTHING"})
	wantErr[*types.InvalidArgumentException](t, err)

	cases := []struct {
		cfg  *types.SingleMasterChannelEndpointConfiguration
		want string
	}{
		{nil, "WSS=wss://H HTTPS=https://H"},
		{&types.SingleMasterChannelEndpointConfiguration{Role: types.ChannelRoleViewer}, "WSS=wss://H HTTPS=https://H"},
		{&types.SingleMasterChannelEndpointConfiguration{Protocols: []types.ChannelProtocol{"WSS", "HTTPS"}, Role: "MASTER"}, "WSS=wss://H HTTPS=https://H"},
		{&types.SingleMasterChannelEndpointConfiguration{Protocols: []types.ChannelProtocol{"HTTPS", "WSS", "WEBRTC"}, Role: "VIEWER"}, "HTTPS=https://H WSS=wss://H WEBRTC=https://H"},
		{&types.SingleMasterChannelEndpointConfiguration{Protocols: []types.ChannelProtocol{"WSS", "WSS"}, Role: "MASTER"}, "WSS=wss://H"},
		{&types.SingleMasterChannelEndpointConfiguration{Protocols: []types.ChannelProtocol{"WEBRTC"}, Role: "MASTER"}, "WEBRTC=https://H"},
	}
	for _, c := range cases {
		out := must(e.client.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{ChannelARN: chARN, SingleMasterChannelEndpointConfiguration: c.cfg}))(t)
		var got []string
		for _, ep := range out.ResourceEndpointList {
			got = append(got, string(ep.Protocol)+"="+strings.ReplaceAll(aws.ToString(ep.ResourceEndpoint), host, "H"))
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%+v: endpoints %v, want %s", c.cfg, got, c.want)
		}
	}
	for _, cfg := range []*types.SingleMasterChannelEndpointConfiguration{
		{Protocols: []types.ChannelProtocol{"FTP"}},
		{Protocols: []types.ChannelProtocol{"WSS"}, Role: "BOSS"},
		{Protocols: []types.ChannelProtocol{"WSS", "WSS", "WSS", "WSS", "WSS", "WSS"}},
	} {
		_, err := e.client.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{ChannelARN: chARN, SingleMasterChannelEndpointConfiguration: cfg})
		wantErr[*types.InvalidArgumentException](t, err)
	}
	_, err = e.client.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{ChannelARN: aws.String("arn:aws:kinesisvideo:eu-west-1:123456789012:channel/c/1")})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = e.client.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{ChannelARN: stARN})
	wantErr[*types.InvalidArgumentException](t, err)
}
