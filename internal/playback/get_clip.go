package playback

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/fmp4"
)

// GetClip limits from the API reference: the clip holds the first 100 MB
// or the first 200 fragments from the start timestamp.
const (
	maxClipFragments = 200
	maxClipBytes     = 100 << 20
)

// clipRequest is the GetClip request body.
type clipRequest struct {
	mediaStreamRef
	ClipFragmentSelector *fragmentSelector `json:"ClipFragmentSelector"`
}

// getClip serves GetClip: one progressive MP4 file (moov first) holding the
// fragments whose start time is in the requested range, streamed fragment
// by fragment. The sample table is built in a first pass over the
// fragments, so only their index is held in memory, never the media.
//
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_reader_GetClip.html
func (h *sessions) getClip(w http.ResponseWriter, r *http.Request) {
	var req clipRequest
	if err := awsapi.DecodeJSON(r, &req); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	plan, err := h.planClip(r, &req)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	cw, err := fmp4.NewClipWriter(w, plan.tracks, plan.samples)
	if err != nil {
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidMediaFrame, "The clip cannot be packaged: %v", err))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "video/mp4")
	hd.Set("Content-Length", strconv.FormatInt(cw.Size(), 10))
	log := awsapi.LoggerFrom(r.Context())
	for _, f := range plan.frags {
		_, d, err := h.readFragment(plan.stream, f)
		if err == nil {
			for _, o := range d.order {
				if err = cw.WriteSample(d.tracks[o[0]][o[1]].data); err != nil {
					break
				}
			}
		}
		if err != nil {
			// The status line is gone; cut the body short so the
			// client sees a truncated file, not a wrong one.
			if log != nil {
				log.Warn("GetClip aborted", "stream", plan.stream, "fragment", f.Number.String(), "err", err)
			}
			panic(http.ErrAbortHandler)
		}
	}
	if err := cw.Close(); err != nil && log != nil {
		log.Warn("GetClip close", "stream", plan.stream, "err", err)
	}
}

// clipPlan is the layout of a clip: its fragments and sample table.
type clipPlan struct {
	stream  string
	frags   []*archive.Fragment
	tracks  []fmp4.Track
	samples []fmp4.ClipSample
}

func (h *sessions) planClip(r *http.Request, req *clipRequest) (*clipPlan, error) {
	if req.ClipFragmentSelector == nil {
		return nil, awsapi.Errorf(awsapi.InvalidArgument, "ClipFragmentSelector is required.")
	}
	kind, start, end, err := parseSelector("ClipFragmentSelector", req.ClipFragmentSelector, true)
	if err != nil {
		return nil, err
	}
	if req.ClipFragmentSelector.TimestampRange == nil || start.IsZero() || end.IsZero() {
		return nil, awsapi.Errorf(awsapi.InvalidArgument, "ClipFragmentSelector.TimestampRange with StartTimestamp and EndTimestamp is required.")
	}
	if !end.After(start) {
		return nil, awsapi.Errorf(awsapi.InvalidArgument, "ClipFragmentSelector.TimestampRange.EndTimestamp must be later than StartTimestamp.")
	}
	if end.Sub(start) > maxSessionRange {
		return nil, awsapi.Errorf(awsapi.InvalidArgument, "ClipFragmentSelector.TimestampRange must not span more than 24 hours.")
	}
	st, err := h.svc.resolveStream(r.Context(), req.mediaStreamRef)
	if err != nil {
		return nil, err
	}
	if err := checkRetention(st); err != nil {
		return nil, err
	}
	frags, _, err := h.svc.cfg.Archive.List(st.Name, kind.archive(), start, end, archive.Number{}, maxClipFragments)
	if err != nil {
		return nil, fmt.Errorf("list fragments: %w", err)
	}
	if len(frags) == 0 {
		return nil, awsapi.Errorf(awsapi.ResourceNotFound, "No fragments found in the stream %s for the requested time range.", st.Name)
	}
	plan := &clipPlan{stream: st.Name}
	first, err := h.headers.get(frags[0].Header)
	if err != nil {
		return nil, err
	}
	plan.tracks = first.fmp4Tracks(0)
	// Times are kept small and non-negative: relative to a point safely
	// before the first fragment (the writer starts the timeline at the
	// earliest presentation time).
	base := frags[0].ProducerTime.Add(-10 * time.Second).UnixNano()
	var size int64
	for _, f := range frags {
		if !sameHeader(frags[0].Header, f.Header) {
			return nil, awsapi.Errorf(awsapi.InvalidCodecPrivateData,
				"The codec private data or the tracks change at fragment %s; a clip must not span such a change.", f.Number)
		}
		if size+f.Size > maxClipBytes && len(plan.frags) > 0 {
			break
		}
		_, d, err := h.readFragment(st.Name, f)
		if err != nil {
			return nil, err
		}
		for _, o := range d.order {
			t := &first.tracks[o[0]]
			s := &d.tracks[o[0]][o[1]]
			dt := ticks(s.dts-base, t.track.Timescale)
			pt := ticks(s.pts-base, t.track.Timescale)
			plan.samples = append(plan.samples, fmp4.ClipSample{
				Track: int(o[0]), DecodeTime: dt, PresentationOffset: int32(int64(pt) - int64(dt)),
				Size: uint32(len(s.data)), Keyframe: s.key,
			})
			size += int64(len(s.data))
		}
		plan.frags = append(plan.frags, f)
	}
	return plan, nil
}
