package h26x

import "fmt"

// H264SPS holds the fields of an H.264 sequence parameter set (H.264
// §7.3.2.1.1) that a muxer or player needs.
type H264SPS struct {
	ProfileIDC          uint8 // profile_idc, e.g. 66 Baseline, 77 Main, 100 High
	ConstraintFlags     uint8 // constraint_set0_flag..constraint_set5_flag and reserved_zero_2bits, as one byte
	LevelIDC            uint8 // level_idc, ten times the level number (31 = level 3.1)
	ID                  uint32
	ChromaFormatIDC     uint32 // 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4; 1 unless the profile signals it
	SeparateColourPlane bool
	BitDepthLuma        uint8 // 8 unless the profile signals it
	BitDepthChroma      uint8
	FrameMBsOnly        bool // false when the stream may hold fields (interlaced)

	// Width and Height are the displayed picture size in luma samples,
	// after the frame cropping rectangle is applied (§7.4.2.1.1).
	Width, Height int
	// CodedWidth and CodedHeight are the size in whole macroblocks.
	CodedWidth, CodedHeight int

	// SARWidth and SARHeight are the sample aspect ratio from the VUI,
	// 0 when not signalled (Table E-1).
	SARWidth, SARHeight uint16
	// NumUnitsInTick and TimeScale are the VUI timing information, 0 when
	// absent. For frame-coded streams the frame rate is
	// TimeScale / (2 * NumUnitsInTick) (§E.2.1).
	NumUnitsInTick, TimeScale uint32
	FixedFrameRate            bool
}

// profiles whose SPS carries chroma_format_idc and bit depths (§7.3.2.1.1).
func h264HighProfile(p uint8) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// sarTable is Table E-1 (aspect_ratio_idc 1..16).
var sarTable = [17][2]uint16{
	{0, 0}, {1, 1}, {12, 11}, {10, 11}, {16, 11}, {40, 33}, {24, 11}, {20, 11}, {32, 11},
	{80, 33}, {18, 11}, {15, 11}, {64, 33}, {160, 99}, {4, 3}, {3, 2}, {2, 1},
}

// ParseH264SPS parses an H.264 SPS NAL unit (including its 1-byte NAL
// header, without start code or length prefix). Errors in the optional VUI
// after the picture size are ignored: the VUI fields are then left zero.
func ParseH264SPS(nalu []byte) (*H264SPS, error) {
	if len(nalu) < 4 {
		return nil, fmt.Errorf("H.264 SPS of %d bytes: %w", len(nalu), ErrTruncated)
	}
	if t := H264Type(nalu); t != H264NALSPS {
		return nil, fmt.Errorf("H.264 NAL type %d is not an SPS: %w", t, ErrInvalid)
	}
	r := &bitReader{b: RemoveEmulationPrevention(nalu[1:])}
	s := &H264SPS{
		ProfileIDC:      uint8(r.u(8)),
		ConstraintFlags: uint8(r.u(8)),
		LevelIDC:        uint8(r.u(8)),
		ID:              r.ue(),
		ChromaFormatIDC: 1,
		BitDepthLuma:    8,
		BitDepthChroma:  8,
	}
	if s.ID > 31 {
		return nil, fmt.Errorf("H.264 seq_parameter_set_id %d: %w", s.ID, ErrInvalid)
	}
	if h264HighProfile(s.ProfileIDC) {
		s.ChromaFormatIDC = r.ue()
		if s.ChromaFormatIDC > 3 {
			return nil, fmt.Errorf("H.264 chroma_format_idc %d: %w", s.ChromaFormatIDC, ErrInvalid)
		}
		if s.ChromaFormatIDC == 3 {
			s.SeparateColourPlane = r.flag()
		}
		bl, bc := r.ue(), r.ue()
		if bl > 6 || bc > 6 {
			return nil, fmt.Errorf("H.264 bit depth %d/%d: %w", bl+8, bc+8, ErrInvalid)
		}
		s.BitDepthLuma, s.BitDepthChroma = uint8(bl+8), uint8(bc+8)
		r.skip(1)     // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			n := 8
			if s.ChromaFormatIDC == 3 {
				n = 12
			}
			for i := range n {
				if r.flag() { // seq_scaling_list_present_flag[i]
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(r, size)
				}
			}
		}
	}
	if r.ue() > 12 { // log2_max_frame_num_minus4
		return nil, fmt.Errorf("H.264 log2_max_frame_num: %w", ErrInvalid)
	}
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.skip(1) // delta_pic_order_always_zero_flag
		r.se()    // offset_for_non_ref_pic
		r.se()    // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return nil, fmt.Errorf("H.264 num_ref_frames_in_pic_order_cnt_cycle %d: %w", n, ErrInvalid)
		}
		for range n {
			r.se()
		}
	case 2:
	default:
		return nil, fmt.Errorf("H.264 pic_order_cnt_type: %w", ErrInvalid)
	}
	r.ue()    // max_num_ref_frames
	r.skip(1) // gaps_in_frame_num_value_allowed_flag
	wMBs := r.ue() + 1
	hMapUnits := r.ue() + 1
	s.FrameMBsOnly = r.flag()
	if !s.FrameMBsOnly {
		r.skip(1) // mb_adaptive_frame_field_flag
	}
	r.skip(1) // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB uint32
	if r.flag() { // frame_cropping_flag
		cropL, cropR, cropT, cropB = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return nil, fmt.Errorf("H.264 SPS: %w", r.err)
	}
	if wMBs > 1<<12 || hMapUnits > 1<<12 {
		return nil, fmt.Errorf("H.264 picture of %dx%d macroblocks: %w", wMBs, hMapUnits, ErrInvalid)
	}
	frameHeightFactor := 2
	if s.FrameMBsOnly {
		frameHeightFactor = 1
	}
	s.CodedWidth = int(wMBs) * 16
	s.CodedHeight = int(hMapUnits) * 16 * frameHeightFactor

	// §7.4.2.1.1, frame_crop_*_offset: units depend on ChromaArrayType.
	cropUnitX, cropUnitY := 1, frameHeightFactor
	if !s.SeparateColourPlane && s.ChromaFormatIDC != 0 {
		subW, subH := 2, 2 // 4:2:0
		switch s.ChromaFormatIDC {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		cropUnitX, cropUnitY = subW, subH*frameHeightFactor
	}
	cw := uint64(cropUnitX) * (uint64(cropL) + uint64(cropR))
	ch := uint64(cropUnitY) * (uint64(cropT) + uint64(cropB))
	if cw >= uint64(s.CodedWidth) || ch >= uint64(s.CodedHeight) {
		return nil, fmt.Errorf("H.264 cropping %d/%d of %dx%d: %w", cw, ch, s.CodedWidth, s.CodedHeight, ErrInvalid)
	}
	s.Width = s.CodedWidth - int(cw)
	s.Height = s.CodedHeight - int(ch)

	if r.flag() { // vui_parameters_present_flag
		s.parseVUI(r)
	}
	return s, nil
}

