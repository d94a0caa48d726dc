package playback

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/fmp4"
	"github.com/openkvs/openkvs/media/mpegts"
)

// The segment resources of HLS (and, for fMP4, DASH) sessions. Each is
// remuxed on request from one stored fragment.

// getMP4InitFragment serves getMP4InitFragment.mp4: the initialization
// segment (ftyp + moov) for the tracks of the fragment named by
// FragmentNumber, or of the session's first fragment without one.
func (h *sessions) getMP4InitFragment(kind sessionKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := h.sessionFromRequest(r, kind)
		if err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
		only, err := trackParam(r)
		if err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
		var f *archive.Fragment
		if r.URL.Query().Has("FragmentNumber") {
			f, err = h.fragmentOf(r, s)
		} else {
			f, err = h.sampleFragment(s)
		}
		if err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
		mh, err := h.headers.get(f.Header)
		if err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
		tracks := mh.fmp4Tracks(only)
		if len(tracks) == 0 {
			awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "TrackNumber %d is not a playable track of the stream.", only))
			return
		}
		b, err := fmp4.AppendInit(nil, tracks)
		if err != nil {
			awsapi.WriteError(w, r, fmt.Errorf("init segment: %w", err))
			return
		}
		writeResource(w, "video/mp4", b, true)
	}
}

// getMP4MediaFragment serves getMP4MediaFragment.mp4: one movie fragment
// (moof + mdat) holding the frames of the stored fragment FragmentNumber.
func (h *sessions) getMP4MediaFragment(kind sessionKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := h.sessionFromRequest(r, kind)
		if err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
		only, err := trackParam(r)
		if err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
		if kind == kindHLS {
			if err := mediaBaseParam(r, s); err != nil {
				awsapi.WriteError(w, r, err)
				return
			}
		}
		var f *archive.Fragment
		if q := r.URL.Query(); kind == kindDASH && !q.Has("FragmentNumber") && q.Has("Time") {
			f, err = h.fragmentAt(r.Context(), s, q.Get("Time"))
		} else {
			f, err = h.fragmentOf(r, s)
		}
		if err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
		b, err := h.segments.get(segmentKey{stream: s.Stream, number: f.Number, track: only}, func() ([]byte, error) {
			return h.mediaSegment(s.Stream, f, only)
		})
		if err == nil {
			b, err = h.onSessionTimeline(s, f, b)
		}
		if err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
		writeResource(w, "video/mp4", b, true)
	}
}

// onSessionTimeline returns the media segment seg of fragment f (remuxed
// with producer times, shared by every session) with its decode times
// counted from the session's Base.
func (h *sessions) onSessionTimeline(s *session, f *archive.Fragment, seg []byte) ([]byte, error) {
	if s.Base.IsZero() {
		return seg, nil
	}
	mh, err := h.headers.get(f.Header)
	if err != nil {
		return nil, err
	}
	base := s.Base.UnixNano()
	b, err := fmp4.AppendRebased(make([]byte, 0, len(seg)), seg, func(id uint32) uint64 {
		for _, t := range mh.tracks {
			if t.track.ID == id {
				return ticks(base, t.track.Timescale)
			}
		}
		return 0
	})
	if err != nil {
		return nil, fmt.Errorf("fragment %s: %w", f.Number, err)
	}
	return b, nil
}

// mediaTime is f's start on the session's media timeline, in
// milliseconds: the S@t of DASH manifests.
func (s *session) mediaTime(f *archive.Fragment) int64 {
	return max(f.ProducerTime.Sub(s.Base).Milliseconds(), 0)
}

