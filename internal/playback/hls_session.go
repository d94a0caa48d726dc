package playback

import (
	"net/http"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/fmp4"
)

// hlsSessionRequest is the GetHLSStreamingSessionURL request body.
type hlsSessionRequest struct {
	mediaStreamRef
	PlaybackMode                    *string           `json:"PlaybackMode"`
	HLSFragmentSelector             *fragmentSelector `json:"HLSFragmentSelector"`
	ContainerFormat                 *string           `json:"ContainerFormat"`
	DiscontinuityMode               *string           `json:"DiscontinuityMode"`
	DisplayFragmentTimestamp        *string           `json:"DisplayFragmentTimestamp"`
	Expires                         *int64            `json:"Expires"`
	MaxMediaPlaylistFragmentResults *int64            `json:"MaxMediaPlaylistFragmentResults"`
}

// getHLSStreamingSessionURL serves GetHLSStreamingSessionURL: it checks
// the request, makes sure the session has something to play and returns
// the master playlist URL with a signed session token.
//
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_reader_GetHLSStreamingSessionURL.html
func (h *sessions) getHLSStreamingSessionURL(w http.ResponseWriter, r *http.Request) {
	var req hlsSessionRequest
	if err := awsapi.DecodeJSON(r, &req); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	if err := h.svc.hlsURLRate.allow(req.rateKey()); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	s, err := h.parseHLSRequest(r, &req)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	tok := encodeToken(h.key, s)
	awsapi.WriteJSON(w, map[string]string{
		"HLSStreamingSessionURL": h.baseURL(r) + "/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=" + tok,
	})
}

func (h *sessions) parseHLSRequest(r *http.Request, req *hlsSessionRequest) (*session, error) {
	mode, err := parseMode(req.PlaybackMode)
	if err != nil {
		return nil, err
	}
	cont := containerFMP4
	if v := req.ContainerFormat; v != nil {
		switch *v {
		case "FRAGMENTED_MP4":
		case "MPEG_TS":
			cont = containerTS
		default:
			return nil, awsapi.Errorf(awsapi.InvalidArgument, "ContainerFormat %q is not one of FRAGMENTED_MP4, MPEG_TS.", clip(*v))
		}
	}
	var disc discontinuity
	if v := req.DiscontinuityMode; v != nil {
		switch *v {
		case "ALWAYS":
			disc = discontinuityAlways
		case "NEVER":
			disc = discontinuityNever
		case "ON_DISCONTINUITY":
			disc = discontinuityOnGap
		default:
			return nil, awsapi.Errorf(awsapi.InvalidArgument, "DiscontinuityMode %q is not one of ALWAYS, NEVER, ON_DISCONTINUITY.", clip(*v))
		}
	}
	var flags uint8
	if v := req.DisplayFragmentTimestamp; v != nil {
		switch *v {
		case "ALWAYS":
			flags |= flagDisplayTimestamp
		case "NEVER":
		default:
			return nil, awsapi.Errorf(awsapi.InvalidArgument, "DisplayFragmentTimestamp %q is not one of ALWAYS, NEVER.", clip(*v))
		}
	}
	expires, err := parseExpires(req.Expires)
	if err != nil {
		return nil, err
	}
	maxResults, err := parseMaxResults("MaxMediaPlaylistFragmentResults", req.MaxMediaPlaylistFragmentResults, mode)
	if err != nil {
		return nil, err
	}
	s, mh, err := h.newSession(r.Context(), kindHLS, req.mediaStreamRef, mode, "HLSFragmentSelector", req.HLSFragmentSelector, expires, maxResults)
	if err != nil {
		return nil, err
	}
	if cont == containerTS {
		for _, t := range mh.tracks {
			if t.track.Codec == fmp4.Opus {
				return nil, awsapi.Errorf(awsapi.UnsupportedStreamMediaType, "Track %d is Opus audio, which ContainerFormat MPEG_TS cannot carry; use FRAGMENTED_MP4.", t.number)
			}
		}
	}
	s.Container = cont
	s.Flags |= flags
	if disc == 0 {
		// The API reference: ALWAYS for server timestamps, NEVER for
		// producer timestamps.
		disc = discontinuityAlways
		if s.Selector == selectorProducer {
			disc = discontinuityNever
		}
	}
	s.Discontinuity = disc
	return s, nil
}
