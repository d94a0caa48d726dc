package producer

import "github.com/openkvs/openkvs/media/h26x"

// AccessUnits splits an Annex-B elementary stream into access units, each
// returned as Annex-B with 4-byte start codes, ready for PutFrame on an
// AnnexB track. An access unit starts at an access unit delimiter, at a
// parameter set or prefix SEI that follows the current picture's slices,
// or at the first slice of a new picture (first_mb_in_slice == 0 in H.264,
// first_slice_segment_in_pic_flag in H.265): ITU-T H.264 §7.4.1.2.3,
// H.265 §7.4.2.4.4.
func AccessUnits(c h26x.Codec, stream []byte) [][]byte {
	var out [][]byte
	var cur []byte
	seenVCL := false
	flush := func() {
		if len(cur) > 0 && seenVCL {
			out = append(out, cur)
		}
		cur, seenVCL = nil, false
	}
	for nalu := range h26x.AnnexBUnits(stream) {
		if len(nalu) == 0 {
			continue
		}
		vcl, first, aud, prefix := classifyNALU(c, nalu)
		switch {
		case aud:
			flush()
		case prefix && seenVCL:
			flush()
		case vcl && first && seenVCL:
			flush()
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, nalu...)
		seenVCL = seenVCL || vcl
	}
	flush()
	return out
}

// classifyNALU says whether nalu is a slice (and the first of its
// picture), an access unit delimiter, or a NAL unit that may only come
// before a picture's first slice.
func classifyNALU(c h26x.Codec, nalu []byte) (vcl, first, aud, prefix bool) {
	if c == h26x.H264 {
		t := h26x.H264Type(nalu)
		switch {
		case t.IsVCL():
			return true, len(nalu) > 1 && nalu[1]&0x80 != 0, false, false
		case t == h26x.H264NALAUD:
			return false, false, true, false
		case t == h26x.H264NALSEI, t == h26x.H264NALSPS, t == h26x.H264NALPPS, t == h26x.H264NALSPSExt,
			t == h26x.H264NALPrefix, t == h26x.H264NALSubsetSPS:
			return false, false, false, true
		}
		return false, false, false, false
	}
	t := h26x.H265Type(nalu)
	switch {
	case t.IsVCL():
		return true, len(nalu) > 2 && nalu[2]&0x80 != 0, false, false
	case t == h26x.H265NALAUD:
		return false, false, true, false
	case t == h26x.H265NALVPS, t == h26x.H265NALSPS, t == h26x.H265NALPPS, t == h26x.H265NALPrefixSEI:
		return false, false, false, true
	}
	return false, false, false, false
}
