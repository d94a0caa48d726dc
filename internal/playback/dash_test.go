package playback

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDASHOnDemandWithFFmpeg plays an ON_DEMAND DASH session with ffmpeg
// and checks every frame of both tracks, byte for byte.
func TestDASHOnDemandWithFFmpeg(t *testing.T) {
	needFFmpeg(t)
	for _, file := range []string{h264AAC, h265Opus} {
		t.Run(file[len(file)-13:], func(t *testing.T) {
			e := newEnv(t, false)
			e.createStream("cam", 24)
			tf := loadFile(t, file)
			base := e.clock().Add(-time.Hour)
			e.putAll("cam", tf, base)
			u := e.sessionURL("getDASHStreamingSessionURL", map[string]any{
				"StreamName": "cam", "PlaybackMode": "ON_DEMAND",
				"DASHFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Minute)),
			})
			if !strings.HasPrefix(u, e.srv.URL+"/dash/v1/getDASHManifest.mpd?SessionToken=") {
				t.Fatalf("session URL %s", u)
			}
			// Track by track: ffmpeg's DASH demuxer (5.1) stops at the
			// end of the first representation, losing audio frames
			// timed after the last video frame.
			// Media time counts from the session's first fragment.
			in := tf.frames(sessionZero, 0, len(tf.clusters))
			checkFrames(t, only(in, 1), ffmpegFramecrcMap(t, u, "0:v"), true)
			checkFrames(t, only(in, 2), ffmpegFramecrcMap(t, u, "0:a"), true)
		})
	}
}

