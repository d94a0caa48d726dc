package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/spf13/cobra"

	"github.com/openkvs/openkvs/kvswebrtc"
)

type viewerOptions struct {
	webrtcFlags
	clientID string
	codec    string
	out      string
	outAudio string
	noAudio  bool
	noData   bool
	frames   uint64
}

func newViewerCmd(s streams) *cobra.Command {
	var o viewerOptions
	cmd := &cobra.Command{
		Use:   "viewer CHANNEL",
		Short: "Receive a signaling channel's master as a WebRTC viewer",
		Long: `viewer connects to a signaling channel (name or ARN) as a VIEWER, sends its
offer to the master, receives video and audio, prints the time to the first
frame and statistics, and optionally stores what it receives: --out takes
.mkv (video and audio in Matroska), .h264, .h265 or .ivf (VP8) for video,
--out-audio .ogg for audio. The video codec offered follows --out's
extension (.mkv: any of H.264, H.265, VP8) or --codec.

It exits with an error if no video frame arrived before --duration (or
--frames) ends, so it doubles as a check that a master is streaming.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runViewer(cmd.Context(), s, args[0], o)
		},
	}
	o.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.clientID, "client-id", "", "X-Amz-ClientId (default: a random viewer-... id)")
	fl.StringVar(&o.codec, "codec", "", "offer only this video codec: h264, h265, vp8, vp9 or av1 (default: all)")
	fl.StringVar(&o.out, "out", "", "write the video to this file (.h264, .h265, .ivf), or video and audio (.mkv)")
	fl.StringVar(&o.outAudio, "out-audio", "", "write the audio to this file (.ogg)")
	fl.BoolVar(&o.noAudio, "no-audio", false, "do not ask for audio")
	fl.BoolVar(&o.noData, "no-data-channel", false, "open no data channel")
	fl.Uint64Var(&o.frames, "frames", 0, "stop after this many video frames")
	return cmd
}

var codecMimes = map[string]string{
	"h264": webrtc.MimeTypeH264, "h265": webrtc.MimeTypeH265, "hevc": webrtc.MimeTypeH265,
	"vp8": webrtc.MimeTypeVP8, "vp9": webrtc.MimeTypeVP9, "av1": webrtc.MimeTypeAV1,
}

func runViewer(ctx context.Context, s streams, channel string, o viewerOptions) error {
	log := o.logger(s)
	mime := ""
	if o.codec != "" {
		var ok bool
		if mime, ok = codecMimes[strings.ToLower(o.codec)]; !ok {
			return fmt.Errorf("--codec %q: want h264, h265, vp8, vp9 or av1", o.codec)
		}
	}
	cfg := kvswebrtc.ViewerConfig{MaxFrames: o.frames, NoAudio: o.noAudio, NoDataChannel: o.noData, StatsInterval: o.statsEvery(), Logger: log}
	if strings.EqualFold(filepath.Ext(o.out), ".mkv") {
		if o.outAudio != "" {
			return errors.New("--out .mkv records the audio too: drop --out-audio")
		}
		rec, err := kvswebrtc.NewMKVRecorder(o.out, true, !o.noAudio)
		if err != nil {
			return err
		}
		cfg.VideoOut, cfg.AudioOut = rec.Video(), rec.Audio()
	} else if o.out != "" {
		want := kvswebrtc.WriterCodec(o.out)
		switch {
		case want == "" || want == webrtc.MimeTypeOpus:
			return fmt.Errorf("--out %s: want .mkv, .h264, .h265 or .ivf", o.out)
		case want == webrtc.MimeTypeVP8 && (mime == webrtc.MimeTypeVP9 || mime == webrtc.MimeTypeAV1):
		case mime != "" && mime != want:
			return fmt.Errorf("--out %s cannot hold --codec %s", o.out, o.codec)
		default:
			mime = want
		}
		w, err := kvswebrtc.CreateWriter(o.out, mime)
		if err != nil {
			return err
		}
		cfg.VideoOut = w
	}
	if o.outAudio != "" {
		if kvswebrtc.WriterCodec(o.outAudio) != webrtc.MimeTypeOpus {
			return fmt.Errorf("--out-audio %s: want .ogg", o.outAudio)
		}
		w, err := kvswebrtc.CreateWriter(o.outAudio, "")
		if err != nil {
			return err
		}
		cfg.AudioOut = w
	}
	cfg.VideoCodec = mime
	id := o.clientID
	if id == "" {
		id = randomID("viewer-")
	}
	sc, awsCfg, err := o.connect(ctx, channel, kvswebrtc.RoleViewer, id, log)
	if err != nil {
		return err
	}
	cfg.Signaling = sc
	cfg.Peer = o.peerConfig(awsCfg, log)
	v, err := kvswebrtc.NewViewer(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := withDuration(ctx, o.duration)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	var runErr error
	select {
	case <-v.FirstFrame():
		st := v.Stats()
		fmt.Fprintf(s.out, "first frame after %v (%s, connected after %v)\n",
			st.TimeToFirstFrame().Round(timeRound), st.VideoCodec, st.Connected.Sub(st.Started).Round(timeRound))
		if v.Stats().Echoes == 0 && !o.noData {
			go func() {
				select {
				case <-v.DataChannelOpen():
					_ = v.SendData("hello from openkvs viewer " + id)
				case <-ctx.Done():
				}
			}()
		}
		runErr = <-done
	case runErr = <-done:
	}
	st := v.Stats()
	fmt.Fprintf(s.out, "video %s: %d frames, %d packets, %d bytes; audio %s: %d packets; data-channel echoes %d; pair %s\n",
		orNone(st.VideoCodec), st.VideoFrames, st.VideoPackets, st.VideoBytes, orNone(st.AudioCodec), st.AudioPackets, st.Echoes, orNone(st.CandidatePair))
	if !ended(runErr) {
		return runErr
	}
	if st.FirstFrame.IsZero() {
		return errors.New("no video frame received")
	}
	return nil
}

// timeRound is the precision of printed durations.
const timeRound = 100 * time.Microsecond

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
