package playback

import (
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
)

// tfdts returns the baseMediaDecodeTime of each track fragment of an fMP4
// media segment, by track ID.
func tfdts(t testing.TB, seg []byte) map[uint32]uint64 {
	t.Helper()
	out := map[uint32]uint64{}
	var id uint32
	for i := 4; i+8 <= len(seg); i++ {
		switch string(seg[i : i+4]) {
		case "tfhd":
			id = binary.BigEndian.Uint32(seg[i+8:])
		case "tfdt":
			if seg[i+4] == 1 {
				out[id] = binary.BigEndian.Uint64(seg[i+8:])
			} else {
				out[id] = uint64(binary.BigEndian.Uint32(seg[i+8:]))
			}
		case "mdat":
			return out
		}
	}
	t.Fatal("no mdat in the segment")
	return nil
}

// mediaSegments loads the master playlist of an HLS session, as a player
// does when it starts, and returns the media segments of its media
// playlist.
func (e *env) mediaSegments(u string) [][]byte {
	e.t.Helper()
	return e.playlistSegments(e.mediaPlaylistURL(u))
}

func (e *env) mediaPlaylistURL(u string) string {
	e.t.Helper()
	_, _, master := e.get(u)
	return resolve(e.t, u, lastLine(master))
}

// playlistSegments loads an HLS media playlist, as a player reloads it,
// and returns its media segments.
func (e *env) playlistSegments(mediaURL string) [][]byte {
	e.t.Helper()
	_, _, media := e.get(mediaURL)
	var segs [][]byte
	for _, s := range segmentURLs(e.t, mediaURL, media) {
		status, _, b := e.get(s)
		if status != http.StatusOK {
			e.t.Fatalf("%s: %d %s", s, status, b)
		}
		segs = append(segs, b)
	}
	return segs
}

// TestSessionMediaTimeline checks the decode times of fMP4 segments: they
// count from the session's first fragment (ON_DEMAND) or the first fragment
// its first playlist lists (LIVE), not from 1970, whose decades GStreamer's
// clock would wait out; every segment of a session is on one timeline; and
// sessions with other starts share the remuxed segments without seeing
// each other's times.
func TestSessionMediaTimeline(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock().Add(-10 * time.Second)
	fs := e.putAll("cam", tf, base)
	// The first decode time of each track in producer time, less the
	// session's zero, in the track's timescale.
	want := func(f, zero *archive.Fragment) map[uint32]uint64 {
		t.Helper()
		mh, err := parseHeader(f.Header)
		if err != nil {
			t.Fatal(err)
		}
		f, err = e.arch.Get("cam", f.Number)
		if err != nil {
			t.Fatal(err)
		}
		cluster, err := e.arch.ReadCluster("cam", f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := demux(mh, f, cluster)
		if err != nil {
			t.Fatal(err)
		}
		out := map[uint32]uint64{}
		for i, tr := range fmp4Fragment(mh, d, 0, nil) {
			ts := mh.tracks[i].track.Timescale
			out[tr.TrackID] = tr.Samples[0].DecodeTime - ticks(zero.ProducerTime.UnixNano(), ts)
		}
		return out
	}
	check := func(name string, segs [][]byte, frags []*archive.Fragment, zero *archive.Fragment) {
		t.Helper()
		if len(segs) != len(frags) {
			t.Fatalf("%s: %d segments, want %d", name, len(segs), len(frags))
		}
		for i, seg := range segs {
			got, w := tfdts(t, seg), want(frags[i], zero)
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("%s: segment %d tfdt %v, want %v", name, i, got, w)
			}
		}
	}
	onDemand := func(from int) string {
		return e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND",
			"HLSFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", fs[from].ProducerTime, base.Add(time.Minute))})
	}
	check("ON_DEMAND", e.mediaSegments(onDemand(0)), fs, fs[0])
	// A session starting one fragment later, served from the same cache.
	check("ON_DEMAND from fragment 1", e.mediaSegments(onDemand(1)), fs[1:], fs[1])
	check("ON_DEMAND again", e.mediaSegments(onDemand(0)), fs, fs[0])
	// LIVE with two fragments a playlist: media time 0 is the first
	// fragment of the first playlist the player loads, and stays so as the
	// window slides.
	live := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam", "MaxMediaPlaylistFragmentResults": 2})
	player := e.mediaPlaylistURL(live)
	check("LIVE", e.playlistSegments(player), fs[len(fs)-2:], fs[len(fs)-2])
	last := fs[len(fs)-1]
	next := e.put("cam", tf, 0, last.ProducerTime.Add(last.Duration))
	check("LIVE, slid", e.playlistSegments(player), []*archive.Fragment{last, next}, fs[len(fs)-2])
	// A MediaBase that is no time in milliseconds is refused.
	for _, bad := range []string{"x", "-1", "99999999999999999999", "1e3"} {
		u := strings.Replace(player, "MediaBase=", "MediaBase="+bad+"&Was=", 1)
		if status, _, body := e.get(u); status != http.StatusBadRequest || !strings.Contains(string(body), "InvalidArgumentException") {
			t.Errorf("MediaBase=%s: %d %s, want 400 InvalidArgumentException", bad, status, body)
		}
	}
	// A player that starts later starts at 0 too: GStreamer's clock
	// starts where its first playlist does.
	check("LIVE, a later player", e.mediaSegments(live), []*archive.Fragment{last, next}, last)
	// The session's DASH manifest and segments are on the timeline of
	// the session's start.
	dash := e.sessionURL("getDASHStreamingSessionURL", map[string]any{"StreamName": "cam", "MaxManifestFragmentResults": 2})
	m, raw := e.dashManifest(dash)
	st := m.Period.AdaptationSets[0].Representations[0].SegmentTemplate
	if len(st.Timeline) != 2 || st.Timeline[0].T != 0 || st.Timeline[1].T != next.ProducerTime.Sub(last.ProducerTime).Milliseconds() {
		t.Fatalf("live manifest:\n%s", raw)
	}
	for i, f := range []*archive.Fragment{last, next} {
		u := resolve(t, dash, strings.ReplaceAll(strings.ReplaceAll(st.Media, "$Time$", strconv.FormatInt(st.Timeline[i].T, 10)), "&amp;", "&"))
		status, _, seg := e.get(u)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", u, status, seg)
		}
		if got, w := tfdts(t, seg)[1], want(f, last)[1]; got != w {
			t.Errorf("DASH segment %d: video tfdt %d, want %d", i, got, w)
		}
	}
}

// dashManifest loads and parses the manifest of a DASH session.
func (e *env) dashManifest(u string) (mpd, string) {
	e.t.Helper()
	status, _, body := e.get(u)
	if status != http.StatusOK {
		e.t.Fatalf("manifest: %d %s", status, body)
	}
	var m mpd
	if err := xml.Unmarshal(body, &m); err != nil {
		e.t.Fatalf("manifest is not XML: %v\n%s", err, body)
	}
	return m, string(body)
}
