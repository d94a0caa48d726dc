package playback

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/fmp4"
	"github.com/openkvs/openkvs/media/h26x"
)

// GetImages limits from the API reference. KVS documents no default
// SamplingInterval since it became optional; 3 s is openkvs' choice (the
// interval of the reference's image-generation examples).
const (
	maxImagesRange          = 300 * time.Second
	minSamplingInterval     = 200
	defaultSamplingInterval = 3000
	maxImagesPage           = 25
	maxImagesMaxResults     = 100
	maxImageWidth           = 3840
	maxImageHeight          = 2160
	defaultJPEGQuality      = 80
	maxImageBytes           = 6 << 20
)

// The Image.Error values.
const (
	imageNoMedia    = "NO_MEDIA"
	imageMediaError = "MEDIA_ERROR"
)

// imageConfig configures GetImages.
type imageConfig struct {
	// ffmpeg is the ffmpeg executable: a name looked up in PATH at each
	// request (so installing ffmpeg needs no restart) or a path. Defaults
	// to "ffmpeg".
	ffmpeg string
	// workers bounds the ffmpeg processes running at once, over all
	// requests. Defaults to runtime.NumCPU().
	workers int
	// timeout bounds one ffmpeg run (up to a page of key frames).
	// Defaults to 30 seconds.
	timeout time.Duration
}

// images serves GetImages: each sampling time's image is decoded by ffmpeg
// from the nearest key frame at or before it. Nothing but the key frame
// (with the stream's parameter sets) is decoded, so an image shows the
// picture at the start of its GOP.
type images struct {
	svc     *Service
	cfg     imageConfig
	headers headerCache
	sem     chan struct{}
}

func newImages(s *Service, cfg imageConfig) *images {
	if cfg.ffmpeg == "" {
		cfg.ffmpeg = "ffmpeg"
	}
	if cfg.workers <= 0 {
		cfg.workers = runtime.NumCPU()
	}
	if cfg.timeout <= 0 {
		cfg.timeout = 30 * time.Second
	}
	return &images{svc: s, cfg: cfg, sem: make(chan struct{}, cfg.workers)}
}

// imageOperations returns GetImages.
func (s *Service) imageOperations() []awsapi.Operation {
	return []awsapi.Operation{
		{Name: "GetImages", Pattern: "POST /getImages", Handler: newImages(s, imageConfig{})},
	}
}

type getImagesInput struct {
	mediaStreamRef
	ImageSelectorType *string           `json:"ImageSelectorType"`
	StartTimestamp    *awsapi.Timestamp `json:"StartTimestamp"`
	EndTimestamp      *awsapi.Timestamp `json:"EndTimestamp"`
	SamplingInterval  *int64            `json:"SamplingInterval"`
	Format            *string           `json:"Format"`
	FormatConfig      map[string]string `json:"FormatConfig"`
	WidthPixels       *int64            `json:"WidthPixels"`
	HeightPixels      *int64            `json:"HeightPixels"`
	MaxResults        *int64            `json:"MaxResults"`
	NextToken         *string           `json:"NextToken"`
}

type imageOutput struct {
	TimeStamp    *awsapi.Timestamp `json:"TimeStamp"`
	Error        string            `json:"Error,omitempty"`
	ImageContent string            `json:"ImageContent,omitempty"`
}

type getImagesOutput struct {
	Images    []imageOutput `json:"Images"`
	NextToken string        `json:"NextToken,omitempty"`
}

// imageQuery is a validated GetImages request.
type imageQuery struct {
	kind          archive.TimeKind
	start, end    time.Time
	interval      time.Duration
	png           bool
	quality       int // JPEGQuality, 1..100
	width, height int // 0: from the picture
	page          int
	// next is where this page starts: start, or the NextToken's time.
	next time.Time
}

