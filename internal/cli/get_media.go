package cli

import (
	"bytes"
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
	stream       string
	selector     string
	fragment     string
	startTime    string
	token        string
	out          string
	maxFragments int
	duration     time.Duration
}

func newGetMediaCmd(s streams) *cobra.Command {
	var af awsFlags
	var o getMediaOptions
	cmd := &cobra.Command{
		Use:   "get-media --stream NAME [flags]",
		Short: "Write a stream's media as MKV from a start selector (GetMedia)",
		Long: `get-media calls GetMedia on the stream's GET_MEDIA data endpoint and writes the
MKV it returns (one document per fragment, with the KVS fragment tags) to
--out or stdout. It follows the live edge until --max-fragments fragments or
--duration have been written, the service ends the stream, or it is
interrupted; output always ends at a whole fragment.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.stream == "" {
				return errors.New("--stream is required")
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
	fl.IntVar(&o.maxFragments, "max-fragments", 0, "stop after this many fragments (0: no limit)")
	fl.DurationVar(&o.duration, "duration", 0, "stop after this long (0: no limit)")
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
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	resp, err := getMedia(ctx, cfg, aws.ToString(ep.DataEndpoint), map[string]any{"StreamName": o.stream, "StartSelector": sel})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, written, err := copyFragments(out, resp.Body, o.maxFragments)
	fmt.Fprintf(s.err, "get-media: %d fragments, %s\n", n, formatBytes(written))
	if err != nil && ctx.Err() != nil && (o.duration > 0 || errors.Is(ctx.Err(), context.Canceled)) {
		return nil // stopped by --duration or Ctrl-C, at a fragment boundary
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

// copyFragments copies the GetMedia stream r to w a whole fragment at a
// time (each chunk ends after the Tags that follow its Cluster), stopping
// after limit fragments when limit > 0. A chunk carrying the KVS error tags
// ends the copy with that error.
func copyFragments(w io.Writer, r io.Reader, limit int) (n int, written int64, err error) {
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
	afterCluster := false
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return n, written, flush(rd.Offset())
		}
		if err != nil {
			return n, written, fmt.Errorf("GetMedia stream: %w", err)
		}
		switch ev {
		case mkv.EventHeader:
			// The last chunk had no Tags after its Cluster.
			if afterCluster && limit > 0 && n >= limit {
				return n, written, nil
			}
			afterCluster = false
		case mkv.EventCluster:
			n++
			afterCluster = true
			if err := flush(rd.Offset()); err != nil {
				return n, written, err
			}
		case mkv.EventTags:
			tags := rd.Tags()
			if code, ok := tags.Lookup(mkv.TagErrorCode); ok {
				id, _ := tags.Lookup(mkv.TagErrorID)
				_ = flush(rd.Offset())
				return n, written, fmt.Errorf("GetMedia stream ended with error %s (%s)", code, id)
			}
			if afterCluster {
				afterCluster = false
				if err := flush(rd.Offset()); err != nil {
					return n, written, err
				}
				if limit > 0 && n >= limit {
					return n, written, nil
				}
			}
		}
	}
}
