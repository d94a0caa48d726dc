package kvswebrtc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// Role is the part a client plays on a signaling channel.
type Role string

// The two roles of a SINGLE_MASTER channel.
const (
	RoleMaster Role = "MASTER"
	RoleViewer Role = "VIEWER"
)

// ControlPlane is the part of the kinesisvideo API endpoint discovery
// calls; *kinesisvideo.Client implements it.
type ControlPlane interface {
	DescribeSignalingChannel(ctx context.Context, in *kinesisvideo.DescribeSignalingChannelInput, opts ...func(*kinesisvideo.Options)) (*kinesisvideo.DescribeSignalingChannelOutput, error)
	CreateSignalingChannel(ctx context.Context, in *kinesisvideo.CreateSignalingChannelInput, opts ...func(*kinesisvideo.Options)) (*kinesisvideo.CreateSignalingChannelOutput, error)
	GetSignalingChannelEndpoint(ctx context.Context, in *kinesisvideo.GetSignalingChannelEndpointInput, opts ...func(*kinesisvideo.Options)) (*kinesisvideo.GetSignalingChannelEndpointOutput, error)
}

// Channel is a signaling channel with the endpoints one role uses.
type Channel struct {
	// Name and ARN identify the channel.
	Name, ARN string
	// Role is the role the endpoints were asked for.
	Role Role
	// WSSEndpoint is the WebSocket endpoint (wss://host, or ws:// against
	// a plain-HTTP openkvs).
	WSSEndpoint string
	// HTTPSEndpoint serves GetIceServerConfig.
	HTTPSEndpoint string
	// MessageTTL is how long the service keeps undelivered messages.
	MessageTTL time.Duration
}

// DiscoverInput names the channel to discover.
type DiscoverInput struct {
	// ChannelName or ChannelARN names the channel; the ARN wins if both
	// are set.
	ChannelName, ChannelARN string
	// Role is RoleMaster or RoleViewer.
	Role Role
	// Create creates the channel (SINGLE_MASTER, default TTL) when it does
	// not exist. Needs ChannelName.
	Create bool
}

// ErrChannelNotActive reports a channel that is being created or deleted.
var ErrChannelNotActive = errors.New("kvswebrtc: channel is not active")

// Discover resolves a channel's ARN and signaling endpoints as the KVS SDKs
// do: DescribeSignalingChannel (CreateSignalingChannel when asked and
// missing), then GetSignalingChannelEndpoint for WSS and HTTPS.
func Discover(ctx context.Context, cp ControlPlane, in DiscoverInput) (*Channel, error) {
	if in.Role != RoleMaster && in.Role != RoleViewer {
		return nil, fmt.Errorf("kvswebrtc: role %q is not MASTER or VIEWER", in.Role)
	}
	desc := &kinesisvideo.DescribeSignalingChannelInput{}
	switch {
	case in.ChannelARN != "":
		desc.ChannelARN = aws.String(in.ChannelARN)
	case in.ChannelName != "":
		desc.ChannelName = aws.String(in.ChannelName)
	default:
		return nil, errors.New("kvswebrtc: no channel name or ARN")
	}
	var info *types.ChannelInfo
	out, err := cp.DescribeSignalingChannel(ctx, desc)
	var nf *types.ResourceNotFoundException
	switch {
	case err == nil:
		info = out.ChannelInfo
	case errors.As(err, &nf) && in.Create && in.ChannelARN == "":
		cr, cerr := cp.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{
			ChannelName: aws.String(in.ChannelName),
			ChannelType: types.ChannelTypeSingleMaster,
		})
		var inUse *types.ResourceInUseException
		switch {
		case errors.As(cerr, &inUse):
			// Created meanwhile by someone else (a viewer and a master
			// started together): use theirs.
			out, err = cp.DescribeSignalingChannel(ctx, desc)
		case cerr != nil:
			return nil, fmt.Errorf("create signaling channel %s: %w", in.ChannelName, cerr)
		default:
			out, err = cp.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: cr.ChannelARN})
		}
		if err != nil {
			return nil, fmt.Errorf("describe signaling channel: %w", err)
		}
		info = out.ChannelInfo
	default:
		return nil, fmt.Errorf("describe signaling channel: %w", err)
	}
	if info == nil || info.ChannelARN == nil {
		return nil, errors.New("kvswebrtc: DescribeSignalingChannel returned no channel")
	}
	if info.ChannelStatus == types.StatusDeleting {
		return nil, fmt.Errorf("%w: %s is %s", ErrChannelNotActive, aws.ToString(info.ChannelName), info.ChannelStatus)
	}
	ch := &Channel{Name: aws.ToString(info.ChannelName), ARN: aws.ToString(info.ChannelARN), Role: in.Role, MessageTTL: 60 * time.Second}
	if c := info.SingleMasterConfiguration; c != nil && c.MessageTtlSeconds != nil {
		ch.MessageTTL = time.Duration(*c.MessageTtlSeconds) * time.Second
	}
	ep, err := cp.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{
		ChannelARN: aws.String(ch.ARN),
		SingleMasterChannelEndpointConfiguration: &types.SingleMasterChannelEndpointConfiguration{
			Protocols: []types.ChannelProtocol{types.ChannelProtocolWss, types.ChannelProtocolHttps},
			Role:      types.ChannelRole(in.Role),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("get signaling channel endpoint: %w", err)
	}
	for _, e := range ep.ResourceEndpointList {
		switch strings.ToUpper(string(e.Protocol)) {
		case "WSS":
			ch.WSSEndpoint = aws.ToString(e.ResourceEndpoint)
		case "HTTPS":
			ch.HTTPSEndpoint = aws.ToString(e.ResourceEndpoint)
		}
	}
	if ch.WSSEndpoint == "" || ch.HTTPSEndpoint == "" {
		return nil, fmt.Errorf("kvswebrtc: GetSignalingChannelEndpoint returned no WSS or no HTTPS endpoint for %s", ch.ARN)
	}
	return ch, nil
}

// NewControlPlane returns the kinesisvideo client for cfg (a convenience
// for callers that have an aws.Config).
func NewControlPlane(cfg aws.Config) *kinesisvideo.Client {
	return kinesisvideo.NewFromConfig(cfg)
}
