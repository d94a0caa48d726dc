// Package producer streams video to Kinesis Video Streams (or openkvs) the
// way the KVS producer SDKs do: frames go in, fragments are cut at key
// frames and sent as one Matroska stream over a long PutMedia request,
// and each fragment is kept until the service acknowledges it PERSISTED.
//
// A Producer discovers the PUT_MEDIA data endpoint with GetDataEndpoint,
// signs PutMedia with SigV4 as the KVS producer SDKs do (the streaming body
// counts as empty), reads the newline-separated JSON ack stream
// (BUFFERING, RECEIVED, PERSISTED, ERROR, IDLE; kvs-api.md §3.2) and, after
// a connection loss or a server restart, reconnects with exponential
// backoff and resends every fragment not yet PERSISTED, oldest first, in a
// fresh Matroska document. Fragments are identified by their Cluster
// timecode (milliseconds since the Unix epoch, ABSOLUTE timecodes), which
// is the FragmentTimecode of their acks. Before resending fragments that
// went out on a lost connection without a PERSISTED ack, the producer
// looks them up with ListFragments and skips those the service already
// stored, so that a crash between storing and acknowledging does not
// store a fragment twice.
//
// The buffer is bounded by duration and bytes. When it is full, the oldest
// fragments not in flight are dropped (never the one being sent); frames
// that cannot be kept are dropped until the next key frame. Drops, ack
// events, connection errors and latency pressure are reported through
// callbacks in Config, and counters through Stats. In offline mode
// (Config.Offline, for files) PutFrame waits for room instead of dropping.
//
// A minimal producer of H.264 Annex-B frames:
//
//	p, err := producer.Start(ctx, producer.Config{
//		AWS:        awsCfg, // region, credentials, control-plane endpoint
//		StreamName: "cam1",
//		Tracks: []producer.Track{{
//			Track:  mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: "V_MPEG4/ISO/AVC"},
//			AnnexB: true, // frames are Annex-B; codec private data comes from the SPS/PPS
//		}},
//	})
//	...
//	err = p.PutFrame(ctx, producer.Frame{Track: 1, PTS: pts, Data: accessUnit})
//	...
//	err = p.Close(ctx) // flush: waits until every fragment is PERSISTED
package producer
