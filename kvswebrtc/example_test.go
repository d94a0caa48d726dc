package kvswebrtc_test

import (
	"context"
	"fmt"
	"log"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/kvswebrtc"
	"github.com/openkvs/openkvs/kvswebrtc/sample"
)

// A master streaming the built-in H.264 and Opus loops to every viewer of
// channel "cam" (created if missing), with the AWS configuration from the
// environment: against AWS, or against openkvs with AWS_ENDPOINT_URL.
func ExampleNewMaster() {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	ch, err := kvswebrtc.Discover(ctx, kinesisvideo.NewFromConfig(cfg),
		kvswebrtc.DiscoverInput{ChannelName: "cam", Role: kvswebrtc.RoleMaster, Create: true})
	if err != nil {
		log.Fatal(err)
	}
	sc, err := kvswebrtc.NewSignalingClient(kvswebrtc.SignalingConfig{
		Channel: ch, Region: cfg.Region, Credentials: cfg.Credentials, HTTPClient: cfg.HTTPClient,
	})
	if err != nil {
		log.Fatal(err)
	}
	video, err := kvswebrtc.SampleSource(sample.H264)
	if err != nil {
		log.Fatal(err)
	}
	audio, err := kvswebrtc.SampleSource(sample.Opus)
	if err != nil {
		log.Fatal(err)
	}
	m, err := kvswebrtc.NewMaster(kvswebrtc.MasterConfig{Signaling: sc, Video: video, Audio: audio})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(m.Run(ctx))
}

// A viewer that waits for its first frame and prints how long it took.
func ExampleNewViewer() {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	ch, err := kvswebrtc.Discover(ctx, kinesisvideo.NewFromConfig(cfg),
		kvswebrtc.DiscoverInput{ChannelName: "cam", Role: kvswebrtc.RoleViewer})
	if err != nil {
		log.Fatal(err)
	}
	sc, err := kvswebrtc.NewSignalingClient(kvswebrtc.SignalingConfig{
		Channel: ch, ClientID: "viewer-1", Region: cfg.Region, Credentials: cfg.Credentials, HTTPClient: cfg.HTTPClient,
	})
	if err != nil {
		log.Fatal(err)
	}
	v, err := kvswebrtc.NewViewer(kvswebrtc.ViewerConfig{Signaling: sc, MaxFrames: 100})
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		<-v.FirstFrame()
		fmt.Println("first frame after", v.Stats().TimeToFirstFrame())
	}()
	if err := v.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