// mpd is the part of a manifest the tests look at.
type mpd struct {
	Type   string `xml:"type,attr"`
	AST    string `xml:"availabilityStartTime,attr"`
	Period struct {
		AdaptationSets []struct {
			ContentType     string `xml:"contentType,attr"`
			Representations []struct {
				Codecs      string `xml:"codecs,attr"`
				Width       int    `xml:"width,attr"`
				SegmentList struct {
					Init struct {
						URL string `xml:"sourceURL,attr"`
					} `xml:"Initialization"`
					Timeline []struct {
						T int64 `xml:"t,attr"`
						D int64 `xml:"d,attr"`
					} `xml:"SegmentTimeline>S"`
					URLs []struct {
						Media string `xml:"media,attr"`
					} `xml:"SegmentURL"`
				} `xml:"SegmentList"`
				SegmentTemplate struct {
					Init     string `xml:"initialization,attr"`
					Media    string `xml:"media,attr"`
					Timeline []struct {
						T int64 `xml:"t,attr"`
						D int64 `xml:"d,attr"`
					} `xml:"SegmentTimeline>S"`
				} `xml:"SegmentTemplate"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
	Raw string `xml:"-"`
}

func TestDASHManifest(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock().Add(-time.Hour)
	fs := e.putAll("cam", tf, base)
	get := func(req map[string]any) (mpd, string) {
		t.Helper()
		req["StreamName"] = "cam"
		u := e.sessionURL("getDASHStreamingSessionURL", req)
		status, hdr, body := e.get(u)
		if status != http.StatusOK || hdr.Get("Content-Type") != mpdType {
			t.Fatalf("manifest: %d %s", status, body)
		}
		var m mpd
		if err := xml.Unmarshal(body, &m); err != nil {
			t.Fatalf("manifest is not XML: %v\n%s", err, body)
		}
		return m, string(body)
	}
	m, raw := get(map[string]any{"PlaybackMode": "ON_DEMAND", "DisplayFragmentTimestamp": "ALWAYS", "DisplayFragmentNumber": "ALWAYS",
		"DASHFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Minute))})
	if m.Type != "static" || len(m.Period.AdaptationSets) != 2 {
		t.Fatalf("manifest:\n%s", raw)
	}
	v := m.Period.AdaptationSets[0]
	if v.ContentType != "video" || !strings.HasPrefix(v.Representations[0].Codecs, "avc1.") || v.Representations[0].Width != 160 {
		t.Errorf("video adaptation set:\n%s", raw)
	}
	// No SegmentList: ffmpeg truncates SegmentURLs longer than the
	// manifest URL plus a little, and ours carry 47-digit fragment
	// numbers.
	if strings.Contains(raw, "<SegmentList") {
		t.Errorf("static manifest with a SegmentList:\n%s", raw)
	}
	sl := v.Representations[0].SegmentTemplate
	if len(sl.Timeline) != 4 || !strings.Contains(sl.Init, "TrackNumber=1") || !strings.Contains(sl.Media, "Time=$Time$") {
		t.Fatalf("segment template:\n%s", raw)
	}
	od := e.sessionURL("getDASHStreamingSessionURL", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND",
		"DASHFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Minute))})
	for i, s := range sl.Timeline {
		if s.T != fs[i].ProducerTime.Sub(base).Milliseconds() || s.D != fs[i].Duration.Milliseconds() {
			t.Errorf("segment %d: t=%d d=%d", i, s.T, s.D)
		}
		// $Time$ names the fragment: its moof carries the fragment
		// number's millisecond part as the sequence number.
		u := strings.ReplaceAll(strings.ReplaceAll(sl.Media, "$Time$", strconv.FormatInt(s.T, 10)), "&amp;", "&")
		u = u[:strings.Index(u, "SessionToken=")] + od[strings.Index(od, "SessionToken="):]
		status, _, seg := e.get(resolve(t, od, u))
		if seq := uint32(fs[i].Number.Millis); status != http.StatusOK || len(seg) < 24 || binary.BigEndian.Uint32(seg[20:]) != seq {
			t.Errorf("segment %d by time: %d, want fragment %s", i, status, fs[i].Number)
		}
	}
	if !strings.Contains(raw, `kvs:fn="`+fs[0].Number.String()+`"`) || !strings.Contains(raw, `kvs:ts="`) {
		t.Errorf("no kvs:fn / kvs:ts:\n%s", raw)
	}
	// LIVE: dynamic, newest fragments only, addressed by $Time$.
	newest := e.put("cam", tf, 0, base.Add(10*time.Second))
	m, raw = get(map[string]any{"MaxManifestFragmentResults": 3})
	st := m.Period.AdaptationSets[0].Representations[0].SegmentTemplate
	// A player computes the newest segment available (availabilityStartTime
	// + t + d, ISO/IEC 23009-1 §5.3.9.5.3) when the server has had it
	// whole: its server time, its duration and a margin, not at its
	// producer time (an hour earlier here).
	ast, err := time.Parse(time.RFC3339Nano, m.AST)
	if err != nil || len(st.Timeline) == 0 {
		t.Fatalf("live manifest: %v\n%s", err, raw)
	}
	n := st.Timeline[len(st.Timeline)-1]
	if avail, want := ast.Add(time.Duration(n.T+n.D)*time.Millisecond), newest.ServerTime().Add(newest.Duration.Truncate(time.Millisecond)+availabilityMargin); !avail.Equal(want) {
		t.Errorf("newest segment available at %v, want %v (server time %v)", avail, want, newest.ServerTime())
	}
	if m.Type != "dynamic" || len(st.Timeline) != 3 || !strings.Contains(st.Media, "Time=$Time$") || strings.Contains(raw, "kvs:fn=") {
		t.Fatalf("live manifest:\n%s", raw)
	}
	// The live session's media time starts at the first fragment it
	// lists.
	if first, last := st.Timeline[0], st.Timeline[2]; first.T != 0 || last.T != newest.ProducerTime.Sub(fs[2].ProducerTime).Milliseconds() {
		t.Errorf("segments at t=%d..%d, want 0..%d", first.T, last.T, newest.ProducerTime.Sub(fs[2].ProducerTime).Milliseconds())
	}
	// The template resolves to the newest fragment, and only to a
	// fragment start.
	// (A session like the first: the same media timeline.)
	u := e.sessionURL("getDASHStreamingSessionURL", map[string]any{"StreamName": "cam", "MaxManifestFragmentResults": 3})
	tmpl := strings.ReplaceAll(st.Media, "$Time$", strconv.FormatInt(st.Timeline[2].T, 10))
	tmpl = tmpl[:strings.Index(tmpl, "SessionToken=")] + u[strings.Index(u, "SessionToken="):]
	if status, _, seg := e.get(resolve(t, u, tmpl)); status != http.StatusOK || !bytes.Contains(seg, []byte("moof")) {
		t.Errorf("segment by time: %d", status)
	}
	if status, _, _ := e.get(resolve(t, u, strings.Replace(tmpl, "Time="+strconv.FormatInt(st.Timeline[2].T, 10), "Time="+strconv.FormatInt(st.Timeline[2].T+1, 10), 1))); status != http.StatusNotFound {
		t.Errorf("segment at a time inside a fragment: %d, want 404", status)
	}
}

// TestDASHLiveWithFFmpeg plays a LIVE DASH session while fragments are
// added (one each time the player reloads the manifest) and checks that
// ffmpeg reads every video frame of every fragment, byte for byte.
func TestDASHLiveWithFFmpeg(t *testing.T) {
	needFFmpeg(t)
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock()
	e.put("cam", tf, 0, base)
	var mu sync.Mutex
	next := 1
	putErr := make(chan error, len(tf.clusters))
	e.onRequest = func(r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/getDASHManifest.mpd") {
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
	u := e.sessionURL("getDASHStreamingSessionURL", map[string]any{"StreamName": "cam"})
	in := only(tf.frames(sessionZero, 0, len(tf.clusters)), 1)
	// ffmpeg follows a live manifest until stopped: stop it after the
	// last video frame.
	out := ffmpegRun(t, nil, u, []string{"-map", "0:v", "-frames:v", strconv.Itoa(len(in))})
	select {
	case err := <-putErr:
		t.Fatal(err)
	default:
	}
	checkFrames(t, in, out, true)
}

// TestDASHLiveWaitsForNextSegment: in a LIVE session, a request for the
// segment that follows the newest fragment waits for it to arrive instead
// of answering 404 (ffmpeg asks for it as soon as it has played the listed
// ones and retries at once, thousands of times a second); any other time
// that is no fragment start is a 404 at once.
func TestDASHLiveWaitsForNextSegment(t *testing.T) {
	e := newEnvSessions(t, false, SessionConfig{LiveSegmentWait: time.Hour})
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock().Add(-5 * time.Second)
	fs := e.putAll("cam", tf, base)
	u := e.sessionURL("getDASHStreamingSessionURL", map[string]any{"StreamName": "cam", "MaxManifestFragmentResults": 2})
	m, raw := e.dashManifest(u)
	st := m.Period.AdaptationSets[0].Representations[0].SegmentTemplate
	if len(st.Timeline) != 2 {
		t.Fatalf("manifest:\n%s", raw)
	}
	last := st.Timeline[1]
	at := func(ms int64) string {
		return resolve(t, u, strings.ReplaceAll(strings.ReplaceAll(st.Media, "$Time$", strconv.FormatInt(ms, 10)), "&amp;", "&"))
	}
	get := func(url string) <-chan int {
		done := make(chan int, 1)
		go func() {
			resp, err := http.Get(url)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		return done
	}
	for _, ms := range []int64{last.T + 1, last.T + last.D/2, last.T + last.D + time.Hour.Milliseconds() + 1} {
		select {
		case status := <-get(at(ms)):
			if status != http.StatusNotFound {
				t.Errorf("time %d: %d, want 404", ms, status)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("time %d: no answer: it waited for a fragment that is not the next", ms)
		}
	}
	done := get(at(last.T + last.D))
	select {
	case status := <-done:
		t.Fatalf("answered %d before the next fragment arrived", status)
	case <-time.After(200 * time.Millisecond):
	}
	prev := fs[len(fs)-1]
	e.put("cam", tf, 0, prev.ProducerTime.Add(prev.Duration))
	select {
	case status := <-done:
		if status != http.StatusOK {
			t.Fatalf("next segment: %d, want 200", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not end when the fragment arrived")
	}
}
