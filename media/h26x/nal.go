package h26x

import (
	"encoding/binary"
	"strconv"
)

// Codec names the video coding standard of a stream.
type Codec uint8

// The codecs this package understands.
const (
	H264 Codec = iota + 1 // ITU-T H.264 / ISO/IEC 14496-10 (AVC)
	H265                  // ITU-T H.265 / ISO/IEC 23008-2 (HEVC)
)

// String returns "H.264" or "H.265".
func (c Codec) String() string {
	switch c {
	case H264:
		return "H.264"
	case H265:
		return "H.265"
	}
	return "Codec(" + strconv.Itoa(int(c)) + ")"
}

// H264NALType is nal_unit_type of an H.264 NAL unit (ITU-T H.264 Table 7-1).
type H264NALType uint8

// H.264 NAL unit types (ITU-T H.264 Table 7-1).
const (
	H264NALSlice       H264NALType = 1  // coded slice of a non-IDR picture
	H264NALSliceA      H264NALType = 2  // coded slice data partition A
	H264NALSliceB      H264NALType = 3  // coded slice data partition B
	H264NALSliceC      H264NALType = 4  // coded slice data partition C
	H264NALIDR         H264NALType = 5  // coded slice of an IDR picture
	H264NALSEI         H264NALType = 6  // supplemental enhancement information
	H264NALSPS         H264NALType = 7  // sequence parameter set
	H264NALPPS         H264NALType = 8  // picture parameter set
	H264NALAUD         H264NALType = 9  // access unit delimiter
	H264NALEndOfSeq    H264NALType = 10 // end of sequence
	H264NALEndOfStream H264NALType = 11 // end of stream
	H264NALFiller      H264NALType = 12 // filler data
	H264NALSPSExt      H264NALType = 13 // sequence parameter set extension
	H264NALPrefix      H264NALType = 14 // prefix NAL unit (SVC/MVC)
	H264NALSubsetSPS   H264NALType = 15 // subset sequence parameter set
)

// H264Type returns the nal_unit_type of an H.264 NAL unit (without start code
// or length prefix), the low 5 bits of its first byte (H.264 §7.3.1), or 0 for
// an empty slice.
func H264Type(nalu []byte) H264NALType {
	if len(nalu) == 0 {
		return 0
	}
	return H264NALType(nalu[0] & 0x1f)
}

// H265NALType is nal_unit_type of an H.265 NAL unit (ITU-T H.265 Table 7-1).
type H265NALType uint8

// H.265 NAL unit types (ITU-T H.265 Table 7-1).
const (
	H265NALTrailN      H265NALType = 0
	H265NALTrailR      H265NALType = 1
	H265NALTSAN        H265NALType = 2
	H265NALTSAR        H265NALType = 3
	H265NALSTSAN       H265NALType = 4
	H265NALSTSAR       H265NALType = 5
	H265NALRADLN       H265NALType = 6
	H265NALRADLR       H265NALType = 7
	H265NALRASLN       H265NALType = 8
	H265NALRASLR       H265NALType = 9
	H265NALBLAWLP      H265NALType = 16 // first IRAP type
	H265NALBLAWRADL    H265NALType = 17
	H265NALBLANLP      H265NALType = 18
	H265NALIDRWRADL    H265NALType = 19
	H265NALIDRNLP      H265NALType = 20
	H265NALCRA         H265NALType = 21
	H265NALIRAPResv23  H265NALType = 23 // last IRAP type (reserved)
	H265NALVPS         H265NALType = 32
	H265NALSPS         H265NALType = 33
	H265NALPPS         H265NALType = 34
	H265NALAUD         H265NALType = 35
	H265NALEndOfSeq    H265NALType = 36
	H265NALEndOfStream H265NALType = 37
	H265NALFiller      H265NALType = 38
	H265NALPrefixSEI   H265NALType = 39
	H265NALSuffixSEI   H265NALType = 40
)

// H265Type returns the nal_unit_type of an H.265 NAL unit (without start code
// or length prefix), bits 1-6 of its 2-byte header (H.265 §7.3.1.2), or 0 for
// an empty slice.
func H265Type(nalu []byte) H265NALType {
	if len(nalu) == 0 {
		return 0
	}
	return H265NALType(nalu[0]>>1) & 0x3f
}

// IsIRAP reports whether t is an intra random access point picture type
// (BLA, IDR, CRA and the reserved IRAP types 22 and 23; H.265 §7.4.2.2).
func (t H265NALType) IsIRAP() bool {
	return t >= H265NALBLAWLP && t <= H265NALIRAPResv23
}

// IsVCL reports whether t carries coded slice data (types 0-31).
func (t H265NALType) IsVCL() bool { return t < 32 }

// IsVCL reports whether t carries coded slice data (types 1-5).
func (t H264NALType) IsVCL() bool { return t >= 1 && t <= 5 }

// IsKeyFrameNALU reports whether a single NAL unit starts a picture that can be
// decoded without earlier pictures: an IDR slice for H.264, an IRAP slice
// (IDR, CRA or BLA) for H.265.
func IsKeyFrameNALU(c Codec, nalu []byte) bool {
	switch c {
	case H264:
		return H264Type(nalu) == H264NALIDR
	case H265:
		return H265Type(nalu).IsIRAP()
	}
	return false
}

// IsKeyFrameAVCC reports whether the 4-byte length-prefixed access unit
// sample contains a key-frame slice (see IsKeyFrameNALU). It does not
// allocate.
func IsKeyFrameAVCC(c Codec, sample []byte) bool {
	for len(sample) >= 4 {
		n := binary.BigEndian.Uint32(sample)
		if uint64(n) > uint64(len(sample)-4) {
			return false
		}
		if IsKeyFrameNALU(c, sample[4:4+n]) {
			return true
		}
		sample = sample[4+n:]
	}
	return false
}

// IsKeyFrameAnnexB reports whether the Annex-B access unit b contains a
// key-frame slice (see IsKeyFrameNALU). It does not allocate.
func IsKeyFrameAnnexB(c Codec, b []byte) bool {
	for n := range AnnexBUnits(b) {
		if IsKeyFrameNALU(c, n) {
			return true
		}
	}
	return false
}