// parseImagesInput validates everything but the stream and NextToken.
func parseImagesInput(in *getImagesInput) (*imageQuery, error) {
	q := &imageQuery{quality: defaultJPEGQuality, page: maxImagesPage, interval: defaultSamplingInterval * time.Millisecond}
	switch {
	case in.ImageSelectorType == nil:
		return nil, invalid("ImageSelectorType is required.")
	case *in.ImageSelectorType == selectorTypeProducer:
		q.kind = archive.ProducerTime
	case *in.ImageSelectorType == selectorTypeServer:
		q.kind = archive.ServerTime
	default:
		return nil, invalid("ImageSelectorType %q must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP.", clip(*in.ImageSelectorType))
	}
	if in.StartTimestamp == nil || in.StartTimestamp.IsZero() {
		return nil, invalid("StartTimestamp is required.")
	}
	if in.EndTimestamp == nil || in.EndTimestamp.IsZero() {
		return nil, invalid("EndTimestamp is required.")
	}
	q.start, q.end = in.StartTimestamp.Time, in.EndTimestamp.Time
	if q.end.Before(q.start) {
		return nil, invalid("EndTimestamp must not be before StartTimestamp.")
	}
	if q.end.Sub(q.start) > maxImagesRange {
		return nil, invalid("The time range between StartTimestamp and EndTimestamp must not be more than %d seconds.", int(maxImagesRange.Seconds()))
	}
	if v := in.SamplingInterval; v != nil {
		if *v < minSamplingInterval {
			return nil, invalid("SamplingInterval %d is less than the minimum of %d ms.", *v, minSamplingInterval)
		}
		q.interval = time.Duration(*v) * time.Millisecond
	}
	switch {
	case in.Format == nil:
		return nil, invalid("Format is required.")
	case *in.Format == "PNG":
		q.png = true
	case *in.Format != "JPEG":
		return nil, invalid("Format %q must be JPEG or PNG.", clip(*in.Format))
	}
	for k, v := range in.FormatConfig {
		if k != "JPEGQuality" {
			return nil, invalid("FormatConfig key %q is not supported; the only key is JPEGQuality.", clip(k))
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, invalid("FormatConfig JPEGQuality %q must be an integer from 1 to 100.", clip(v))
		}
		q.quality = n
	}
	if v := in.WidthPixels; v != nil {
		if *v < 1 || *v > maxImageWidth {
			return nil, invalid("WidthPixels %d must be between 1 and %d.", *v, maxImageWidth)
		}
		q.width = int(*v)
	}
	if v := in.HeightPixels; v != nil {
		if *v < 1 || *v > maxImageHeight {
			return nil, invalid("HeightPixels %d must be between 1 and %d.", *v, maxImageHeight)
		}
		q.height = int(*v)
	}
	if v := in.MaxResults; v != nil {
		if *v < 1 || *v > maxImagesMaxResults {
			return nil, invalid("MaxResults %d must be between 1 and %d.", *v, maxImagesMaxResults)
		}
		q.page = min(int(*v), maxImagesPage)
	}
	q.next = q.start
	return q, nil
}

// imagesToken is a GetImages NextToken: where the next page starts.
type imagesToken struct {
	V      int    `json:"v"`
	Stream string `json:"s"`
	Next   int64  `json:"n"` // Unix nanoseconds
}

func encodeImagesToken(t imagesToken) string {
	b, _ := json.Marshal(t) // a struct of a string and integers always encodes
	return base64.StdEncoding.EncodeToString(b)
}

// applyToken moves q to the page tok names, which must have been made for
// stream and lie in q's range.
func (q *imageQuery) applyToken(tok, stream string) error {
	bad := invalid("NextToken is not a token returned by GetImages for this stream and time range.")
	if len(tok) > maxNextTokenLen || !nextTokenPattern.MatchString(tok) {
		return bad
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return bad
	}
	var t imagesToken
	if err := json.Unmarshal(b, &t); err != nil || t.V != 1 || t.Stream != stream {
		return bad
	}
	next := time.Unix(0, t.Next)
	if next.Before(q.start) || next.After(q.end) {
		return bad
	}
	q.next = next
	return nil
}

// samplingTimes returns the sampling times of q's page and whether more
// follow.
func (q *imageQuery) samplingTimes() ([]time.Time, bool) {
	var ts []time.Time
	for t := q.next; !t.After(q.end); t = t.Add(q.interval) {
		if len(ts) == q.page {
			return ts, true
		}
		ts = append(ts, t)
	}
	return ts, false
}

