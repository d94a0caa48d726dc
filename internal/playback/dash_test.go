package playback

import (
	"bytes"
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
			in := tf.frames(base, 0, len(tf.clusters))
			checkFrames(t, only(in, 1), ffmpegFramecrcMap(t, u, "0:v"), true)
			checkFrames(t, only(in, 2), ffmpegFramecrcMap(t, u, "0:a"), true)
		})
	}
}

// mpd is the part of a manifest the tests look at.
type mpd struct {
	Type   string `xml:"type,attr"`
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
	sl := v.Representations[0].SegmentList
	if len(sl.Timeline) != 4 || len(sl.URLs) != 4 || !strings.Contains(sl.Init.URL, "TrackNumber=1") {
		t.Fatalf("segment list:\n%s", raw)
	}
	for i, s := range sl.Timeline {
		if s.T != fs[i].ProducerTime.UnixMilli() || s.D != fs[i].Duration.Milliseconds() || !strings.Contains(sl.URLs[i].Media, fs[i].Number.String()) {
			t.Errorf("segment %d: t=%d d=%d %s", i, s.T, s.D, sl.URLs[i].Media)
		}
	}
	if !strings.Contains(raw, `kvs:fn="`+fs[0].Number.String()+`"`) || !strings.Contains(raw, `kvs:ts="`) {
		t.Errorf("no kvs:fn / kvs:ts:\n%s", raw)
	}
	// LIVE: dynamic, newest fragments only, addressed by $Time$.
	newest := e.put("cam", tf, 0, base.Add(10*time.Second))
	m, raw = get(map[string]any{"MaxManifestFragmentResults": 3})
	st := m.Period.AdaptationSets[0].Representations[0].SegmentTemplate
	if m.Type != "dynamic" || len(st.Timeline) != 3 || !strings.Contains(st.Media, "ProducerTime=$Time$") || strings.Contains(raw, "kvs:fn=") {
		t.Fatalf("live manifest:\n%s", raw)
	}
	if last := st.Timeline[2]; last.T != newest.ProducerTime.UnixMilli() {
		t.Errorf("newest segment t=%d, want %d", last.T, newest.ProducerTime.UnixMilli())
	}
	// The template resolves to the newest fragment, and only to a
	// fragment start.
	u := e.sessionURL("getDASHStreamingSessionURL", map[string]any{"StreamName": "cam"})
	tmpl := strings.ReplaceAll(st.Media, "$Time$", strconv.FormatInt(st.Timeline[2].T, 10))
	tmpl = tmpl[:strings.Index(tmpl, "SessionToken=")] + u[strings.Index(u, "SessionToken="):]
	if status, _, seg := e.get(resolve(t, u, tmpl)); status != http.StatusOK || !bytes.Contains(seg, []byte("moof")) {
		t.Errorf("segment by time: %d", status)
	}
	if status, _, _ := e.get(resolve(t, u, strings.Replace(tmpl, "ProducerTime="+strconv.FormatInt(st.Timeline[2].T, 10), "ProducerTime="+strconv.FormatInt(st.Timeline[2].T+1, 10), 1))); status != http.StatusNotFound {
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
	in := only(tf.frames(base, 0, len(tf.clusters)), 1)
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
