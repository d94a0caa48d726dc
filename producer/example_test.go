package producer_test

import (
	"context"
	"log"
	"os"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/openkvs/openkvs/media/h26x"
	"github.com/openkvs/openkvs/media/mkv"
	"github.com/openkvs/openkvs/producer"
)

// Stream a raw H.264 file to the stream cam1 at 25 fps. The endpoint,
// region and credentials come from the standard AWS environment
// (AWS_ENDPOINT_URL pointing at openkvs, AWS_REGION, AWS_ACCESS_KEY_ID,
// ...).
func ExampleStart() {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	raw, err := os.ReadFile("camera.h264")
	if err != nil {
		log.Fatal(err)
	}
	p, err := producer.Start(ctx, producer.Config{
		AWS:        cfg,
		StreamName: "cam1",
		Tracks: []producer.Track{{
			Track:  mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: producer.CodecH264},
			AnnexB: true,
		}},
		Offline: true, // a file: wait for the network rather than drop
		OnDrop:  func(d producer.Drop) { log.Printf("dropped %d frames: %s", d.Frames, d.Reason) },
	})
	if err != nil {
		log.Fatal(err)
	}
	for i, au := range producer.AccessUnits(h26x.H264, raw) {
		pts := time.Duration(i) * time.Second / 25
		if err := p.PutFrame(ctx, producer.Frame{Track: 1, PTS: pts, Data: au}); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil { // waits until every fragment is PERSISTED
		log.Fatal(err)
	}
	log.Printf("%+v", p.Stats())
}