// errNoFFmpeg answers a GetImages call on a server without ffmpeg.
func errNoFFmpeg(name string, err error) error {
	return &awsapi.Error{Code: awsapi.InternalFailure, Message: fmt.Sprintf(
		"GetImages needs ffmpeg to decode video frames, and this server cannot run %q (%v). Install ffmpeg on the openkvs server and retry.",
		name, err)}
}

// ServeHTTP serves GetImages.
//
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_reader_GetImages.html
func (h *images) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out, err := h.getImages(r)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	awsapi.WriteJSON(w, out)
}

func (h *images) getImages(r *http.Request) (*getImagesOutput, error) {
	var in getImagesInput
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		return nil, err
	}
	q, err := parseImagesInput(&in)
	if err != nil {
		return nil, err
	}
	st, err := h.svc.resolveStream(r.Context(), in.mediaStreamRef)
	if err != nil {
		return nil, err
	}
	if err := checkRetention(st); err != nil {
		return nil, err
	}
	if in.NextToken != nil {
		if err := q.applyToken(*in.NextToken, st.Name); err != nil {
			return nil, err
		}
	}
	ffmpeg, err := exec.LookPath(h.cfg.ffmpeg)
	if err != nil {
		return nil, errNoFFmpeg(h.cfg.ffmpeg, err)
	}
	a := h.svc.cfg.Archive
	// One Seek tells whether the range has any media: the fragment that
	// holds the start, or the first one after it.
	f, err := a.Seek(st.Name, q.kind, q.start)
	if err != nil {
		return nil, fmt.Errorf("seek: %w", err)
	}
	if f == nil || fragmentTimeOf(f, q.kind).After(q.end) {
		return nil, awsapi.Errorf(awsapi.ResourceNotFound, "No fragments found in the stream %s for the requested time range.", st.Name)
	}
	times, more := q.samplingTimes()
	out := &getImagesOutput{Images: make([]imageOutput, len(times))}
	if more {
		out.NextToken = encodeImagesToken(imagesToken{V: 1, Stream: st.Name, Next: times[len(times)-1].Add(q.interval).UnixNano()})
	}
	jobs := h.plan(r.Context(), st.Name, q, times, out.Images)
	h.decodeAll(r.Context(), ffmpeg, q, jobs, out.Images)
	return out, nil
}

// fragmentTimeOf is f's start time by kind.
func fragmentTimeOf(f *archive.Fragment, kind archive.TimeKind) time.Time {
	if kind == archive.ProducerTime {
		return f.ProducerTime
	}
	return f.ServerTime()
}

// decodeJob is one key frame to decode, and the images that show it.
type decodeJob struct {
	track  fmp4.Track
	frame  []byte
	images []int
}

