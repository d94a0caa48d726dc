package playback

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
)

// post sends a JSON request to op and returns the status and body.
func (e *env) post(op string, body any) (int, []byte) {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.Post(e.srv.URL+"/"+op, "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (e *env) get(u string) (int, http.Header, []byte) {
	e.t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// sessionURL asks for an HLS (or DASH) session and returns its URL.
func (e *env) sessionURL(op string, req map[string]any) string {
	e.t.Helper()
	status, body := e.post(op, req)
	if status != http.StatusOK {
		e.t.Fatalf("%s: %d %s", op, status, body)
	}
	var out map[string]string
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatal(err)
	}
	for _, v := range out {
		return v
	}
	e.t.Fatalf("%s: empty answer %s", op, body)
	return ""
}

// sessionZero is what the expected frame times of an fMP4 session are
// relative to: media time counts from the session's first fragment.
var sessionZero = time.Unix(0, 0)

// sessionBase is the base of the expected frame times of a session of
// container that starts with a fragment at producer time first: MPEG-TS
// keeps producer time (modulo 2^33 ticks).
func sessionBase(container string, first time.Time) time.Time {
	if container == "MPEG_TS" {
		return first
	}
	return sessionZero
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func rangeSelector(kind string, start, end time.Time) map[string]any {
	return map[string]any{"FragmentSelectorType": kind, "TimestampRange": map[string]any{"StartTimestamp": epoch(start), "EndTimestamp": epoch(end)}}
}

// TestHLSOnDemandWithFFmpeg plays ON_DEMAND sessions of both test files in
// both container formats to the end with ffmpeg and checks that every frame
// comes out, at its time, with its bytes (fMP4) unchanged.
func TestHLSOnDemandWithFFmpeg(t *testing.T) {
	needFFmpeg(t)
	for _, tc := range []struct {
		file, container, selector string
	}{
		{h264AAC, "FRAGMENTED_MP4", "SERVER_TIMESTAMP"},
		{h265Opus, "FRAGMENTED_MP4", "PRODUCER_TIMESTAMP"},
		{h264AAC, "MPEG_TS", "PRODUCER_TIMESTAMP"},
		{h264AAC, "MPEG_TS", "SERVER_TIMESTAMP"},
	} {
		t.Run(tc.container+"/"+tc.selector+"/"+tc.file[len(tc.file)-13:], func(t *testing.T) {
			e := newEnv(t, false)
			e.createStream("cam", 24)
			tf := loadFile(t, tc.file)
			base := e.clock().Add(-time.Hour)
			fs := e.putAll("cam", tf, base)
			start, end := base.Add(-time.Second), base.Add(time.Minute)
			if tc.selector == "SERVER_TIMESTAMP" {
				start, end = fs[0].ServerTime(), fs[len(fs)-1].ServerTime()
			}
			u := e.sessionURL("getHLSStreamingSessionURL", map[string]any{
				"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "ContainerFormat": tc.container,
				"HLSFragmentSelector": rangeSelector(tc.selector, start, end),
			})
			if !strings.HasPrefix(u, e.srv.URL+"/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=") {
				t.Fatalf("session URL %s", u)
			}
			out := ffmpegFramecrc(t, u)
			checkFrames(t, tf.frames(sessionBase(tc.container, base), 0, len(tf.clusters)), out, tc.container == "FRAGMENTED_MP4")
		})
	}
}

// TestHLSPlaylists checks the playlist tags each option produces.
func TestHLSPlaylists(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock().Add(-time.Hour)
	fs := e.putAll("cam", tf, base)
	sel := rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Minute))
	for _, tc := range []struct {
		name      string
		req       map[string]any
		want, not []string
		segments  int
	}{
		{
			name: "defaults with producer timestamps",
			req:  map[string]any{"PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": sel},
			want: []string{"#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-ENDLIST",
				`#EXT-X-MAP:URI="getMP4InitFragment.mp4?SessionToken=`, "getMP4MediaFragment.mp4?FragmentNumber=" + fs[0].Number.String()},
			not:      []string{"#EXT-X-DISCONTINUITY\n", "#EXT-X-PROGRAM-DATE-TIME"},
			segments: 4,
		},
		{
			name:     "always discontinuity, timestamps shown, two fragments",
			req:      map[string]any{"PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": sel, "DiscontinuityMode": "ALWAYS", "DisplayFragmentTimestamp": "ALWAYS", "MaxMediaPlaylistFragmentResults": 2},
			want:     []string{"#EXT-X-DISCONTINUITY\n", "#EXT-X-PROGRAM-DATE-TIME:" + base.Format("2006-01-02T15:04:05.000Z")},
			segments: 2,
		},
		{
			name:     "MPEG-TS",
			req:      map[string]any{"PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": sel, "ContainerFormat": "MPEG_TS"},
			want:     []string{"#EXT-X-VERSION:3", "getTSFragment.ts?FragmentNumber="},
			not:      []string{"#EXT-X-MAP"},
			segments: 4,
		},
		{
			name:     "live replay starts with the window",
			req:      map[string]any{"PlaybackMode": "LIVE_REPLAY", "HLSFragmentSelector": map[string]any{"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": map[string]any{"StartTimestamp": epoch(base)}}, "MaxMediaPlaylistFragmentResults": 2},
			not:      []string{"#EXT-X-ENDLIST"},
			segments: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req["StreamName"] = "cam"
			u := e.sessionURL("getHLSStreamingSessionURL", tc.req)
			status, hdr, master := e.get(u)
			if status != http.StatusOK || hdr.Get("Content-Type") != m3u8Type {
				t.Fatalf("master: %d %s", status, master)
			}
			if !strings.Contains(string(master), `CODECS="avc1.`) || !strings.Contains(string(master), "mp4a.40.2") || !strings.Contains(string(master), "RESOLUTION=160x120") {
				t.Errorf("master playlist:\n%s", master)
			}
			mediaURL := resolve(t, u, lastLine(master))
			_, _, media := e.get(mediaURL)
			for _, w := range tc.want {
				if !strings.Contains(string(media), w) {
					t.Errorf("media playlist lacks %q:\n%s", w, media)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(string(media), w) {
					t.Errorf("media playlist has %q:\n%s", w, media)
				}
			}
			checkMapAfterDiscontinuity(t, string(media))
			if n := strings.Count(string(media), "#EXTINF:"); n != tc.segments {
				t.Errorf("%d segments, want %d:\n%s", n, tc.segments, media)
			}
		})
	}
}

