package h26x

import (
	"fmt"
	"strconv"
	"strings"
)

// H265ProfileTierLevel is the general part of profile_tier_level() (H.265
// §7.3.3), which HEVCDecoderConfigurationRecord repeats.
type H265ProfileTierLevel struct {
	ProfileSpace uint8 // general_profile_space, 0 in all current profiles
	Tier         bool  // general_tier_flag: false Main tier, true High tier
	ProfileIDC   uint8 // general_profile_idc: 1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions
	// CompatibilityFlags holds general_profile_compatibility_flag[0..31],
	// flag j in bit 31-j (the order they appear in the bitstream).
	CompatibilityFlags uint32
	// ConstraintFlags holds the 48 bits that start with
	// general_progressive_source_flag, in bitstream order, in the low 48
	// bits.
	ConstraintFlags uint64
	LevelIDC        uint8 // general_level_idc, thirty times the level number (93 = level 3.1)
}

// Codec returns the codecs parameter of ISO/IEC 14496-15 Annex E for this
// profile, tier and level with the given sample entry type ("hvc1" or
// "hev1"), e.g. "hvc1.1.6.L93.B0".
func (p H265ProfileTierLevel) Codec(sampleEntry string) string {
	var b strings.Builder
	b.WriteString(sampleEntry)
	b.WriteByte('.')
	if p.ProfileSpace > 0 && p.ProfileSpace <= 3 {
		b.WriteByte("ABC"[p.ProfileSpace-1])
	}
	b.WriteString(strconv.Itoa(int(p.ProfileIDC)))
	b.WriteByte('.')
	// The 32 compatibility flags in reverse bit order, in hexadecimal
	// without leading zeros (E.3).
	var rev uint32
	for i := range 32 {
		if p.CompatibilityFlags&(1<<uint(31-i)) != 0 {
			rev |= 1 << uint(i)
		}
	}
	b.WriteString(strings.ToUpper(strconv.FormatUint(uint64(rev), 16)))
	b.WriteByte('.')
	if p.Tier {
		b.WriteByte('H')
	} else {
		b.WriteByte('L')
	}
	b.WriteString(strconv.Itoa(int(p.LevelIDC)))
	// The six constraint bytes, trailing zero bytes omitted.
	n := 6
	for n > 0 && (p.ConstraintFlags>>uint(8*(6-n)))&0xff == 0 {
		n--
	}
	const hex = "0123456789ABCDEF"
	for i := range n {
		c := byte(p.ConstraintFlags >> uint(8*(5-i)))
		b.WriteByte('.')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// readProfileTierLevel reads profile_tier_level(1, maxSubLayersMinus1)
// (H.265 §7.3.3) and keeps the general part.
func readProfileTierLevel(r *bitReader, maxSubLayersMinus1 int) H265ProfileTierLevel {
	var p H265ProfileTierLevel
	p.ProfileSpace = uint8(r.u(2))
	p.Tier = r.flag()
	p.ProfileIDC = uint8(r.u(5))
	p.CompatibilityFlags = r.u(32)
	p.ConstraintFlags = uint64(r.u(24))<<24 | uint64(r.u(24))
	p.LevelIDC = uint8(r.u(8))
	var profilePresent, levelPresent [8]bool
	for i := range maxSubLayersMinus1 {
		profilePresent[i] = r.flag()
		levelPresent[i] = r.flag()
	}
	if maxSubLayersMinus1 > 0 {
		for i := maxSubLayersMinus1; i < 8; i++ {
			r.skip(2) // reserved_zero_2bits
		}
	}
	for i := range maxSubLayersMinus1 {
		if profilePresent[i] {
			r.skip(88)
		}
		if levelPresent[i] {
			r.skip(8)
		}
	}
	return p
}

// H265SPS holds the fields of an H.265 sequence parameter set (H.265
// §7.3.2.2.1) that a muxer or player needs.
type H265SPS struct {
	VPSID               uint8 // sps_video_parameter_set_id
	MaxSubLayersMinus1  uint8 // sps_max_sub_layers_minus1
	TemporalIDNesting   bool  // sps_temporal_id_nesting_flag
	ProfileTierLevel    H265ProfileTierLevel
	ID                  uint32 // sps_seq_parameter_set_id
	ChromaFormatIDC     uint32 // 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4
	SeparateColourPlane bool
	BitDepthLuma        uint8
	BitDepthChroma      uint8

	// Width and Height are the displayed picture size in luma samples,
	// after the conformance window is applied (§7.4.3.2.1).
	Width, Height int
	// CodedWidth and CodedHeight are pic_width_in_luma_samples and
	// pic_height_in_luma_samples.
	CodedWidth, CodedHeight int
}

// ParseH265SPS parses an H.265 SPS NAL unit (including its 2-byte NAL
// header, without start code or length prefix) up to the bit depths.
func ParseH265SPS(nalu []byte) (*H265SPS, error) {
	if len(nalu) < 3 {
		return nil, fmt.Errorf("H.265 SPS of %d bytes: %w", len(nalu), ErrTruncated)
	}
	if t := H265Type(nalu); t != H265NALSPS {
		return nil, fmt.Errorf("H.265 NAL type %d is not an SPS: %w", t, ErrInvalid)
	}
	r := &bitReader{b: RemoveEmulationPrevention(nalu[2:])}
	s := &H265SPS{
		VPSID:              uint8(r.u(4)),
		MaxSubLayersMinus1: uint8(r.u(3)),
		TemporalIDNesting:  r.flag(),
	}
	if s.MaxSubLayersMinus1 > 6 {
		return nil, fmt.Errorf("H.265 sps_max_sub_layers_minus1 %d: %w", s.MaxSubLayersMinus1, ErrInvalid)
	}
	s.ProfileTierLevel = readProfileTierLevel(r, int(s.MaxSubLayersMinus1))
	s.ID = r.ue()
	if s.ID > 15 {
		return nil, fmt.Errorf("H.265 sps_seq_parameter_set_id %d: %w", s.ID, ErrInvalid)
	}
	s.ChromaFormatIDC = r.ue()
	if s.ChromaFormatIDC > 3 {
		return nil, fmt.Errorf("H.265 chroma_format_idc %d: %w", s.ChromaFormatIDC, ErrInvalid)
	}
	if s.ChromaFormatIDC == 3 {
		s.SeparateColourPlane = r.flag()
	}
	w, h := r.ue(), r.ue()
	var confL, confR, confT, confB uint32
	if r.flag() { // conformance_window_flag
		confL, confR, confT, confB = r.ue(), r.ue(), r.ue(), r.ue()
	}
	bl, bc := r.ue(), r.ue()
	if r.err != nil {
		return nil, fmt.Errorf("H.265 SPS: %w", r.err)
	}
	if bl > 8 || bc > 8 {
		return nil, fmt.Errorf("H.265 bit depth %d/%d: %w", bl+8, bc+8, ErrInvalid)
	}
	s.BitDepthLuma, s.BitDepthChroma = uint8(bl+8), uint8(bc+8)
	if w == 0 || h == 0 || w > 1<<16 || h > 1<<16 {
		return nil, fmt.Errorf("H.265 picture of %dx%d: %w", w, h, ErrInvalid)
	}
	s.CodedWidth, s.CodedHeight = int(w), int(h)
	// Table 6-1: SubWidthC, SubHeightC.
	subW, subH := uint64(1), uint64(1)
	if !s.SeparateColourPlane {
		switch s.ChromaFormatIDC {
		case 1:
			subW, subH = 2, 2
		case 2:
			subW = 2
		}
	}
	cw := subW * (uint64(confL) + uint64(confR))
	ch := subH * (uint64(confT) + uint64(confB))
	if cw >= uint64(w) || ch >= uint64(h) {
		return nil, fmt.Errorf("H.265 conformance window %d/%d of %dx%d: %w", cw, ch, w, h, ErrInvalid)
	}
	s.Width = int(uint64(w) - cw)
	s.Height = int(uint64(h) - ch)
	return s, nil
}

// Codec returns the codecs parameter for this stream with sample entry type
// "hvc1" (ISO/IEC 14496-15 Annex E), e.g. "hvc1.1.6.L93.B0".
func (s *H265SPS) Codec() string {
	return s.ProfileTierLevel.Codec("hvc1")
}