// plan finds the key frame of every sampling time and fills in the
// NO_MEDIA and MEDIA_ERROR entries; it returns the key frames to decode,
// each once however many sampling times fall in its GOP.
func (h *images) plan(ctx context.Context, stream string, q *imageQuery, times []time.Time, imgs []imageOutput) []*decodeJob {
	a := h.svc.cfg.Archive
	type key struct {
		frag   archive.Number
		sample int
	}
	jobs := make(map[key]*decodeJob)
	var order []*decodeJob
	var (
		cur    *archive.Fragment
		curHdr *mediaHeader
		curDmx *demuxed
		curErr string
	)
	log := awsapi.LoggerFrom(ctx)
	for i, t := range times {
		imgs[i].TimeStamp = awsapi.TimestampOf(t)
		f, err := a.Seek(stream, q.kind, t)
		if err != nil || f == nil {
			imgs[i].Error = imageNoMedia
			continue
		}
		ft := fragmentTimeOf(f, q.kind)
		if t.Before(ft) || !t.Before(ft.Add(max(f.Duration, time.Millisecond))) {
			imgs[i].Error = imageNoMedia // a gap between fragments
			continue
		}
		if cur == nil || cur.Number != f.Number {
			cur, curHdr, curDmx, curErr = f, nil, nil, ""
			mh, err := h.headers.get(f.Header)
			if err == nil {
				var cluster []byte
				if cluster, err = a.ReadCluster(stream, f); errors.Is(err, archive.ErrNotFound) {
					curErr = imageNoMedia // expired since the Seek
				} else if err == nil {
					curHdr = mh
					curDmx, err = demux(mh, f, cluster)
				}
			}
			if err != nil && curErr == "" {
				curErr = imageMediaError
				if log != nil {
					log.Warn("GetImages: fragment unusable", "stream", stream, "fragment", f.Number.String(), "err", err)
				}
			}
		}
		if curErr != "" {
			imgs[i].Error = curErr
			continue
		}
		// The producer time of the sampling time, inside the fragment.
		p := f.ProducerTime.Add(t.Sub(ft)).UnixNano()
		ti, si := keyFrameAt(curHdr, curDmx, p)
		if si < 0 {
			imgs[i].Error = imageMediaError // audio only, or no key frame
			continue
		}
		k := key{f.Number, si}
		j := jobs[k]
		if j == nil {
			j = &decodeJob{track: curHdr.tracks[ti].track, frame: curDmx.tracks[ti][si].data}
			jobs[k] = j
			order = append(order, j)
		}
		j.images = append(j.images, i)
	}
	return order
}

// keyFrameAt returns the video track index and the index of its last key
// frame presented at or before p (ns), or its first key frame when p
// precedes them all; si is -1 without a video track or key frame.
func keyFrameAt(h *mediaHeader, d *demuxed, p int64) (ti, si int) {
	ti, si = -1, -1
	for i := range h.tracks {
		if c := h.tracks[i].track.Codec; c == fmp4.H264 || c == fmp4.H265 {
			ti = i
			break
		}
	}
	if ti < 0 {
		return -1, -1
	}
	first := -1
	for i, s := range d.tracks[ti] {
		if !s.key {
			continue
		}
		if first < 0 {
			first = i
		}
		if s.pts <= p && (si < 0 || s.pts >= d.tracks[ti][si].pts) {
			si = i
		}
	}
	if si < 0 {
		si = first
	}
	return ti, si
}

// decodeAll decodes the jobs and stores each image (or MEDIA_ERROR) in
// every entry that shows it. Starting ffmpeg costs far more than decoding
// one key frame, so the key frames that share a codec configuration are
// decoded by one ffmpeg run; should that run fail or lose a frame, each of
// its key frames is decoded alone, so that one bad frame spoils only its
// own images. Runs share the service's ffmpeg slots.
func (h *images) decodeAll(ctx context.Context, ffmpeg string, q *imageQuery, jobs []*decodeJob, imgs []imageOutput) {
	var groups [][]*decodeJob
	byConfig := make(map[string]int)
	for _, j := range jobs {
		k := strconv.Itoa(int(j.track.Codec)) + string(j.track.CodecPrivate)
		gi, ok := byConfig[k]
		if !ok {
			gi = len(groups)
			byConfig[k] = gi
			groups = append(groups, nil)
		}
		groups[gi] = append(groups[gi], j)
	}
	log := awsapi.LoggerFrom(ctx)
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := h.decode(ctx, ffmpeg, q, g)
			if err != nil && len(g) > 1 && ctx.Err() == nil {
				out, err = make([][]byte, len(g)), nil
				for i, j := range g {
					one, err1 := h.decode(ctx, ffmpeg, q, []*decodeJob{j})
					if err1 == nil {
						out[i] = one[0]
					} else if log != nil {
						log.Warn("GetImages: decode failed", "err", err1)
					}
				}
			} else if err != nil && log != nil {
				log.Warn("GetImages: decode failed", "err", err)
			}
			for gi, j := range g {
				var content string
				if err == nil && out[gi] != nil {
					content = base64.StdEncoding.EncodeToString(out[gi])
				}
				for _, i := range j.images {
					if content == "" {
						imgs[i].Error = imageMediaError
					} else {
						imgs[i].ImageContent = content
					}
				}
			}
		}()
	}
	wg.Wait()
}

