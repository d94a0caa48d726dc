package producer

import (
	"fmt"

	"github.com/openkvs/openkvs/media/h26x"
	"github.com/openkvs/openkvs/media/mkv"
)

// Matroska CodecIDs of the video codecs the producer inspects.
const (
	CodecH264 = "V_MPEG4/ISO/AVC"
	CodecH265 = "V_MPEGH/ISO/HEVC"
)

// codecOf returns the h26x codec of a Matroska CodecID, or 0.
func codecOf(codecID string) h26x.Codec {
	switch codecID {
	case CodecH264:
		return h26x.H264
	case CodecH265:
		return h26x.H265
	}
	return 0
}

// codecPrivate builds the AVCDecoderConfigurationRecord or
// HEVCDecoderConfigurationRecord of an Annex-B access unit's parameter
// sets and fills in the video size from its SPS. ok is false when the
// access unit lacks them.
func codecPrivate(t *mkv.Track, c h26x.Codec, au []byte) (ok bool, err error) {
	var vps, sps, pps [][]byte
	for nalu := range h26x.AnnexBUnits(au) {
		if c == h26x.H264 {
			switch h26x.H264Type(nalu) {
			case h26x.H264NALSPS:
				sps = append(sps, nalu)
			case h26x.H264NALPPS:
				pps = append(pps, nalu)
			}
			continue
		}
		switch h26x.H265Type(nalu) {
		case h26x.H265NALVPS:
			vps = append(vps, nalu)
		case h26x.H265NALSPS:
			sps = append(sps, nalu)
		case h26x.H265NALPPS:
			pps = append(pps, nalu)
		}
	}
	if len(sps) == 0 || len(pps) == 0 || (c == h26x.H265 && len(vps) == 0) {
		return false, nil
	}
	var cpd []byte
	var w, h int
	if c == h26x.H264 {
		rec, err := h26x.NewAVCDecoderConfig(sps, pps)
		if err != nil {
			return false, fmt.Errorf("track %d: codec private data: %w", t.Number, err)
		}
		if cpd, err = rec.Bytes(); err != nil {
			return false, fmt.Errorf("track %d: codec private data: %w", t.Number, err)
		}
		if s, err := rec.ParseSPS(); err == nil {
			w, h = s.Width, s.Height
		}
	} else {
		rec, err := h26x.NewHEVCDecoderConfig(vps, sps, pps)
		if err != nil {
			return false, fmt.Errorf("track %d: codec private data: %w", t.Number, err)
		}
		if cpd, err = rec.Bytes(); err != nil {
			return false, fmt.Errorf("track %d: codec private data: %w", t.Number, err)
		}
		if s, err := rec.ParseSPS(); err == nil {
			w, h = s.Width, s.Height
		}
	}
	t.CodecPrivate = cpd
	if t.Video == nil {
		t.Video = &mkv.VideoTrack{}
	}
	if t.Video.PixelWidth == 0 && w > 0 {
		t.Video.PixelWidth, t.Video.PixelHeight = uint64(w), uint64(h)
	}
	return true, nil
}