// fragmentAt returns the fragment of session s that starts ms milliseconds
// into the session's media timeline: the $Time$ of a DASH manifest.
//
// In a LIVE session, a request for the fragment that follows the newest
// one waits for it (up to SessionConfig.LiveSegmentWait): players that
// follow a SegmentTimeline, such as ffmpeg's, ask for the next segment as
// soon as they have played the listed ones, and retry at once on a 404.
func (h *sessions) fragmentAt(ctx context.Context, s *session, ms string) (*archive.Fragment, error) {
	v, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || v < 0 {
		return nil, awsapi.Errorf(awsapi.InvalidArgument, "Time %q is not a time in milliseconds.", clip(ms))
	}
	target := s.Base.Add(time.Duration(v) * time.Millisecond)
	notFound := awsapi.Errorf(awsapi.ResourceNotFound, "No fragment of this session starts at media time %d ms.", v)
	var timeout <-chan time.Time
	a := h.svc.cfg.Archive
	for {
		f, err := a.Seek(s.Stream, archive.ProducerTime, target)
		if err != nil {
			return nil, fmt.Errorf("seek: %w", err)
		}
		if f != nil && s.mediaTime(f) == v && s.contains(f) {
			return f, nil
		}
		if s.Mode != modeLive {
			return nil, notFound
		}
		latest, err := a.Latest(s.Stream)
		if err != nil {
			return nil, fmt.Errorf("latest fragment: %w", err)
		}
		// Only the fragment that is to follow the newest is waited
		// for: not a time inside a fragment, nor one further ahead.
		if latest == nil {
			return nil, notFound
		}
		end := latest.ProducerTime.Add(latest.Duration)
		if target.Before(end.Add(-gapTolerance)) || target.After(end.Add(h.liveHold)) {
			return nil, notFound
		}
		next, arrived, err := a.Next(s.Stream, latest.Number)
		if err != nil {
			return nil, fmt.Errorf("next fragment: %w", err)
		}
		if next != nil {
			continue // arrived meanwhile
		}
		if timeout == nil {
			t := time.NewTimer(h.liveHold)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-arrived:
		case <-timeout:
			return nil, notFound
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// defaultLiveHold is the default SessionConfig.LiveSegmentWait.
const defaultLiveHold = 3 * time.Second

// mediaSegment remuxes fragment f of stream into one fMP4 media segment.
func (h *sessions) mediaSegment(stream string, f *archive.Fragment, only uint64) ([]byte, error) {
	mh, d, err := h.readFragment(stream, f)
	if err != nil {
		return nil, err
	}
	tfs := fmp4Fragment(mh, d, only, nil)
	if len(tfs) == 0 {
		return nil, awsapi.Errorf(awsapi.ResourceNotFound, "Fragment %s has no frames of track %d.", f.Number, only)
	}
	var fw fmp4.FragmentWriter
	b, err := fw.AppendFragment(make([]byte, 0, f.Size+1024), uint32(f.Number.Millis), tfs...)
	if err != nil {
		return nil, awsapi.Errorf(awsapi.InvalidMediaFrame, "Fragment %s cannot be packaged: %v", f.Number, err)
	}
	return b, nil
}

// getTSFragment serves getTSFragment.ts: one MPEG-TS segment (PAT, PMT
// and the PES packets of every track) for the stored fragment
// FragmentNumber.
func (h *sessions) getTSFragment(w http.ResponseWriter, r *http.Request) {
	s, err := h.sessionFromRequest(r, kindHLS)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	if s.Container != containerTS {
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "The session's ContainerFormat is FRAGMENTED_MP4; use getMP4MediaFragment.mp4."))
		return
	}
	f, err := h.fragmentOf(r, s)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	b, err := h.segments.get(segmentKey{stream: s.Stream, number: f.Number, ts: true}, func() ([]byte, error) {
		return h.tsSegment(s.Stream, f)
	})
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	writeResource(w, "video/mp2t", b, true)
}

// tsSegment remuxes fragment f of stream into one MPEG-TS segment.
func (h *sessions) tsSegment(stream string, f *archive.Fragment) ([]byte, error) {
	mh, d, err := h.readFragment(stream, f)
	if err != nil {
		return nil, err
	}
	var tracks []mpegts.Track
	index := make([]int, len(mh.tracks)) // mediaHeader track → TS track, -1 if left out
	for i, t := range mh.tracks {
		index[i] = -1
		var c mpegts.Codec
		switch t.track.Codec {
		case fmp4.H264:
			c = mpegts.H264
		case fmp4.H265:
			c = mpegts.H265
		case fmp4.AAC:
			c = mpegts.AAC
		default:
			continue
		}
		index[i] = len(tracks)
		tracks = append(tracks, mpegts.Track{Codec: c, CodecPrivate: t.track.CodecPrivate})
	}
	var buf bytes.Buffer
	buf.Grow(int(f.Size + f.Size/8 + 4096))
	tw, err := mpegts.NewWriter(&buf, tracks)
	if err != nil {
		return nil, awsapi.Errorf(awsapi.InvalidCodecPrivateData, "Fragment %s cannot be packaged as MPEG-TS: %v", f.Number, err)
	}
	for _, o := range d.order {
		ti := index[o[0]]
		if ti < 0 {
			continue
		}
		smp := &d.tracks[o[0]][o[1]]
		if err := tw.WriteSample(ti, mpegts.Sample{PTS: smp.pts, DTS: smp.dts, Keyframe: smp.key, Data: smp.data}); err != nil {
			return nil, awsapi.Errorf(awsapi.InvalidMediaFrame, "Fragment %s cannot be packaged as MPEG-TS: %v", f.Number, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("ts segment: %w", err)
	}
	return buf.Bytes(), nil
}
