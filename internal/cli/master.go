package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/openkvs/openkvs/kvswebrtc"
	"github.com/openkvs/openkvs/kvswebrtc/sample"
)

// webrtcFlags are the flags master and viewer share: where the channel is,
// how to reach the peer, how much to log.
type webrtcFlags struct {
	aws           awsFlags
	create        bool
	forceTURN     bool
	turnTransport string
	noTURN        bool
	loopbackOnly  bool
	stun          string
	duration      time.Duration
	statsInterval time.Duration
	verbose       bool
	errOut        io.Writer // where logs go, set by logger
}

func (f *webrtcFlags) register(cmd *cobra.Command) {
	f.aws.register(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&f.create, "create", false, "create the signaling channel if it does not exist")
	fl.BoolVar(&f.forceTURN, "force-turn", false, "relay all media through TURN (ICE transport policy relay)")
	fl.StringVar(&f.turnTransport, "turn-transport", "", `use only TURN URIs of this transport: "udp" or "tcp"`)
	fl.BoolVar(&f.noTURN, "no-turn", false, "do not call GetIceServerConfig (host and STUN candidates only)")
	fl.BoolVar(&f.loopbackOnly, "loopback-only", false, "gather ICE candidates on 127.0.0.1 only (single-machine tests)")
	fl.StringVar(&f.stun, "stun", "", `STUN URL (default: the KVS STUN host of the region against AWS, none against another endpoint; "-" for none)`)
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (default: until interrupted)")
	fl.DurationVar(&f.statsInterval, "stats-interval", 10*time.Second, "how often to log statistics (0: never)")
	fl.BoolVar(&f.verbose, "verbose", false, "log debug messages (signaling, ICE)")
}

func (f *webrtcFlags) logger(s streams) *slog.Logger {
	f.errOut = s.err
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: level}))
}

