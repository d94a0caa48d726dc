// Package kvswebrtc is a client for Amazon Kinesis Video Streams WebRTC:
// the signaling channel (SigV4-presigned WebSocket, endpoint discovery,
// ICE server configuration, reconnects) and a Master and a Viewer peer built
// on pion/webrtc. It speaks the KVS wire protocol, so it works against AWS
// and against openkvs alike.
//
// The usual flow is Discover (DescribeSignalingChannel, optionally
// CreateSignalingChannel, then GetSignalingChannelEndpoint for WSS and
// HTTPS), then NewSignalingClient, then either Run it and exchange
// messages yourself, or hand it to NewMaster or NewViewer, which run it:
//
//	ch, err := kvswebrtc.Discover(ctx, kinesisvideo.NewFromConfig(cfg),
//		kvswebrtc.DiscoverInput{ChannelName: "cam", Role: kvswebrtc.RoleMaster, Create: true})
//	sc, err := kvswebrtc.NewSignalingClient(kvswebrtc.SignalingConfig{
//		Channel: ch, Region: cfg.Region, Credentials: cfg.Credentials, HTTPClient: cfg.HTTPClient})
//	video, err := kvswebrtc.SampleSource(sample.H264)
//	m, err := kvswebrtc.NewMaster(kvswebrtc.MasterConfig{Signaling: sc, Video: video})
//	err = m.Run(ctx)
//
// A Master answers every viewer with its own PeerConnection and sends them
// all the same Sources (Annex-B H.264/H.265, IVF, Ogg Opus, looped or
// live); a viewer that joins gets the frames since the last key frame at
// once, and again when it sends a picture loss indication. A Viewer
// offers, receives, counts, measures the time to its first decodable frame
// and can store what it receives (CreateWriter, MKVRecorder).
//
// Wire reference: the KVS WebRTC developer guide, "WebSocket APIs"
// (https://docs.aws.amazon.com/kinesisvideostreams-webrtc-dg/latest/devguide/kvswebrtc-websocket-apis.html).
package kvswebrtc
