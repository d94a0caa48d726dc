package cli

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/spf13/cobra"

	"github.com/openkvs/openkvs/media/mkv"
)

// getMediaOptions are get-media's flags.
type getMediaOptions struct {
	stream    string
	selector  string
	fragment  string
	startTime string
	token     string
	out       string
	stops     stops
	untilNow  bool
	timeout   time.Duration
}

func newGetMediaCmd(s streams) *cobra.Command {
	var af awsFlags
	var o getMediaOptions
	cmd := &cobra.Command{
		Use:   "get-media --stream NAME [flags]",
		Short: "Write a stream's media as MKV from a start selector (GetMedia)",
		Long: `get-media calls GetMedia on the stream's GET_MEDIA data endpoint and writes the
MKV it returns (one document per fragment, with the KVS fragment tags) to
--out or stdout. Output always ends at a whole fragment.

GetMedia follows the live edge: once it has sent the stream's newest fragment
it waits for the next one, so without a stop get-media runs until the
service ends the stream or it is interrupted. It stops at the first of:
  --fragments N    N fragments written
  --duration D     D of media written, counted in producer time from the
                   first fragment's start to the end of the last one (so
                   "--start-selector PRODUCER_TIMESTAMP --start-time T
                   --duration 1m" writes the minute from T, however fast the
                   archive reads; whole fragments, so possibly a little more)
  --until-now      the fragment that was the stream's newest when the
                   command started has been written (found with a first
                   GetMedia from NOW; on a stream without fragments, the
                   first one that arrives)
  --timeout D      D of wall-clock time passed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.stream == "" {
				return errors.New("--stream is required")
			}
			if o.stops.fragments < 0 || o.stops.duration < 0 || o.timeout < 0 {
				return errors.New("--fragments, --duration and --timeout must not be negative")
			}
			return runGetMedia(cmd.Context(), s, &af, &o)
		},
	}
	af.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.stream, "stream", "", "stream name (required)")
	fl.StringVar(&o.selector, "start-selector", "NOW", "NOW, EARLIEST, FRAGMENT_NUMBER, PRODUCER_TIMESTAMP, SERVER_TIMESTAMP or CONTINUATION_TOKEN")
	fl.StringVar(&o.fragment, "fragment", "", "fragment number to start after (FRAGMENT_NUMBER)")
	fl.StringVar(&o.startTime, "start-time", "", "start time for the *_TIMESTAMP selectors: RFC 3339 or epoch seconds")
	fl.StringVar(&o.token, "continuation-token", "", "continuation token (CONTINUATION_TOKEN)")
	fl.StringVarP(&o.out, "out", "o", "-", "output file, - for stdout")
	fl.IntVar(&o.stops.fragments, "fragments", 0, "stop after this many fragments (0: no limit)")
	fl.IntVar(&o.stops.fragments, "max-fragments", 0, "same as --fragments")
	_ = fl.MarkHidden("max-fragments")
	fl.DurationVar(&o.stops.duration, "duration", 0, "stop after this much media (producer) time (0: no limit)")
	fl.BoolVar(&o.untilNow, "until-now", false, "stop after the fragment that was the newest when the command started")
	fl.DurationVar(&o.timeout, "timeout", 0, "stop after this much wall-clock time (0: no limit)")
	return cmd
}

// startSelector builds GetMedia's StartSelector from the flags.
func (o *getMediaOptions) startSelector() (map[string]any, error) {
	sel := strings.ToUpper(o.selector)
	m := map[string]any{"StartSelectorType": sel}
	switch sel {
	case "NOW", "EARLIEST":
	case "FRAGMENT_NUMBER":
		if o.fragment == "" {
			return nil, errors.New("--start-selector FRAGMENT_NUMBER needs --fragment")
		}
		m["AfterFragmentNumber"] = o.fragment
	case "PRODUCER_TIMESTAMP", "SERVER_TIMESTAMP":
		if o.startTime == "" {
			return nil, fmt.Errorf("--start-selector %s needs --start-time", sel)
		}
		t, err := parseTime(o.startTime)
		if err != nil {
			return nil, err
		}
		m["StartTimestamp"] = json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1e3, 'f', 3, 64))
	case "CONTINUATION_TOKEN":
		if o.token == "" {
			return nil, errors.New("--start-selector CONTINUATION_TOKEN needs --continuation-token")
		}
		m["ContinuationToken"] = o.token
	default:
		return nil, fmt.Errorf("unknown --start-selector %q", o.selector)
	}
	return m, nil
}

// parseTime accepts RFC 3339 or epoch seconds with a fraction.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := mkv.ParseTimestamp(s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--start-time %q: want RFC 3339 or epoch seconds", s)
}

func runGetMedia(ctx context.Context, s streams, af *awsFlags, o *getMediaOptions) error {
	sel, err := o.startSelector()
	if err != nil {
		return err
	}
	cfg, err := af.load(ctx)
	if err != nil {
		return err
	}
	ep, err := kinesisvideo.NewFromConfig(cfg).GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{
		StreamName: aws.String(o.stream), APIName: types.APINameGetMedia,
	})
	if err != nil {
		return fmt.Errorf("GetDataEndpoint: %w", err)
	}
	var out io.Writer = s.out
	if o.out != "-" {
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	// Stopped by --timeout or Ctrl-C: the output ends at a fragment
	// boundary, which is all that was asked for.
	stopped := func() bool {
		return ctx.Err() != nil && (o.timeout > 0 || errors.Is(ctx.Err(), context.Canceled))
	}
	var (
		n       int
		written int64
		resp    *http.Response
	)
	endpoint := aws.ToString(ep.DataEndpoint)
	if o.untilNow {
		o.stops.until, err = newestFragment(ctx, cfg, endpoint, o.stream)
	}
	if err == nil {
		resp, err = getMedia(ctx, cfg, endpoint, map[string]any{"StreamName": o.stream, "StartSelector": sel})
	}
	if err == nil {
		n, written, err = copyFragments(out, resp.Body, o.stops)
		resp.Body.Close()
	}
	fmt.Fprintf(s.err, "get-media: %d fragments, %s\n", n, formatBytes(written))
	if err != nil && stopped() {
		return nil
	}
	return err
}

// getMedia sends the signed POST /getMedia and returns the streaming
// response, or KVS' error.
func getMedia(ctx context.Context, cfg aws.Config, endpoint string, body any) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/getMedia", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("GetMedia: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(b)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kinesisvideo", cfg.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign GetMedia: %w", err)
	}
	var client aws.HTTPClient = cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GetMedia: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Type    string `json:"__type"`
			Message string
		}
		_ = json.Unmarshal(msg, &e)
		if t := resp.Header.Get("x-amzn-ErrorType"); t != "" {
			e.Type = t
		}
		if e.Message == "" {
			e.Message = strings.TrimSpace(string(msg))
		}
		return nil, fmt.Errorf("GetMedia: HTTP %d %s: %s", resp.StatusCode, e.Type, e.Message)
	}
	return resp, nil
}

// stops are where get-media ends besides the end of the GetMedia stream;
// zero values do not stop.
type stops struct {
	// fragments: after this many fragments.
	fragments int
	// duration: once the fragments cover this much producer time, from the
	// first one's start to the end of the last one.
	duration time.Duration
	// until: after the fragment with this number, or the first one after
	// it (--until-now: the stream's newest when the command started).
	until string
}

// chunk is what copyFragments learns of one GetMedia chunk.
type chunk struct {
	number   string        // the fragment number (Tags before the Cluster)
	producer time.Time     // the producer timestamp (Tags before the Cluster)
	dur      time.Duration // the time its frames cover
}

// copyProgress follows the chunks copied against the stops.
type copyProgress struct {
	stops
	n          int
	mediaStart time.Time // producer timestamp of the first fragment
}

// last reports whether c, the chunk just copied, is the last one to copy.
func (p *copyProgress) last(c *chunk) bool {
	if p.n == 1 {
		p.mediaStart = c.producer
	}
	switch {
	case p.fragments > 0 && p.n >= p.fragments:
		return true
	case p.duration > 0 && c.producer.Add(c.dur).Sub(p.mediaStart) >= p.duration:
		return true
	case p.until != "" && compareNumbers(c.number, p.until) >= 0:
		return true
	}
	return false
}

// copyFragments copies the GetMedia stream r to w a whole fragment at a
// time (each chunk ends after the Tags that follow its Cluster), until the
// stream ends or one of stops is reached. A chunk carrying the KVS error
// tags ends the copy with that error.
func copyFragments(w io.Writer, r io.Reader, st stops) (n int, written int64, err error) {
	var pending bytes.Buffer
	rd := mkv.NewReader(io.TeeReader(r, &pending), mkv.ReaderConfig{})
	var flushed int64 // stream offset of pending's first byte
	flush := func(upTo int64) error {
		k := int(upTo - flushed)
		m, err := w.Write(pending.Next(k))
		written += int64(m)
		flushed = upTo
		return err
	}
	p := copyProgress{stops: st}
	var cur chunk
	afterCluster := false
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return p.n, written, flush(rd.Offset())
		}
		if err != nil {
			return p.n, written, fmt.Errorf("GetMedia stream: %w", err)
		}
		switch ev {
		case mkv.EventHeader:
			// The last chunk had no Tags after its Cluster.
			if afterCluster && p.last(&cur) {
				return p.n, written, nil
			}
			afterCluster, cur = false, chunk{}
		case mkv.EventCluster:
			c := rd.Cluster()
			scale := rd.Info().TimecodeScale
			cur.dur = c.Duration(rd.Tracks(), scale)
			if cur.producer.IsZero() { // not from GetMedia: the Cluster's own time
				cur.producer = time.Unix(0, int64(c.Timecode*scale))
			}
			p.n++
			afterCluster = true
			if err := flush(rd.Offset()); err != nil {
				return p.n, written, err
			}
		case mkv.EventTags:
			tags := rd.Tags()
			if code, ok := tags.Lookup(mkv.TagErrorCode); ok {
				id, _ := tags.Lookup(mkv.TagErrorID)
				_ = flush(rd.Offset())
				return p.n, written, fmt.Errorf("GetMedia stream ended with error %s (%s)", code, id)
			}
			if !afterCluster {
				cur.producer = tagTime(tags, mkv.TagProducerTimestamp, cur.producer)
				if v, ok := tags.Lookup(mkv.TagFragmentNumber); ok {
					cur.number = v
				}
				continue
			}
			afterCluster = false
			if err := flush(rd.Offset()); err != nil {
				return p.n, written, err
			}
			if p.last(&cur) {
				return p.n, written, nil
			}
		}
	}
}

// tagTime returns the timestamp in tag name of tags, or def.
func tagTime(tags *mkv.Tags, name string, def time.Time) time.Time {
	if v, ok := tags.Lookup(name); ok {
		if t, err := mkv.ParseTimestamp(v); err == nil {
			return t
		}
	}
	return def
}

// compareNumbers compares two fragment numbers (decimal digits) by value.
// A chunk without a number (not from GetMedia) compares as the largest.
func compareNumbers(a, b string) int {
	if a == "" {
		return 1
	}
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// newestFragment returns the number of stream's newest fragment: the first
// chunk GetMedia sends from NOW, read up to its fragment number tag. On a
// stream without fragments it waits for the first one.
func newestFragment(ctx context.Context, cfg aws.Config, endpoint, stream string) (string, error) {
	resp, err := getMedia(ctx, cfg, endpoint, map[string]any{"StreamName": stream, "StartSelector": map[string]any{"StartSelectorType": "NOW"}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	rd := mkv.NewReader(resp.Body, mkv.ReaderConfig{})
	for {
		ev, err := rd.Next()
		if err != nil {
			return "", fmt.Errorf("GetMedia from NOW: %w", err)
		}
		if ev != mkv.EventTags {
			continue
		}
		tags := rd.Tags()
		if code, ok := tags.Lookup(mkv.TagErrorCode); ok {
			return "", fmt.Errorf("GetMedia from NOW ended with error %s", code)
		}
		if n, ok := tags.Lookup(mkv.TagFragmentNumber); ok {
			return n, nil
		}
	}
}