// TestHLSLiveReplayAdvances checks that LIVE_REPLAY adds a fragment each
// time the duration of the last one has elapsed and ends at its end time.
func TestHLSLiveReplayAdvances(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock().Add(-time.Hour)
	e.putAll("cam", tf, base)
	u := e.sessionURL("getHLSStreamingSessionURL", map[string]any{
		"StreamName": "cam", "PlaybackMode": "LIVE_REPLAY", "MaxMediaPlaylistFragmentResults": 2,
		"HLSFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(10*time.Second)),
	})
	_, _, master := e.get(u)
	mediaURL := resolve(t, u, lastLine(master))
	for i, want := range []struct {
		seq, segs int
		ended     bool
	}{{0, 2, false}, {1, 2, false}, {2, 2, true}} {
		_, _, media := e.get(mediaURL)
		m := string(media)
		if !strings.Contains(m, "#EXT-X-MEDIA-SEQUENCE:"+strconv.Itoa(want.seq)+"\n") || strings.Count(m, "#EXTINF") != want.segs || strings.Contains(m, "#EXT-X-ENDLIST") != want.ended {
			t.Fatalf("step %d: want sequence %d, %d segments, ended %v:\n%s", i, want.seq, want.segs, want.ended, m)
		}
		e.advance(1010 * time.Millisecond)
	}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func resolve(t testing.TB, base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return b.ResolveReference(r).String()
}

// segmentURLs returns the media segment URLs of a media playlist.
func segmentURLs(t testing.TB, playlistURL string, body []byte) []string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, resolve(t, playlistURL, l))
		}
	}
	return out
}

