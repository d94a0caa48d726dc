package playback

import (
	"net/http"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// dashSessionRequest is the GetDASHStreamingSessionURL request body.
type dashSessionRequest struct {
	mediaStreamRef
	PlaybackMode               *string           `json:"PlaybackMode"`
	DASHFragmentSelector       *fragmentSelector `json:"DASHFragmentSelector"`
	DisplayFragmentTimestamp   *string           `json:"DisplayFragmentTimestamp"`
	DisplayFragmentNumber      *string           `json:"DisplayFragmentNumber"`
	Expires                    *int64            `json:"Expires"`
	MaxManifestFragmentResults *int64            `json:"MaxManifestFragmentResults"`
}

// getDASHStreamingSessionURL serves GetDASHStreamingSessionURL: the
// manifest URL of an MPEG-DASH session with a signed session token.
//
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_reader_GetDASHStreamingSessionURL.html
func (h *sessions) getDASHStreamingSessionURL(w http.ResponseWriter, r *http.Request) {
	var req dashSessionRequest
	if err := awsapi.DecodeJSON(r, &req); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	if err := h.svc.dashURLRate.allow(req.rateKey()); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	s, err := h.parseDASHRequest(r, &req)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	awsapi.WriteJSON(w, map[string]string{
		"DASHStreamingSessionURL": h.baseURL(r) + "/dash/v1/getDASHManifest.mpd?SessionToken=" + encodeToken(h.key, s),
	})
}

func (h *sessions) parseDASHRequest(r *http.Request, req *dashSessionRequest) (*session, error) {
	mode, err := parseMode(req.PlaybackMode)
	if err != nil {
		return nil, err
	}
	var flags uint8
	for _, o := range []struct {
		name string
		v    *string
		flag uint8
	}{
		{"DisplayFragmentTimestamp", req.DisplayFragmentTimestamp, flagDisplayTimestamp},
		{"DisplayFragmentNumber", req.DisplayFragmentNumber, flagDisplayNumber},
	} {
		if o.v == nil {
			continue
		}
		switch *o.v {
		case "ALWAYS":
			flags |= o.flag
		case "NEVER":
		default:
			return nil, awsapi.Errorf(awsapi.InvalidArgument, "%s %q is not one of ALWAYS, NEVER.", o.name, clip(*o.v))
		}
	}
	expires, err := parseExpires(req.Expires)
	if err != nil {
		return nil, err
	}
	maxResults, err := parseMaxResults("MaxManifestFragmentResults", req.MaxManifestFragmentResults, mode)
	if err != nil {
		return nil, err
	}
	s, _, err := h.newSession(r.Context(), kindDASH, req.mediaStreamRef, mode, "DASHFragmentSelector", req.DASHFragmentSelector, expires, maxResults)
	if err != nil {
		return nil, err
	}
	s.Flags |= flags
	s.Discontinuity = discontinuityNever
	return s, nil
}
