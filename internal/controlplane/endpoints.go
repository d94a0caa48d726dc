package controlplane

import (
	"context"
	"net/http"
	"slices"

	"github.com/openkvs/openkvs/internal/catalog"
)

// apiNames is the APIName enum of GetDataEndpoint.
var apiNames = []string{
	"PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
	"GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL", "GET_CLIP", "GET_IMAGES",
}

type getDataEndpointInput struct {
	streamRef
	APIName *string `json:"APIName"`
}

type getDataEndpointOutput struct {
	DataEndpoint string `json:"DataEndpoint"`
}

// getDataEndpoint serves GetDataEndpoint. Every APIName is served by this
// server, so the answer is the same base URL for all of them.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_GetDataEndpoint.html
func (s *Service) getDataEndpoint(ctx context.Context, r *http.Request, in *getDataEndpointInput) (any, error) {
	var v validator
	in.validate(&v)
	if v.required("aPIName", in.APIName != nil) {
		v.enum("aPIName", in.APIName, apiNames...)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.getStream(ctx, &in.streamRef)
	if err != nil {
		return nil, err
	}
	if s.status(st.Status, st.CreationTime) != catalog.StatusActive {
		return nil, errStreamNotFound()
	}
	return getDataEndpointOutput{DataEndpoint: s.endpoints.DataEndpoint(r)}, nil
}

// singleMasterChannelEndpointConfiguration is the
// SingleMasterChannelEndpointConfiguration shape.
type singleMasterChannelEndpointConfiguration struct {
	Protocols []string `json:"Protocols"`
	Role      *string  `json:"Role"`
}

type getSignalingChannelEndpointInput struct {
	ChannelARN                               *string                                   `json:"ChannelARN"`
	SingleMasterChannelEndpointConfiguration *singleMasterChannelEndpointConfiguration `json:"SingleMasterChannelEndpointConfiguration"`
}

type resourceEndpointListItem struct {
	Protocol         string `json:"Protocol"`
	ResourceEndpoint string `json:"ResourceEndpoint"`
}

type getSignalingChannelEndpointOutput struct {
	ResourceEndpointList []resourceEndpointListItem `json:"ResourceEndpointList"`
}

// getSignalingChannelEndpoint serves GetSignalingChannelEndpoint: one entry
// per distinct requested protocol, in request order; WSS is the signaling
// WebSocket URL, HTTPS and WEBRTC the signaling HTTPS URL. With no
// protocols requested (the model leaves it optional) it answers WSS and
// HTTPS, the pair every WebRTC SDK needs. Role does not change the answer.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_GetSignalingChannelEndpoint.html
func (s *Service) getSignalingChannelEndpoint(ctx context.Context, r *http.Request, in *getSignalingChannelEndpointInput) (any, error) {
	var v validator
	if v.required("channelARN", in.ChannelARN != nil) {
		v.resourceARN("channelARN", in.ChannelARN)
	}
	protocols := []string{"WSS", "HTTPS"}
	if cfg := in.SingleMasterChannelEndpointConfiguration; cfg != nil {
		const path = "singleMasterChannelEndpointConfiguration"
		if cfg.Protocols != nil {
			v.count(path+".protocols", len(cfg.Protocols), 1, 5, "["+joinComma(cfg.Protocols)+"]")
			for i := range cfg.Protocols {
				v.enum(path+".protocols."+itoa(i+1)+".member", &cfg.Protocols[i], "WSS", "HTTPS", "WEBRTC")
			}
			protocols = cfg.Protocols
		}
		v.enum(path+".role", cfg.Role, "MASTER", "VIEWER")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	c, err := s.getChannel(ctx, &channelRef{ChannelARN: in.ChannelARN})
	if err != nil {
		return nil, err
	}
	switch status := s.status(c.Status, c.CreationTime); status {
	case catalog.StatusActive:
	case catalog.StatusDeleting:
		return nil, errChannelNotFound()
	default:
		return nil, errChannelNotActive(status)
	}
	wss, https := s.endpoints.SignalingEndpoints(r)
	out := getSignalingChannelEndpointOutput{ResourceEndpointList: []resourceEndpointListItem{}}
	var seen []string
	for _, p := range protocols {
		if slices.Contains(seen, p) {
			continue
		}
		seen = append(seen, p)
		ep := https
		if p == "WSS" {
			ep = wss
		}
		out.ResourceEndpointList = append(out.ResourceEndpointList, resourceEndpointListItem{Protocol: p, ResourceEndpoint: ep})
	}
	return out, nil
}