// limitedBuffer keeps up to max bytes and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if n := b.max - b.Len(); n < len(p) {
		b.Buffer.Write(p[:max(n, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// decode turns key frames that share one codec configuration into JPEG or
// PNG images with one ffmpeg run, which writes one file per frame into a
// temporary directory. It fails unless every frame gave an image of at
// most maxImageBytes.
func (h *images) decode(ctx context.Context, ffmpeg string, q *imageQuery, jobs []*decodeJob) ([][]byte, error) {
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var es []byte
	var format string
	for _, j := range jobs {
		b, f, err := annexBKeyFrame(j.track, j.frame)
		if err != nil {
			return nil, err
		}
		es, format = append(es, b...), f
	}
	dir, err := os.MkdirTemp("", "openkvs-images-")
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	defer os.RemoveAll(dir)
	ext := ".jpg"
	if q.png {
		ext = ".png"
	}
	// Each key frame is an IDR picture: one decoded frame each, kept
	// one for one (-vsync passthrough).
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-f", format, "-i", "pipe:0",
		"-vsync", "passthrough", "-frames:v", strconv.Itoa(len(jobs))}
	if q.width > 0 || q.height > 0 {
		w, hh := q.width, q.height
		if w == 0 {
			w = -1 // keep the aspect ratio
		}
		if hh == 0 {
			hh = -1
		}
		args = append(args, "-vf", fmt.Sprintf("scale=%d:%d", w, hh))
	}
	if q.png {
		args = append(args, "-c:v", "png")
	} else {
		// JPEGQuality 100 is mjpeg's best qscale (2), 1 its worst (31).
		qs := 2 + (100-q.quality)*29/99
		args = append(args, "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", strconv.Itoa(qs))
	}
	args = append(args, "-f", "image2", filepath.Join(dir, "%06d"+ext))
	ctx, cancel := context.WithTimeout(ctx, h.cfg.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	cmd.Stdin = bytes.NewReader(es)
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	out := make([][]byte, len(jobs))
	for i := range out {
		name := filepath.Join(dir, fmt.Sprintf("%06d%s", i+1, ext))
		st, err := os.Stat(name)
		if err != nil {
			return nil, fmt.Errorf("ffmpeg made %d of %d images: %s", i, len(jobs), bytes.TrimSpace(stderr.Bytes()))
		}
		if st.Size() > maxImageBytes {
			return nil, fmt.Errorf("image %d is %d bytes, more than %d", i, st.Size(), maxImageBytes)
		}
		if out[i], err = os.ReadFile(name); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
	}
	return out, nil
}

// annexBKeyFrame returns a key frame as an Annex-B elementary stream a
// decoder can start with: the parameter sets of the codec private data,
// then the frame's NAL units; and ffmpeg's name for its format.
func annexBKeyFrame(t fmp4.Track, frame []byte) ([]byte, string, error) {
	var params [][]byte
	var lengthSize int
	var format string
	switch t.Codec {
	case fmp4.H264:
		c, err := h26x.ParseAVCDecoderConfig(t.CodecPrivate)
		if err != nil {
			return nil, "", fmt.Errorf("codec private data: %w", err)
		}
		params = append(append(params, c.SPS...), c.PPS...)
		lengthSize, format = c.LengthSize, "h264"
	case fmp4.H265:
		c, err := h26x.ParseHEVCDecoderConfig(t.CodecPrivate)
		if err != nil {
			return nil, "", fmt.Errorf("codec private data: %w", err)
		}
		params = append(append(append(params, c.VPS()...), c.SPS()...), c.PPS()...)
		lengthSize, format = c.LengthSize, "hevc"
	default:
		return nil, "", fmt.Errorf("codec %v is not video", t.Codec)
	}
	nalus, err := h26x.SplitLengthPrefixed(frame, lengthSize)
	if err != nil {
		return nil, "", fmt.Errorf("key frame: %w", err)
	}
	var b []byte
	for _, n := range append(params, nalus...) {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b, format, nil
}
