package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/spf13/cobra"

	"github.com/openkvs/openkvs/media/h26x"
	"github.com/openkvs/openkvs/media/mkv"
	"github.com/openkvs/openkvs/producer"
)

// putMediaOptions are put-media's flags.
type putMediaOptions struct {
	stream       string
	create       bool
	retention    int32
	codec        string
	fps          float64
	loop         bool
	realtime     bool
	quiet        bool
	flushTimeout time.Duration
	metadata     []string
	failover     []string
	acks         string
}

func newPutMediaCmd(s streams) *cobra.Command {
	var af awsFlags
	var o putMediaOptions
	cmd := &cobra.Command{
		Use:   "put-media --stream NAME [flags] FILE|-",
		Short: "Send an MKV file, a raw H.264/H.265 file or stdin to a stream (PutMedia)",
		Long: `put-media streams media to a video stream with PutMedia, as the KVS producer
SDKs do: fragments start at key frames, each is kept until it is PERSISTED and
resent after a reconnection.

FILE is a Matroska/WebM file (re-fragmented at the video key frames), a raw
Annex-B H.264 or H.265 file (--codec, or the .h264/.264/.avc and
.h265/.265/.hevc extensions; --fps sets the timing, frames in decode order
without B-frames), or - for a Matroska stream on stdin:

  ffmpeg -re -i in.mp4 -c copy -f matroska - | openkvs put-media --stream cam1 -

An MP4 file is refused with the ffmpeg command that remuxes it to Matroska.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.stream == "" {
				return errors.New("--stream is required")
			}
			return runPutMedia(cmd.Context(), s, &af, &o, args[0])
		},
	}
	af.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.stream, "stream", "", "stream name (required)")
	fl.BoolVar(&o.create, "create", false, "create the stream first if it does not exist")
	fl.Int32Var(&o.retention, "retention-hours", 24, "data retention of a stream made by --create")
	fl.StringVar(&o.codec, "codec", "", "codec of a raw Annex-B file: h264 or h265 (default: from the extension)")
	fl.Float64Var(&o.fps, "fps", 0, "frame rate of a raw Annex-B file (default: from the SPS, else 25)")
	fl.BoolVar(&o.loop, "loop", false, "send FILE again and again (implies --realtime)")
	fl.BoolVar(&o.realtime, "realtime", false, "pace frames at their timestamps instead of sending as fast as acks allow")
	fl.BoolVar(&o.quiet, "quiet", false, "no progress line")
	fl.DurationVar(&o.flushTimeout, "flush-timeout", 30*time.Second, "how long to wait for the last fragments to be PERSISTED")
	fl.StringArrayVar(&o.metadata, "metadata", nil, "NAME=VALUE fragment metadata put on every fragment (repeatable)")
	fl.StringVar(&o.acks, "acks", "", "append every acknowledgement (PERSISTED, ERROR, ...) to this file as a JSON line")
	fl.StringArrayVar(&o.failover, "failover-endpoint-url", nil,
		"another control-plane endpoint (a cluster's other node), used in turn after a connection fails (repeatable)")
	return cmd
}

// mediaSource yields frames; run calls start once with the tracks, then
// put for every frame, PTS counted from 0.
type mediaSource func(ctx context.Context, start func([]producer.Track) error, put func(producer.Frame) error) error

func runPutMedia(ctx context.Context, s streams, af *awsFlags, o *putMediaOptions, arg string) error {
	// The input is checked first: a wrong format fails before any request.
	src, isFile, err := openSource(s, o, arg)
	if err != nil {
		return err
	}
	cfg, err := af.load(ctx)
	if err != nil {
		return err
	}
	if o.create {
		if err := createStreamIfMissing(ctx, kinesisvideo.NewFromConfig(cfg), o.stream, o.retention); err != nil {
			return err
		}
	}
	pace := o.realtime || o.loop
	// A file sent faster than real time must not carry producer
	// timestamps ahead of the service's clock (INVALID_PRODUCER_TIMESTAMP):
	// it is dated so that it ends now.
	start := time.Now()
	if isFile && !pace {
		d, err := mediaDuration(o, arg)
		if err != nil {
			return err
		}
		start = start.Add(-d - time.Second)
	}
	var meta [][2]string
	for _, m := range o.metadata {
		k, v, ok := strings.Cut(m, "=")
		if !ok || k == "" || v == "" {
			return fmt.Errorf("--metadata %q: want NAME=VALUE", m)
		}
		meta = append(meta, [2]string{k, v})
	}

	var control []string
	if len(o.failover) > 0 {
		base := aws.ToString(cfg.BaseEndpoint)
		if base == "" {
			return errors.New("--failover-endpoint-url needs --endpoint-url (or AWS_ENDPOINT_URL) as the first endpoint")
		}
		control = append([]string{base}, o.failover...)
	}

	onAck, closeAcks, err := ackLog(o.acks)
	if err != nil {
		return err
	}
	defer closeAcks()

	// Sending outlives Ctrl-C: the input stops, the buffer is flushed.
	sendCtx := context.WithoutCancel(ctx)
	var p *producer.Producer
	var prog *progress
	startProducer := func(tracks []producer.Track) error {
		p, err = producer.Start(sendCtx, producer.Config{
			AWS:              cfg,
			ControlEndpoints: control,
			OnAck:            onAck,
			StreamName:       o.stream,
			Tracks:           tracks,
			StartTime:        start,
			// A file or pipe waits for the network; live pacing drops.
			Offline: !pace,
			OnError: func(err error) {
				fmt.Fprintf(s.err, "\nput-media: %v (reconnecting)\n", err)
			},
		})
		if err != nil {
			return err
		}
		for _, m := range meta {
			if err := p.PutFragmentMetadata(m[0], m[1], true); err != nil {
				return err
			}
		}
		if isFile && !o.quiet {
			prog = startProgress(s.err, p)
		}
		return nil
	}
	var wall time.Time
	put := func(f producer.Frame) error {
		if pace {
			if wall.IsZero() {
				wall = time.Now().Add(-f.PTS)
			}
			if d := time.Until(wall.Add(f.PTS)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return p.PutFrame(ctx, f)
	}
	srcErr := src(ctx, startProducer, put)
	if p == nil {
		if srcErr == nil {
			srcErr = errors.New("no media in the input")
		}
		return srcErr
	}
	flushCtx, cancel := context.WithTimeout(sendCtx, o.flushTimeout)
	defer cancel()
	closeErr := p.Close(flushCtx)
	if prog != nil {
		prog.stop()
	}
	st := p.Stats()
	fmt.Fprintf(s.err, "put-media: %d frames, %d fragments persisted, %d frames dropped, %s sent over %d connections\n",
		st.FramesPut, st.FragmentsPersisted, st.FramesDropped, formatBytes(st.BytesSent), st.Connections)
	if srcErr != nil && !errors.Is(srcErr, context.Canceled) {
		return srcErr
	}
	return closeErr
}

// ackLog opens the --acks file: onAck appends each ack to it as a JSON
// line. Without a file onAck is nil.
func ackLog(path string) (onAck func(producer.Ack), closeFn func(), err error) {
	if path == "" {
		return nil, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("--acks: %w", err)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(f)
	onAck = func(a producer.Ack) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(a)
	}
	return onAck, func() { mu.Lock(); defer mu.Unlock(); _ = f.Close() }, nil
}

// mediaDuration returns how long the media in a file lasts: the span of
// its frame timestamps (MKV) or its access units at the frame rate
// (Annex-B).
func mediaDuration(o *putMediaOptions, arg string) (time.Duration, error) {
	src, _, err := openSource(streams{}, &putMediaOptions{codec: o.codec, fps: o.fps}, arg)
	if err != nil {
		return 0, err
	}
	var first, last time.Duration = -1, 0
	err = src(context.Background(), func([]producer.Track) error { return nil }, func(f producer.Frame) error {
		if first < 0 {
			first = f.PTS
		}
		last = max(last, f.PTS)
		return nil
	})
	if err != nil || first < 0 {
		return 0, err
	}
	return last - first, nil
}

// createStreamIfMissing creates the stream unless it exists.
func createStreamIfMissing(ctx context.Context, c *kinesisvideo.Client, name string, retention int32) error {
	_, err := c.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(retention)})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	return nil
}

// openSource picks the reader for arg: stdin, an MKV file or a raw Annex-B
// file.
func openSource(s streams, o *putMediaOptions, arg string) (src mediaSource, isFile bool, err error) {
	if arg == "-" {
		if o.loop {
			return nil, false, errors.New("--loop needs a file")
		}
		in := bufio.NewReaderSize(s.in, 256<<10)
		if err := notMP4(in, "stdin", "in.mp4"); err != nil {
			return nil, false, err
		}
		return mkvSource(func() (io.ReadCloser, error) { return io.NopCloser(in), nil }, false), false, nil
	}
	codec := o.codec
	if codec == "" {
		switch strings.ToLower(filepath.Ext(arg)) {
		case ".h264", ".264", ".avc":
			codec = "h264"
		case ".h265", ".265", ".hevc":
			codec = "h265"
		}
	}
	open := func() (io.ReadCloser, error) { return os.Open(arg) }
	switch codec {
	case "":
		f, err := os.Open(arg)
		if err != nil {
			return nil, false, err
		}
		err = notMP4(bufio.NewReader(f), arg, arg)
		f.Close()
		if err != nil {
			return nil, false, err
		}
		return mkvSource(open, o.loop), true, nil
	case "h264", "h265":
		b, err := os.ReadFile(arg)
		if err != nil {
			return nil, false, err
		}
		return annexBSource(b, codec, o.fps, o.loop), true, nil
	}
	return nil, false, fmt.Errorf("--codec %q: want h264 or h265", codec)
}

// notMP4 fails when r starts with an ISO BMFF (MP4, MOV, fragmented MP4)
// box, which put-media cannot read, with the ffmpeg command that remuxes
// the file name into Matroska without re-encoding. It only peeks at r.
func notMP4(r *bufio.Reader, what, name string) error {
	head, _ := r.Peek(8)
	if len(head) < 8 {
		return nil
	}
	switch string(head[4:8]) {
	case "ftyp", "styp", "moov", "moof":
	default:
		return nil
	}
	out := strings.TrimSuffix(filepath.Base(name), filepath.Ext(name)) + ".mkv"
	return fmt.Errorf("%s is MP4 (an ISO BMFF %q box), but put-media reads Matroska (MKV/WebM); remux it without re-encoding:\n"+
		"  ffmpeg -i %s -c copy -f matroska %s\n"+
		"or stream it: ffmpeg -re -i %s -c copy -f matroska - | openkvs put-media --stream NAME -",
		what, head[4:8], shellQuote(name), shellQuote(out), shellQuote(name))
}

// mkvSource reads a Matroska stream and re-fragments it: its frames go to
// the producer, which starts a fragment at each video key frame.
func mkvSource(open func() (io.ReadCloser, error), loop bool) mediaSource {
	return func(ctx context.Context, start func([]producer.Track) error, put func(producer.Frame) error) error {
		var tracks []mkv.Track
		var offset, end, step time.Duration
		for pass := 0; ; pass++ {
			rc, err := open()
			if err != nil {
				return err
			}
			base := time.Duration(-1)
			var last time.Duration
			rd := mkv.NewReader(bufio.NewReaderSize(rc, 256<<10), mkv.ReaderConfig{})
			err = func() error {
				for ctx.Err() == nil {
					ev, err := rd.Next()
					if errors.Is(err, io.EOF) {
						return nil
					}
					if err != nil {
						return fmt.Errorf("read MKV: %w", err)
					}
					switch ev {
					case mkv.EventTracks:
						if tracks != nil {
							continue // a later document of the same stream, or the next loop
						}
						tracks = append([]mkv.Track(nil), rd.Tracks().Entries...)
						pt := make([]producer.Track, len(tracks))
						for i, t := range tracks {
							pt[i] = producer.Track{Track: t}
						}
						if err := start(pt); err != nil {
							return err
						}
					case mkv.EventCluster:
						if tracks == nil {
							return errors.New("read MKV: Cluster before Tracks")
						}
						c := rd.Cluster()
						scale := time.Duration(rd.Info().TimecodeScale)
						for _, f := range keyFirst(c, keyTrack(tracks)) {
							t := time.Duration(c.Time(f)) * scale
							if base < 0 {
								base = t
							}
							pts := offset + t - base
							if t-base > last {
								step, last = t-base-last, t-base
							}
							end = max(end, pts)
							if err := put(producer.Frame{Track: f.Track, PTS: pts, KeyFrame: f.Keyframe, Data: f.Data}); err != nil {
								return err
							}
						}
					}
				}
				return ctx.Err()
			}()
			rc.Close()
			if err != nil || !loop || base < 0 {
				return err
			}
			offset = end + max(step, time.Millisecond)
		}
	}
}

// keyTrack is the track whose key frames start fragments: the first video
// track, else the first.
func keyTrack(tracks []mkv.Track) uint64 {
	for _, t := range tracks {
		if t.Type == mkv.TrackTypeVideo {
			return t.Number
		}
	}
	return tracks[0].Number
}

// keyFirst returns the Cluster's frames with those of other tracks that
// come before its first key frame of track key moved after it, so that a
// source Cluster that opens with audio still starts a fragment at its key
// frame without dropping that audio.
func keyFirst(c *mkv.Cluster, key uint64) []*mkv.Frame {
	out := make([]*mkv.Frame, 0, len(c.Frames))
	k := slices.IndexFunc(c.Frames, func(f mkv.Frame) bool { return f.Track == key && f.Keyframe })
	if k > 0 && !slices.ContainsFunc(c.Frames[:k], func(f mkv.Frame) bool { return f.Track == key }) {
		out = append(out, &c.Frames[k])
		for i := range c.Frames {
			if i != k {
				out = append(out, &c.Frames[i])
			}
		}
		return out
	}
	for i := range c.Frames {
		out = append(out, &c.Frames[i])
	}
	return out
}

// annexBSource sends a raw Annex-B stream's access units at fps.
func annexBSource(b []byte, codec string, fps float64, loop bool) mediaSource {
	return func(ctx context.Context, start func([]producer.Track) error, put func(producer.Frame) error) error {
		c, id := h26x.H264, producer.CodecH264
		if codec == "h265" {
			c, id = h26x.H265, producer.CodecH265
		}
		aus := producer.AccessUnits(c, b)
		if len(aus) == 0 {
			return fmt.Errorf("no %s access units in the input", c)
		}
		if fps <= 0 {
			fps = spsFrameRate(c, aus[0])
		}
		if err := start([]producer.Track{{Track: mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: id}, AnnexB: true}}); err != nil {
			return err
		}
		frame := time.Duration(float64(time.Second) / fps)
		for i := 0; ; i++ {
			au := aus[i%len(aus)]
			if i == len(aus) && !loop {
				return nil
			}
			if err := put(producer.Frame{Track: 1, PTS: time.Duration(i) * frame, Data: au}); err != nil {
				return err
			}
		}
	}
}

// spsFrameRate returns the H.264 VUI frame rate of the access unit's SPS,
// or 25.
func spsFrameRate(c h26x.Codec, au []byte) float64 {
	if c == h26x.H264 {
		for nalu := range h26x.AnnexBUnits(au) {
			if h26x.H264Type(nalu) == h26x.H264NALSPS {
				if sps, err := h26x.ParseH264SPS(nalu); err == nil {
					if num, den := sps.FrameRate(); num > 0 && den > 0 {
						return float64(num) / float64(den)
					}
				}
			}
		}
	}
	return 25
}

// progress prints a status line on a terminal-ish writer every half
// second.
type progress struct {
	done chan struct{}
	quit chan struct{}
}

func startProgress(w io.Writer, p *producer.Producer) *progress {
	pr := &progress{done: make(chan struct{}), quit: make(chan struct{})}
	began := time.Now()
	go func() {
		defer close(pr.done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-pr.quit:
				fmt.Fprintln(w)
				return
			case <-t.C:
				st := p.Stats()
				rate := float64(st.BytesSent) / time.Since(began).Seconds()
				fmt.Fprintf(w, "\r%s sent, %d fragments persisted, %d buffered, %s/s   ",
					formatBytes(st.BytesSent), st.FragmentsPersisted, st.BufferedFragments, formatBytes(int64(rate)))
			}
		}
	}()
	return pr
}

func (pr *progress) stop() {
	close(pr.quit)
	<-pr.done
}

// formatBytes formats n bytes with a binary unit.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