// TestHLSSegmentsWithFFprobe checks each segment type on its own: the init
// segment and each media fragment of an fMP4 session, and each TS segment.
func TestHLSSegmentsWithFFprobe(t *testing.T) {
	needFFmpeg(t)
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock().Add(-time.Hour)
	e.putAll("cam", tf, base)
	sel := rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Minute))
	for _, cont := range []string{"FRAGMENTED_MP4", "MPEG_TS"} {
		t.Run(cont, func(t *testing.T) {
			u := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "ContainerFormat": cont, "HLSFragmentSelector": sel})
			_, _, master := e.get(u)
			mediaURL := resolve(t, u, lastLine(master))
			_, _, media := e.get(mediaURL)
			segs := segmentURLs(t, mediaURL, media)
			var init []byte
			if cont == "FRAGMENTED_MP4" {
				i := strings.Index(string(media), `URI="`)
				j := strings.Index(string(media)[i+5:], `"`)
				var status int
				status, _, init = e.get(resolve(t, mediaURL, string(media)[i+5:i+5+j]))
				if status != http.StatusOK {
					t.Fatalf("init: %d %s", status, init)
				}
				probeStreams(t, init, 0)
			}

			for i, s := range segs {
				status, hdr, seg := e.get(s)
				if status != http.StatusOK {
					t.Fatalf("segment %d: %d %s", i, status, seg)
				}
				want := "video/mp4"
				if cont == "MPEG_TS" {
					want = "video/mp2t"
				}
				if hdr.Get("Content-Type") != want {
					t.Errorf("segment %d: Content-Type %q", i, hdr.Get("Content-Type"))
				}
				// Each segment plays on its own (TS) or after the
				// init segment (fMP4): every frame of its cluster.
				n := probeStreams(t, append(append([]byte(nil), init...), seg...), -1)
				if wantN := len(tf.clusters[i].frames); n != wantN {
					t.Errorf("segment %d: ffprobe counted %d packets, want %d", i, n, wantN)
				}
			}
		})
	}
}

// probeStreams runs ffprobe on data, fails on any error it reports, checks
// that it finds a video and an audio stream, and returns the packet count.
// With wantPackets ≥ 0 the count must equal it.
func probeStreams(t *testing.T, data []byte, wantPackets int) int {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type:packet=stream_index", "-of", "csv=p=0", "-")
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(stderr.String()) != "" {
		t.Fatalf("ffprobe: %v\n%s", err, stderr.String())
	}
	s := string(out)
	if !strings.Contains(s, "video") || !strings.Contains(s, "audio") {
		t.Errorf("ffprobe found streams:\n%s", s)
	}
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if f, _, _ := strings.Cut(l, ","); f == "0" || f == "1" {
			n++
		}
	}
	if wantPackets >= 0 && n != wantPackets {
		t.Errorf("ffprobe counted %d packets, want %d", n, wantPackets)
	}
	return n
}

