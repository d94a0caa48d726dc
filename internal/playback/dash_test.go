package playback

import (
	"encoding/xml"
	"net/http"
	"strings"
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
	// LIVE: dynamic, newest fragments only, updated as they arrive.
	e.put("cam", tf, 0, base.Add(10*time.Second))
	m, raw = get(map[string]any{"MaxManifestFragmentResults": 3})
	if m.Type != "dynamic" || len(m.Period.AdaptationSets[0].Representations[0].SegmentList.URLs) != 3 || strings.Contains(raw, "kvs:fn=") {
		t.Errorf("live manifest:\n%s", raw)
	}
}