// peerConfig returns the PeerConfig of the flags for cfg's endpoint.
func (f *webrtcFlags) peerConfig(cfg aws.Config, log *slog.Logger) kvswebrtc.PeerConfig {
	stun := f.stun
	if stun == "" && cfg.BaseEndpoint != nil {
		// Not AWS: the KVS STUN host does not exist; openkvs lists its
		// own STUN URI in GetIceServerConfig.
		stun = "-"
	}
	pionLog := log
	if !f.verbose {
		// pion reports routine ICE events as warnings; keep them for
		// --verbose.
		pionLog = slog.New(slog.NewTextHandler(f.errOut, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	return kvswebrtc.PeerConfig{
		STUNURL:       stun,
		ForceTURN:     f.forceTURN,
		TURNTransport: f.turnTransport,
		NoTURN:        f.noTURN,
		LoopbackOnly:  f.loopbackOnly,
		Logger:        pionLog,
	}
}

func (f *webrtcFlags) statsEvery() time.Duration {
	if f.statsInterval <= 0 {
		return -1
	}
	return f.statsInterval
}

// connect loads the AWS configuration, discovers the channel for role and
// returns its signaling client.
func (f *webrtcFlags) connect(ctx context.Context, channel string, role kvswebrtc.Role, clientID string, log *slog.Logger) (*kvswebrtc.SignalingClient, aws.Config, error) {
	cfg, err := f.aws.load(ctx)
	if err != nil {
		return nil, cfg, err
	}
	cp := kvswebrtc.NewControlPlane(cfg)
	in := kvswebrtc.DiscoverInput{Role: role, Create: f.create}
	if strings.HasPrefix(channel, "arn:") {
		in.ChannelARN = channel
	} else {
		in.ChannelName = channel
	}
	ch, err := kvswebrtc.Discover(ctx, cp, in)
	if err != nil {
		return nil, cfg, err
	}
	log.Info("signaling channel", "arn", ch.ARN, "wss", ch.WSSEndpoint, "https", ch.HTTPSEndpoint)
	sc, err := kvswebrtc.NewSignalingClient(kvswebrtc.SignalingConfig{
		Channel:      ch,
		ControlPlane: cp,
		ClientID:     clientID,
		Region:       cfg.Region,
		Credentials:  cfg.Credentials,
		HTTPClient:   cfg.HTTPClient,
		Logger:       log,
		OnConnect: func(n int) {
			if n == 1 {
				log.Info("signaling connected", "role", string(role), "client_id", clientID)
			} else {
				log.Info("signaling reconnected", "connections", n)
			}
		},
	})
	return sc, cfg, err
}

// withDuration bounds ctx by d when d > 0.
func withDuration(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// ended reports whether err is the normal end of a run (interrupt or
// --duration).
func ended(err error) bool {
	return err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func randomID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

type masterOptions struct {
	webrtcFlags
	codec       string
	video       string
	audio       string
	videoFormat string
	fps         int
	noVideo     bool
	noAudio     bool
	loop        bool
}

func newMasterCmd(s streams) *cobra.Command {
	var o masterOptions
	cmd := &cobra.Command{
		Use:   "master CHANNEL",
		Short: "Stream video and audio to every viewer of a signaling channel (WebRTC master)",
		Long: `master connects to a signaling channel (name or ARN) as its MASTER, like the
KVS C SDK's kvsWebrtcClientMaster: it answers every viewer's offer with its own
peer connection, trickles ICE candidates, streams video and audio, echoes
data-channel messages and logs per-viewer statistics.

Without --video/--audio it loops the built-in samples (320x240 H.264, H.265
with --codec h265, VP8 with --codec vp8, and Opus). --video and --audio take
Annex-B H.264/H.265 (.h264/.h265), IVF (.ivf) or Ogg Opus (.ogg) files, or "-"
for standard input, e.g. from ffmpeg:

  ffmpeg -re -f lavfi -i testsrc=size=640x480:rate=25 -c:v libx264 \
    -profile:v baseline -pix_fmt yuv420p -g 25 -bf 0 -f h264 - |
    openkvs master cam --video - --no-audio

The AWS environment (AWS_ENDPOINT_URL, AWS_REGION, credentials, AWS_PROFILE,
AWS_CA_BUNDLE) picks the service, so the same command works against AWS.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMaster(cmd.Context(), s, args[0], o)
		},
	}
	o.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.codec, "codec", "h264", "video codec of the built-in sample and of --video -: h264, h265 or vp8")
	fl.StringVar(&o.video, "video", "", `video file (.h264, .h265, .ivf) or "-" for standard input`)
	fl.StringVar(&o.audio, "audio", "", `audio file (.ogg) or "-" for standard input`)
	fl.StringVar(&o.videoFormat, "video-format", "", "format of --video - (default: from --codec; ivf for vp8)")
	fl.IntVar(&o.fps, "fps", 25, "frame rate of Annex-B H.264/H.265 video")
	fl.BoolVar(&o.noVideo, "no-video", false, "send no video")
	fl.BoolVar(&o.noAudio, "no-audio", false, "send no audio")
	fl.BoolVar(&o.loop, "loop", true, "replay --video/--audio files in a loop (read into memory); pipes never loop")
	return cmd
}

func runMaster(ctx context.Context, s streams, channel string, o masterOptions) error {
	log := o.logger(s)
	video, audio, closeMedia, err := o.sources(s.in)
	if err != nil {
		return err
	}
	defer closeMedia()
	sc, cfg, err := o.connect(ctx, channel, kvswebrtc.RoleMaster, "", log)
	if err != nil {
		return err
	}
	m, err := kvswebrtc.NewMaster(kvswebrtc.MasterConfig{
		Signaling:     sc,
		Peer:          o.peerConfig(cfg, log),
		Video:         video,
		Audio:         audio,
		StatsInterval: o.statsEvery(),
		Logger:        log,
	})
	if err != nil {
		return err
	}
	ctx, cancel := withDuration(ctx, o.duration)
	defer cancel()
	log.Info("master running", "video", mimeOf(video), "audio", mimeOf(audio))
	if err := m.Run(ctx); !ended(err) {
		return err
	}
	return nil
}

func mimeOf(s kvswebrtc.Source) string {
	if s == nil {
		return "none"
	}
	return s.MimeType()
}

// sources opens the media the flags name.
func (o *masterOptions) sources(stdin io.Reader) (video, audio kvswebrtc.Source, closeAll func(), err error) {
	var closers []io.Closer
	closeAll = func() {
		for _, c := range closers {
			c.Close()
		}
	}
	if o.video == "-" && o.audio == "-" {
		return nil, nil, closeAll, errors.New("only one of --video and --audio can read standard input")
	}
	open := func(path, format, builtin string) (kvswebrtc.Source, error) {
		switch {
		case path == "":
			return kvswebrtc.SampleSource(builtin)
		case path == "-":
			return kvswebrtc.NewSource(stdin, format, o.fps)
		}
		src, c, err := kvswebrtc.OpenSource(path, o.fps)
		if err != nil {
			return nil, err
		}
		if !o.loop {
			closers = append(closers, c)
			return src, nil
		}
		defer c.Close()
		return kvswebrtc.Loop(src)
	}
	if !o.noVideo {
		builtin, format := sample.H264, "h264"
		switch strings.ToLower(o.codec) {
		case "h264":
		case "h265", "hevc":
			builtin, format = sample.H265, "h265"
		case "vp8":
			builtin, format = sample.VP8, "ivf"
		default:
			return nil, nil, closeAll, fmt.Errorf("--codec %q: want h264, h265 or vp8", o.codec)
		}
		if o.videoFormat != "" {
			format = o.videoFormat
		}
		if video, err = open(o.video, format, builtin); err != nil {
			closeAll()
			return nil, nil, closeAll, fmt.Errorf("video: %w", err)
		}
	}
	if !o.noAudio {
		if audio, err = open(o.audio, "ogg", sample.Opus); err != nil {
			closeAll()
			return nil, nil, closeAll, fmt.Errorf("audio: %w", err)
		}
	}
	if video == nil && audio == nil {
		return nil, nil, closeAll, errors.New("nothing to send: both --no-video and --no-audio")
	}
	return video, audio, closeAll, nil
}
