// Package kvswebrtc is a client for Amazon Kinesis Video Streams WebRTC:
// the signaling channel (SigV4-presigned WebSocket, endpoint discovery,
// ICE server configuration, reconnects) and a Master and a Viewer peer built
// on pion/webrtc. It speaks the KVS wire protocol, so it works against AWS
// and against openkvs alike.
//
// The usual flow is Discover (DescribeSignalingChannel, optionally
// CreateSignalingChannel, then GetSignalingChannelEndpoint), then
// NewSignalingClient and Run, or NewMaster / NewViewer, which do all of it.
//
// Wire reference: the KVS WebRTC developer guide, "WebSocket APIs"
// (https://docs.aws.amazon.com/kinesisvideostreams-webrtc-dg/latest/devguide/kvswebrtc-websocket-apis.html).
package kvswebrtc
