package playback

import (
	"errors"
	"net/http"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
)

// maxFragmentList is the model's limit on Fragments.
const maxFragmentList = 1000

type getMediaForFragmentListInput struct {
	mediaStreamRef
	Fragments []string `json:"Fragments"`
}

// parseFragmentList validates Fragments: 1..1000 fragment numbers of 1..128
// digits. A well-formed number this archive cannot have made is
// ResourceNotFoundException, like any other fragment it does not hold.
func parseFragmentList(list []string) ([]archive.Number, error) {
	if len(list) == 0 || len(list) > maxFragmentList {
		return nil, invalid("Fragments must hold between 1 and %d fragment numbers.", maxFragmentList)
	}
	nums := make([]archive.Number, len(list))
	for i, s := range list {
		if !fragmentNumberPattern.MatchString(s) {
			return nil, invalid("Fragments[%d] %q must be 1 to 128 digits.", i, clip(s))
		}
		n, err := archive.ParseNumber(s)
		if err != nil {
			return nil, errFragmentNotFound(s)
		}
		nums[i] = n
	}
	return nums, nil
}

// getMediaForFragmentList serves GetMediaForFragmentList: the listed
// fragments, in the order given, as GetMedia's MKV chunks with the fragment
// number and timestamp tags (without GetMedia's millis-behind-now and
// continuation token). Every fragment is looked up before the response
// starts, so a missing one is ResourceNotFoundException; one that expires
// while the response is written ends it with an error chunk (ErrorId
// 4000).
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_reader_GetMediaForFragmentList.html
func (s *Service) getMediaForFragmentList(w http.ResponseWriter, r *http.Request) {
	var in getMediaForFragmentListInput
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	nums, err := parseFragmentList(in.Fragments)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	st, err := s.resolveStream(r.Context(), in.mediaStreamRef)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	arch := s.cfg.Archive
	frags := make([]*archive.Fragment, len(nums))
	for i, n := range nums {
		f, err := arch.Get(st.Name, n)
		if errors.Is(err, archive.ErrNotFound) {
			awsapi.WriteError(w, r, errFragmentNotFound(in.Fragments[i]))
			return
		}
		if err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
		frags[i] = f
	}

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", mediaContentType)
	w.WriteHeader(http.StatusOK)
	cw := &chunkWriter{w: w}
	ctx := r.Context()
	for _, f := range frags {
		if ctx.Err() != nil {
			return
		}
		cluster, err := arch.ReadCluster(st.Name, f)
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.Media.WriteTimeout))
		switch {
		case errors.Is(err, archive.ErrNotFound):
			_ = cw.writeError(f, errIDFragmentNotFound, "Requested fragment is not found")
			return
		case err != nil:
			s.log.Error("getmediaforfragmentlist: read fragment", "stream", st.Name, "fragment", f.Number, "err", err)
			_ = cw.writeError(f, errIDInternal, "Internal error")
			return
		}
		if err := cw.writeChunk(f, cluster); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
