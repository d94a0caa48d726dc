package playback

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/h26x"
)

// HLS playlists follow RFC 8216 (HTTP Live Streaming); tag sections are
// cited below. Every URI is relative to /hls/v1/, as in KVS.

const m3u8Type = "application/vnd.apple.mpegurl"

// sampleFragment returns a fragment whose header describes the session's
// media: the newest for LIVE, else the first of the range.
func (h *sessions) sampleFragment(s *session) (*archive.Fragment, error) {
	if s.Mode == modeLive {
		f, err := h.svc.cfg.Archive.Latest(s.Stream)
		if err != nil {
			return nil, fmt.Errorf("latest fragment: %w", err)
		}
		if f == nil {
			return nil, awsapi.Errorf(awsapi.ResourceNotFound, "No fragments found in the stream %s.", s.Stream)
		}
		return f, nil
	}
	fs, _, err := h.list(s, archive.Number{}, 1)
	if err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, awsapi.Errorf(awsapi.ResourceNotFound, "No fragments found in the stream %s for the session's time range.", s.Stream)
	}
	return fs[0], nil
}

// getHLSMasterPlaylist serves the master playlist (RFC 8216 §4.3.4.2): one
// variant stream, multiplexing every track.
func (h *sessions) getHLSMasterPlaylist(w http.ResponseWriter, r *http.Request) {
	s, err := h.sessionFromRequest(r, kindHLS)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	f, err := h.sampleFragment(s)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	mh, err := h.headers.get(f.Header)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	tok := r.URL.Query().Get("SessionToken")
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	bw := int64(1)
	if f.Duration > 0 {
		bw = max(int64(float64(f.Size*8)/f.Duration.Seconds()), 1)
	}
	fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=\"%s\"", bw, mh.codecs())
	if v := mh.video(); v != nil {
		fmt.Fprintf(&b, ",RESOLUTION=%dx%d", v.track.Width, v.track.Height)
		if fr := frameRate(v); fr > 0 {
			fmt.Fprintf(&b, ",FRAME-RATE=%.3f", fr)
		}
	}
	// The media playlist's media time starts at the first fragment it
	// shows now (see mediaBaseParam): a player loads the master playlist
	// once, when it starts. An ON_DEMAND playlist always starts at the
	// session's first fragment, the token's Base.
	base := s.Base
	if s.Mode != modeOnDemand {
		if win, err := h.playlistWindow(s, tok); err == nil && len(win.frags) > 0 {
			base = win.frags[0].ProducerTime
		}
	}
	fmt.Fprintf(&b, "\ngetHLSMediaPlaylist.m3u8?SessionToken=%s&MediaBase=%d\n", tok, base.UnixMilli())
	writeResource(w, m3u8Type, []byte(b.String()), false)
}

// mediaBaseParam applies the MediaBase query parameter of HLS media
// playlist and segment requests to s: the producer time, in Unix
// milliseconds, at which the player's media time is 0. HLS players (such as
// GStreamer's) count media time from the first segment of the first media
// playlist they load, not from the session's start, so the master playlist
// names the first segment it would list then, and the media playlist passes
// it on to its segments. It only moves the player's own timeline.
func mediaBaseParam(r *http.Request, s *session) error {
	v := r.URL.Query().Get("MediaBase")
	if v == "" {
		return nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 || ms > maxMediaBase {
		return awsapi.Errorf(awsapi.InvalidArgument, "MediaBase %q is not a time in Unix milliseconds.", clip(v))
	}
	s.Base = time.UnixMilli(ms)
	return nil
}

// maxMediaBase bounds MediaBase (the year 9999).
const maxMediaBase = 253402300799999

// frameRate returns the frame rate an H.264 SPS signals, or 0.
func frameRate(t *mediaTrack) float64 {
	c, err := h26x.ParseAVCDecoderConfig(t.track.CodecPrivate)
	if err != nil {
		return 0
	}
	sps, err := c.ParseSPS()
	if err != nil {
		return 0
	}
	num, den := sps.FrameRate()
	if num == 0 || den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

// getHLSMediaPlaylist serves the media playlist (RFC 8216 §4.3.3, §4.3.2).
func (h *sessions) getHLSMediaPlaylist(w http.ResponseWriter, r *http.Request) {
	s, err := h.sessionFromRequest(r, kindHLS)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	if err := mediaBaseParam(r, s); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	tok := r.URL.Query().Get("SessionToken")
	win, err := h.playlistWindow(s, tok)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	if r.URL.Query().Has("MediaBase") {
		// Every URL of the playlist carries the token, and now the
		// base with it.
		tok += "&MediaBase=" + strconv.FormatInt(s.Base.UnixMilli(), 10)
	}
	writeResource(w, m3u8Type, []byte(mediaPlaylist(s, tok, win)), false)
}

// gapTolerance is how far apart two fragments' timelines may be before
// DiscontinuityMode ON_DISCONTINUITY marks a discontinuity.
const gapTolerance = 50 * time.Millisecond

// discontinuous reports whether a player must reset its timeline
// between fragments a and b of session s.
func (s *session) discontinuous(a, b *archive.Fragment) bool {
	if !sameHeader(a.Header, b.Header) {
		return true
	}
	switch s.Discontinuity {
	case discontinuityAlways:
		return true
	case discontinuityOnGap:
		gap := b.ProducerTime.Sub(a.ProducerTime.Add(a.Duration))
		return gap > gapTolerance || gap < -gapTolerance
	}
	return false
}

func mediaPlaylist(s *session, tok string, win window) string {
	var b strings.Builder
	// Every EXTINF, rounded, must be at most the target duration, and a
	// live playlist's target must not change (RFC 8216 §4.3.3.1):
	// take the longest fragment the session has shown.
	longest := win.longest
	for _, f := range win.frags {
		longest = max(longest, f.Duration)
	}
	target := max(int(math.Round(longest.Seconds())), 1)
	version := 7
	if s.Container == containerTS {
		version = 3
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n", version, target, win.seq)
	if win.discSeq > 0 {
		// Discontinuities of the fragments that left the window are
		// counted here (§4.3.3.3).
		fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", win.discSeq)
	}
	if s.Mode == modeOnDemand {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	}
	b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	for i, f := range win.frags {
		disc := i > 0 && s.discontinuous(win.frags[i-1], f)
		if disc {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		// The initialization section is named again after every
		// discontinuity, not only when it changes: RFC 8216 §4.3.2.5
		// lets it carry over, but players that reset their demuxer at a
		// discontinuity (VLC) then have none.
		if s.Container == containerFMP4 && (i == 0 || disc || !sameHeader(win.frags[i-1].Header, f.Header)) {
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"getMP4InitFragment.mp4?SessionToken=%s&FragmentNumber=%s\"\n", tok, f.Number)
		}
		if s.Flags&flagDisplayTimestamp != 0 {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", s.fragmentTime(f).UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n", f.Duration.Seconds())
		if s.Container == containerTS {
			fmt.Fprintf(&b, "getTSFragment.ts?FragmentNumber=%s&SessionToken=%s\n", f.Number, tok)
		} else {
			fmt.Fprintf(&b, "getMP4MediaFragment.mp4?FragmentNumber=%s&SessionToken=%s\n", f.Number, tok)
		}
	}
	if win.complete {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}