func skipScalingList(r *bitReader, size int) {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			next = (last + r.se() + 256) % 256
			if r.err != nil {
				return
			}
		}
		if next != 0 {
			last = next
		}
	}
}

// parseVUI reads the start of vui_parameters() (H.264 §E.1.1) up to the
// timing information. On a read error the VUI fields are left zero.
func (s *H264SPS) parseVUI(r *bitReader) {
	var v H264SPS
	if r.flag() { // aspect_ratio_info_present_flag
		idc := r.u(8)
		switch {
		case idc == 255: // Extended_SAR
			v.SARWidth, v.SARHeight = uint16(r.u(16)), uint16(r.u(16))
		case idc < uint32(len(sarTable)):
			v.SARWidth, v.SARHeight = sarTable[idc][0], sarTable[idc][1]
		}
	}
	if r.flag() { // overscan_info_present_flag
		r.skip(1)
	}
	if r.flag() { // video_signal_type_present_flag
		r.skip(4)     // video_format, video_full_range_flag
		if r.flag() { // colour_description_present_flag
			r.skip(24)
		}
	}
	if r.flag() { // chroma_loc_info_present_flag
		r.ue()
		r.ue()
	}
	if r.flag() { // timing_info_present_flag
		v.NumUnitsInTick = r.u(32)
		v.TimeScale = r.u(32)
		v.FixedFrameRate = r.flag()
	}
	if r.err != nil {
		return
	}
	s.SARWidth, s.SARHeight = v.SARWidth, v.SARHeight
	s.NumUnitsInTick, s.TimeScale, s.FixedFrameRate = v.NumUnitsInTick, v.TimeScale, v.FixedFrameRate
}

// FrameRate returns the frame rate signalled in the VUI timing information
// as a fraction, or 0, 0 when absent.
func (s *H264SPS) FrameRate() (num, den uint32) {
	if s.NumUnitsInTick == 0 || s.TimeScale == 0 {
		return 0, 0
	}
	return s.TimeScale, 2 * s.NumUnitsInTick
}

// Codec returns the RFC 6381 codecs parameter for the stream, "avc1."
// followed by profile_idc, the constraint flags byte and level_idc as six
// hexadecimal digits (RFC 6381 §3.3), e.g. "avc1.64001f".
func (s *H264SPS) Codec() string {
	return H264CodecString(s.ProfileIDC, s.ConstraintFlags, s.LevelIDC)
}

// H264CodecString formats the RFC 6381 codecs parameter "avc1.PPCCLL" from
// the three bytes that follow the NAL header of an SPS (and that
// AVCDecoderConfigurationRecord repeats).
func H264CodecString(profile, constraints, level uint8) string {
	const hex = "0123456789abcdef"
	b := []byte("avc1.000000")
	for i, v := range []uint8{profile, constraints, level} {
		b[5+2*i] = hex[v>>4]
		b[6+2*i] = hex[v&15]
	}
	return string(b)
}
