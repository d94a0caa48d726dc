package playback

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// The MPEG-DASH manifest (ISO/IEC 23009-1; section numbers of its 2019
// edition). Each track is an AdaptationSet with one Representation whose
// SegmentTimeline (§5.3.9.6) gives every fragment's start and duration in
// milliseconds of the session's media time (producer time since the
// session's Base, which is also the segments' decode time origin). KVS
// fragment numbers are not consecutive, so $Number$ templates cannot
// address them: both static and dynamic manifests use a SegmentTemplate on
// $Time$ (§5.3.9.4.4), the fragment's media start time, which
// getMP4MediaFragment.mp4 accepts as Time. A live manifest changes under the
// player and times stay valid from one to the next; and unlike a
// SegmentList of URLs with 47-digit fragment numbers, a template is within
// the URL length ffmpeg's DASH reader allows (it truncates SegmentURLs
// longer than the manifest URL plus a little).

const mpdType = "application/dash+xml"

// availabilityMargin delays the availability a live manifest announces
// past the fragment arrival the session observed at its start, for
// fragments that arrive a little later than that.
const availabilityMargin = 250 * time.Millisecond

// kvsNamespace is the XML namespace of the kvs:ts and kvs:fn attributes.
const kvsNamespace = "urn:openkvs:dash:kvs"

// getDASHManifest serves getDASHManifest.mpd.
func (h *sessions) getDASHManifest(w http.ResponseWriter, r *http.Request) {
	s, err := h.sessionFromRequest(r, kindDASH)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	tok := r.URL.Query().Get("SessionToken")
	win, err := h.playlistWindow(s, tok)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	f, err := h.sampleFragment(s)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	if len(win.frags) > 0 {
		f = win.frags[0]
	}
	mh, err := h.headers.get(f.Header)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	writeResource(w, mpdType, []byte(dashManifest(s, tok, mh, win, h.now())), false)
}

func isoDuration(d time.Duration) string {
	return fmt.Sprintf("PT%.3fS", d.Seconds())
}

func dashManifest(s *session, tok string, mh *mediaHeader, win window, now time.Time) string {
	// A header change inside the window would need a new Period; list
	// only the fragments that share the first one's header.
	frags := win.frags
	for i := 1; i < len(frags); i++ {
		if !sameHeader(frags[0].Header, frags[i].Header) {
			frags = frags[:i]
			break
		}
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&b, `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:kvs="%s" profiles="urn:mpeg:dash:profile:isoff-live:2011" minBufferTime="PT2S"`, kvsNamespace)
	var total, maxDur time.Duration
	for _, f := range frags {
		total += f.Duration
		maxDur = max(maxDur, f.Duration)
	}
	var pto int64
	if win.complete {
		// Static: the presentation starts at the first fragment.
		if len(frags) > 0 {
			pto = s.mediaTime(frags[0])
		}
		fmt.Fprintf(&b, ` type="static" mediaPresentationDuration="%s">`+"\n", isoDuration(total))
	} else {
		// Dynamic: a player finds segment S available at
		// availabilityStartTime + S@t + S@d (§5.3.9.5.3). Media time 0
		// is the producer time Base, and fragments reach the server Lag
		// after their producer time and are whole S@d later, so with
		// availabilityStartTime = Base + Lag (plus a margin for jitter)
		// a player asks for a segment once the server has it.
		fmt.Fprintf(&b, ` type="dynamic" availabilityStartTime="%s" publishTime="%s" minimumUpdatePeriod="PT1S" timeShiftBufferDepth="%s" suggestedPresentationDelay="%s" maxSegmentDuration="%s">`+"\n",
			s.Base.Add(s.Lag+availabilityMargin).UTC().Format("2006-01-02T15:04:05.000Z"),
			now.UTC().Format("2006-01-02T15:04:05.000Z"), isoDuration(max(total, time.Second)), isoDuration(max(3*maxDur, 2*time.Second)), isoDuration(max(maxDur, time.Second)))
	}
	b.WriteString(`  <Period id="0" start="PT0S">` + "\n")
	for i, t := range mh.tracks {
		ft := &t.track
		contentType, mime := "audio", "audio/mp4"
		if ft.Codec.IsVideo() {
			contentType, mime = "video", "video/mp4"
		}
		fmt.Fprintf(&b, `    <AdaptationSet id="%d" contentType="%s" mimeType="%s" segmentAlignment="true" startWithSAP="1">`+"\n", i+1, contentType, mime)
		var bits int64
		for _, f := range frags {
			bits += f.Size * 8
		}
		bw := int64(1)
		if total > 0 {
			bw = max(int64(float64(bits)/total.Seconds()), 1)
		}
		fmt.Fprintf(&b, `      <Representation id="%d" codecs="%s" bandwidth="%d"`, t.number, ft.CodecString(), bw)
		if ft.Codec.IsVideo() {
			fmt.Fprintf(&b, ` width="%d" height="%d"`, ft.Width, ft.Height)
			if fr := frameRate(&t); fr > 0 {
				fmt.Fprintf(&b, ` frameRate="%.0f"`, fr)
			}
		} else {
			fmt.Fprintf(&b, ` audioSamplingRate="%d"`, ft.SampleRate)
		}
		b.WriteString(">\n")
		init := "getMP4InitFragment.mp4?TrackNumber=" + fmt.Sprint(t.number) + "&amp;SessionToken=" + tok
		if len(frags) > 0 {
			init += "&amp;FragmentNumber=" + frags[0].Number.String()
		}
		fmt.Fprintf(&b, `        <SegmentTemplate timescale="1000" presentationTimeOffset="%d" initialization="%s" media="getMP4MediaFragment.mp4?Time=$Time$&amp;TrackNumber=%d&amp;SessionToken=%s">`+"\n", pto, init, t.number, tok)
		b.WriteString("          <SegmentTimeline>\n")
		for _, f := range frags {
			fmt.Fprintf(&b, `            <S t="%d" d="%d"`, s.mediaTime(f), max(f.Duration.Milliseconds(), 1))
			if s.Flags&flagDisplayTimestamp != 0 {
				fmt.Fprintf(&b, ` kvs:ts="%d"`, s.fragmentTime(f).UnixMilli())
			}
			if s.Flags&flagDisplayNumber != 0 {
				fmt.Fprintf(&b, ` kvs:fn="%s"`, f.Number)
			}
			b.WriteString("/>\n")
		}
		b.WriteString("          </SegmentTimeline>\n        </SegmentTemplate>\n")
		b.WriteString("      </Representation>\n    </AdaptationSet>\n")
	}
	b.WriteString("  </Period>\n</MPD>\n")
	return b.String()
}