// TestStreamingSessionErrors: bad requests get KVS' error types and
// statuses, for HLS and DASH alike.
func TestStreamingSessionErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	e.createStream("opus", 24)
	e.createStream("noretention", 0)
	e.createStream("empty", 24)
	base := e.clock().Add(-time.Hour)
	e.putAll("cam", loadFile(t, h264AAC), base)
	e.putAll("opus", loadFile(t, h265Opus), base)
	e.putAll("noretention", loadFile(t, h264AAC), base)
	e.advance(time.Minute) // the newest fragment is older than LIVE's 30 s
	inRange := rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Minute))
	for _, tc := range []struct {
		name   string
		req    map[string]any
		status int
		code   string
	}{
		{"unknown stream", map[string]any{"StreamName": "nope", "PlaybackMode": "ON_DEMAND", "X": inRange}, 404, "ResourceNotFoundException"},
		{"unknown ARN", map[string]any{"StreamARN": "arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam/1", "PlaybackMode": "ON_DEMAND", "X": inRange}, 404, "ResourceNotFoundException"},
		{"no stream", map[string]any{"PlaybackMode": "ON_DEMAND", "X": inRange}, 400, "InvalidArgumentException"},
		{"bad stream name", map[string]any{"StreamName": "a/b", "PlaybackMode": "ON_DEMAND", "X": inRange}, 400, "InvalidArgumentException"},
		{"bad mode", map[string]any{"StreamName": "cam", "PlaybackMode": "LATER"}, 400, "InvalidArgumentException"},
		{"on demand without range", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND"}, 400, "InvalidArgumentException"},
		{"on demand without end", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "X": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": epoch(base)}}}, 400, "InvalidArgumentException"},
		{"end before start", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "X": rangeSelector("SERVER_TIMESTAMP", base, base.Add(-time.Second))}, 400, "InvalidArgumentException"},
		{"range over 24 h", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "X": rangeSelector("SERVER_TIMESTAMP", base, base.Add(25*time.Hour))}, 400, "InvalidArgumentException"},
		{"bad selector type", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "X": rangeSelector("WALL_CLOCK", base, base.Add(time.Minute))}, 400, "InvalidArgumentException"},
		{"live with range", map[string]any{"StreamName": "cam", "PlaybackMode": "LIVE", "X": inRange}, 400, "InvalidArgumentException"},
		{"expires too short", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "X": inRange, "Expires": 299}, 400, "InvalidArgumentException"},
		{"expires too long", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "X": inRange, "Expires": 43201}, 400, "InvalidArgumentException"},
		{"zero results", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "X": inRange, "Max": 0}, 400, "InvalidArgumentException"},
		{"too many results", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "X": inRange, "Max": 5001}, 400, "InvalidArgumentException"},
		{"range without fragments", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "X": rangeSelector("PRODUCER_TIMESTAMP", base.Add(-3*time.Hour), base.Add(-2*time.Hour))}, 404, "ResourceNotFoundException"},
		{"replay without fragments", map[string]any{"StreamName": "cam", "PlaybackMode": "LIVE_REPLAY", "X": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": epoch(base.Add(3 * time.Hour))}}}, 404, "ResourceNotFoundException"},
		{"live without recent fragments", map[string]any{"StreamName": "cam"}, 404, "ResourceNotFoundException"},
		{"live on an empty stream", map[string]any{"StreamName": "empty"}, 404, "ResourceNotFoundException"},
		{"no retention", map[string]any{"StreamName": "noretention", "PlaybackMode": "ON_DEMAND", "X": inRange}, 400, "NoDataRetentionException"},
		{"wrong member type", map[string]any{"StreamName": 7}, 400, "SerializationException"},
	} {
		for _, op := range []string{"getHLSStreamingSessionURL", "getDASHStreamingSessionURL"} {
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				req := map[string]any{}
				for k, v := range tc.req {
					switch {
					case k == "X" && op == "getHLSStreamingSessionURL":
						k = "HLSFragmentSelector"
					case k == "X":
						k = "DASHFragmentSelector"
					case k == "Max" && op == "getHLSStreamingSessionURL":
						k = "MaxMediaPlaylistFragmentResults"
					case k == "Max":
						k = "MaxManifestFragmentResults"
					}
					req[k] = v
				}
				status, body := e.post(op, req)
				var eb struct {
					Type    string `json:"__type"`
					Message string
				}
				_ = json.Unmarshal(body, &eb)
				if status != tc.status || eb.Type != tc.code || eb.Message == "" {
					t.Errorf("%d %s, want %d %s", status, body, tc.status, tc.code)
				}
			})
		}
	}
	for _, tc := range []struct {
		name string
		req  map[string]any
		code string
	}{
		{"bad container", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": inRange, "ContainerFormat": "MKV"}, "InvalidArgumentException"},
		{"bad discontinuity mode", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": inRange, "DiscontinuityMode": "SOMETIMES"}, "InvalidArgumentException"},
		{"bad display", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": inRange, "DisplayFragmentTimestamp": "YES"}, "InvalidArgumentException"},
		{"Opus in MPEG-TS", map[string]any{"StreamName": "opus", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": inRange, "ContainerFormat": "MPEG_TS"}, "UnsupportedStreamMediaTypeException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.post("getHLSStreamingSessionURL", tc.req)
			if status != 400 || !strings.Contains(string(body), `"`+tc.code+`"`) {
				t.Errorf("%d %s, want 400 %s", status, body, tc.code)
			}
		})
	}
}

// TestHLSLiveWithFFmpeg plays a LIVE session while fragments are added
// (one each time the player reloads the media playlist) and checks that
// ffmpeg reads every frame of every fragment, including those that arrived
// after it started.
func TestHLSLiveWithFFmpeg(t *testing.T) {
	needFFmpeg(t)
	for _, cont := range []string{"FRAGMENTED_MP4", "MPEG_TS"} {
		t.Run(cont, func(t *testing.T) {
			e := newEnv(t, false)
			e.createStream("cam", 24)
			tf := loadFile(t, h264AAC)
			base := e.clock()
			e.put("cam", tf, 0, base)
			var mu sync.Mutex
			next := 1
			putErr := make(chan error, len(tf.clusters))
			e.onRequest = func(r *http.Request) {
				if !strings.HasSuffix(r.URL.Path, "/getHLSMediaPlaylist.m3u8") {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if next < len(tf.clusters) {
					if _, err := e.tryPut("cam", tf, next, base); err != nil {
						putErr <- err
					}
					next++
				}
			}
			u := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam", "ContainerFormat": cont})
			out := ffmpegFramecrc(t, u, "-live_start_index", "0", "-m3u8_hold_counters", "2")
			select {
			case err := <-putErr:
				t.Fatal(err)
			default:
			}
			mu.Lock()
			added := next
			mu.Unlock()
			if added != len(tf.clusters) {
				t.Fatalf("ffmpeg stopped after %d fragments were added", added)
			}
			checkFrames(t, tf.frames(sessionBase(cont, base), 0, len(tf.clusters)), out, cont == "FRAGMENTED_MP4")
		})
	}
}

// TestHLSLivePlaylistSlides checks the LIVE window: the newest
// MaxMediaPlaylistFragmentResults fragments, a media sequence that counts
// the ones that left, and a new fragment listed as soon as it is received
// (before it is durable).
func TestHLSLivePlaylistSlides(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock()
	fs := []*archive.Fragment{e.put("cam", tf, 0, base)}
	u := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam", "MaxMediaPlaylistFragmentResults": 2})
	_, _, master := e.get(u)
	mediaURL := resolve(t, u, lastLine(master))
	for i := 1; i < len(tf.clusters); i++ {
		// Not durable: only in the live buffer.
		f := tf.fragment(e.arch, i, base)
		if _, err := e.arch.Put("cam", f, tf.clusters[i].raw, false); err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
		_, _, media := e.get(mediaURL)
		m := string(media)
		if !strings.Contains(m, "FragmentNumber="+f.Number.String()) {
			t.Fatalf("fragment %d not listed:\n%s", i, m)
		}
		if want := "#EXT-X-MEDIA-SEQUENCE:" + strconv.Itoa(i-1) + "\n"; !strings.Contains(m, want) || strings.Count(m, "#EXTINF") != 2 || strings.Contains(m, "#EXT-X-ENDLIST") {
			t.Fatalf("after fragment %d want %q and 2 segments:\n%s", i, want, m)
		}
		if !strings.Contains(m, "#EXT-X-DISCONTINUITY-SEQUENCE:"+strconv.Itoa(i-1)) && i > 1 {
			t.Errorf("no discontinuity sequence %d:\n%s", i-1, m)
		}
	}
	// A new session's playlist: the same window, counted from its own
	// anchor.
	u2 := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam", "MaxMediaPlaylistFragmentResults": 2})
	_, _, master2 := e.get(u2)
	_, _, media := e.get(resolve(t, u2, lastLine(master2)))
	if !strings.Contains(string(media), fs[len(fs)-1].Number.String()) {
		t.Errorf("new session lacks the newest fragment:\n%s", media)
	}
}

// TestHLSDiscontinuities: ON_DISCONTINUITY marks only gaps and overlaps
// over 50 ms, and a producer that reconnects with other codec private data
// gets a discontinuity and a new EXT-X-MAP.
func TestHLSDiscontinuities(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	other := loadFile(t, h265Opus)
	base := e.clock().Add(-time.Hour)
	fs := e.putAll("cam", tf, base)
	// A 2 s gap, then the first cluster of the same file again.
	gap := e.put("cam", tf, 0, base.Add(fs[3].ProducerTime.Sub(base)+fs[3].Duration+2*time.Second))
	// Another producer header right after it.
	changed := e.put("cam", other, 0, gap.ProducerTime.Add(gap.Duration))
	u := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "DiscontinuityMode": "ON_DISCONTINUITY",
		"HLSFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Hour))})
	_, _, master := e.get(u)
	mediaURL := resolve(t, u, lastLine(master))
	_, _, media := e.get(mediaURL)
	m := string(media)
	if n := strings.Count(m, "#EXT-X-DISCONTINUITY\n"); n != 2 {
		t.Errorf("%d discontinuities, want 2 (the gap and the new header):\n%s", n, m)
	}
	if !strings.Contains(m, "&FragmentNumber="+changed.Number.String()+"\"\n") || !strings.Contains(m, "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=") {
		t.Errorf("no discontinuity and new EXT-X-MAP at the header change:\n%s", m)
	}
	if i := strings.Index(m, "getMP4MediaFragment.mp4?FragmentNumber="+gap.Number.String()); i < 0 || !strings.Contains(m[:i], "&FragmentNumber="+gap.Number.String()+"\"\n#EXTINF") ||
		!strings.HasSuffix(m[:strings.LastIndex(m[:i], "#EXT-X-MAP")], "#EXT-X-DISCONTINUITY\n") {
		t.Errorf("no discontinuity before the fragment after the gap:\n%s", m)
	}
	if n := strings.Count(m, "#EXT-X-MAP"); n != 3 {
		t.Errorf("%d EXT-X-MAP tags, want 3 (the start and both discontinuities):\n%s", n, m)
	}
	checkMapAfterDiscontinuity(t, m)
	// The second init segment describes the new codecs.
	i := strings.LastIndex(m, `#EXT-X-MAP:URI="`)
	j := strings.Index(m[i+16:], `"`)
	status, _, init := e.get(resolve(t, mediaURL, m[i+16:i+16+j]))
	if status != http.StatusOK || !bytes.Contains(init, []byte("hvcC")) || !bytes.Contains(init, []byte("dOps")) {
		t.Errorf("second init segment: %d, hvcC/dOps missing", status)
	}
	// TrackNumber selects one track of a segment.
	seg := resolve(t, mediaURL, "getMP4MediaFragment.mp4?FragmentNumber="+fs[0].Number.String()+"&TrackNumber=2&SessionToken="+u[strings.Index(u, "SessionToken=")+13:])
	status, _, audio := e.get(seg)
	if status != http.StatusOK || bytes.Count(audio, []byte("traf")) != 1 {
		t.Errorf("TrackNumber=2 segment: %d, %d trafs", status, bytes.Count(audio, []byte("traf")))
	}
}

// TestHLSLiveDiscontinuitySequence: in a LIVE window, discontinuities that
// left it are counted by EXT-X-DISCONTINUITY-SEQUENCE.
func TestHLSLiveDiscontinuitySequence(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock()
	e.put("cam", tf, 0, base)
	u := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam", "DiscontinuityMode": "ON_DISCONTINUITY", "MaxMediaPlaylistFragmentResults": 2})
	_, _, master := e.get(u)
	mediaURL := resolve(t, u, lastLine(master))
	// Fragments 1 and 2 follow on; then a 5 s gap before 3, then 0 again
	// right after it (no gap, no discontinuity).
	gapBase := base.Add(5 * time.Second)
	puts := []func(){
		func() { e.put("cam", tf, 1, base) },
		func() { e.put("cam", tf, 2, base) },
		func() { e.put("cam", tf, 3, gapBase) },
		func() { e.put("cam", tf, 0, gapBase.Add(4050*time.Millisecond)) },
		func() { e.put("cam", tf, 1, gapBase.Add(4050*time.Millisecond)) },
	}
	want := []struct {
		shown, seq int
	}{{0, 0}, {0, 0}, {1, 0}, {0, 1}, {0, 1}}
	for i, put := range puts {
		put()
		_, _, media := e.get(mediaURL)
		m := string(media)
		seq := 0
		if j := strings.Index(m, "#EXT-X-DISCONTINUITY-SEQUENCE:"); j >= 0 {
			seq, _ = strconv.Atoi(strings.TrimSpace(m[j+30 : j+30+strings.Index(m[j+30:], "\n")]))
		}
		checkMapAfterDiscontinuity(t, m)
		if shown := strings.Count(m, "#EXT-X-DISCONTINUITY\n"); shown != want[i].shown || seq != want[i].seq {
			t.Errorf("step %d: %d discontinuities shown, sequence %d; want %d, %d:\n%s", i, shown, seq, want[i].shown, want[i].seq, m)
		}
	}
}

// checkMapAfterDiscontinuity checks an fMP4 media playlist the way VLC
// reads it: VLC resets its demuxer at every EXT-X-DISCONTINUITY, so each
// one must be followed by an EXT-X-MAP before the next segment URI.
func checkMapAfterDiscontinuity(t testing.TB, playlist string) {
	t.Helper()
	if !strings.Contains(playlist, "#EXT-X-MAP") {
		return // MPEG-TS
	}
	needMap := false
	for i, line := range strings.Split(playlist, "\n") {
		switch {
		case line == "#EXT-X-DISCONTINUITY":
			needMap = true
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			needMap = false
		case line != "" && !strings.HasPrefix(line, "#"):
			if needMap {
				t.Errorf("line %d: segment %s follows an EXT-X-DISCONTINUITY without an EXT-X-MAP:\n%s", i+1, line, playlist)
				return
			}
		}
	}
}
