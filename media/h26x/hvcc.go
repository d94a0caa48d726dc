package h26x

import (
	"encoding/binary"
	"fmt"
)

// HEVCNALArray is one array of HEVCDecoderConfigurationRecord: NAL units of
// one type (VPS, SPS, PPS or SEI).
type HEVCNALArray struct {
	// Complete is array_completeness: true when every NAL unit of this
	// type is in the array and none in the samples (required for 'hvc1').
	Complete bool
	Type     H265NALType
	NALUs    [][]byte
}

// HEVCDecoderConfig is an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15
// §8.3.3.1), the body of the MP4 'hvcC' box and the Matroska CodecPrivate of
// V_MPEGH/ISO/HEVC tracks.
type HEVCDecoderConfig struct {
	ProfileTierLevel          H265ProfileTierLevel
	MinSpatialSegmentationIDC uint16 // 12 bits
	ParallelismType           uint8  // 2 bits
	ChromaFormat              uint8  // chroma_format_idc
	BitDepthLuma              uint8  // bit_depth_luma_minus8 + 8
	BitDepthChroma            uint8  // bit_depth_chroma_minus8 + 8
	AvgFrameRate              uint16 // frames per 256 seconds, 0 unspecified
	ConstantFrameRate         uint8  // 2 bits
	NumTemporalLayers         uint8  // 3 bits
	TemporalIDNested          bool
	LengthSize                int // bytes of each NAL unit length in samples: 1, 2 or 4
	Arrays                    []HEVCNALArray
}

// ParseHEVCDecoderConfig parses an HEVCDecoderConfigurationRecord. The NAL
// unit slices alias b.
func ParseHEVCDecoderConfig(b []byte) (*HEVCDecoderConfig, error) {
	if len(b) < 23 {
		return nil, fmt.Errorf("hvcC of %d bytes: %w", len(b), ErrTruncated)
	}
	if b[0] != 1 {
		return nil, fmt.Errorf("hvcC configurationVersion %d: %w", b[0], ErrUnsupported)
	}
	c := &HEVCDecoderConfig{
		ProfileTierLevel: H265ProfileTierLevel{
			ProfileSpace:       b[1] >> 6,
			Tier:               b[1]&0x20 != 0,
			ProfileIDC:         b[1] & 0x1f,
			CompatibilityFlags: binary.BigEndian.Uint32(b[2:]),
			ConstraintFlags:    uint64(binary.BigEndian.Uint16(b[6:]))<<32 | uint64(binary.BigEndian.Uint32(b[8:])),
			LevelIDC:           b[12],
		},
		MinSpatialSegmentationIDC: binary.BigEndian.Uint16(b[13:]) & 0x0fff,
		ParallelismType:           b[15] & 3,
		ChromaFormat:              b[16] & 3,
		BitDepthLuma:              b[17]&7 + 8,
		BitDepthChroma:            b[18]&7 + 8,
		AvgFrameRate:              binary.BigEndian.Uint16(b[19:]),
		ConstantFrameRate:         b[21] >> 6,
		NumTemporalLayers:         b[21] >> 3 & 7,
		TemporalIDNested:          b[21]&4 != 0,
		LengthSize:                int(b[21]&3) + 1,
	}
	if c.LengthSize == 3 {
		return nil, fmt.Errorf("hvcC lengthSizeMinusOne 2: %w", ErrInvalid)
	}
	n := int(b[22])
	rest := b[23:]
	c.Arrays = make([]HEVCNALArray, 0, n)
	for i := range n {
		if len(rest) < 3 {
			return nil, fmt.Errorf("hvcC array %d: %w", i, ErrTruncated)
		}
		a := HEVCNALArray{Complete: rest[0]&0x80 != 0, Type: H265NALType(rest[0] & 0x3f)}
		var err error
		if a.NALUs, rest, err = readParamSets(rest[3:], int(binary.BigEndian.Uint16(rest[1:]))); err != nil {
			return nil, fmt.Errorf("hvcC array %d: %w", i, err)
		}
		c.Arrays = append(c.Arrays, a)
	}
	return c, nil
}

// NewHEVCDecoderConfig builds a record with 4-byte NAL lengths and complete
// arrays (as 'hvc1' requires) from the stream's VPS, SPS and PPS NAL units
// (with their NAL headers). The general profile, tier, level, chroma format,
// bit depths and temporal layering are taken from the first SPS.
func NewHEVCDecoderConfig(vps, sps, pps [][]byte) (*HEVCDecoderConfig, error) {
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return nil, fmt.Errorf("hvcC needs at least one VPS, SPS and PPS: %w", ErrInvalid)
	}
	s, err := ParseH265SPS(sps[0])
	if err != nil {
		return nil, err
	}
	return &HEVCDecoderConfig{
		ProfileTierLevel:  s.ProfileTierLevel,
		ChromaFormat:      uint8(s.ChromaFormatIDC),
		BitDepthLuma:      s.BitDepthLuma,
		BitDepthChroma:    s.BitDepthChroma,
		NumTemporalLayers: s.MaxSubLayersMinus1 + 1,
		TemporalIDNested:  s.TemporalIDNesting,
		LengthSize:        4,
		Arrays: []HEVCNALArray{
			{Complete: true, Type: H265NALVPS, NALUs: vps},
			{Complete: true, Type: H265NALSPS, NALUs: sps},
			{Complete: true, Type: H265NALPPS, NALUs: pps},
		},
	}, nil
}

// Append appends the encoded record to dst and returns the extended slice.
// It fails when a count or length does not fit its field.
func (c *HEVCDecoderConfig) Append(dst []byte) ([]byte, error) {
	if c.LengthSize != 1 && c.LengthSize != 2 && c.LengthSize != 4 {
		return dst, fmt.Errorf("hvcC length size %d: %w", c.LengthSize, ErrInvalid)
	}
	if len(c.Arrays) > 255 {
		return dst, fmt.Errorf("hvcC with %d arrays: %w", len(c.Arrays), ErrInvalid)
	}
	p := c.ProfileTierLevel
	b1 := p.ProfileSpace<<6 | p.ProfileIDC&0x1f
	if p.Tier {
		b1 |= 0x20
	}
	dst = append(dst, 1, b1)
	dst = binary.BigEndian.AppendUint32(dst, p.CompatibilityFlags)
	dst = binary.BigEndian.AppendUint16(dst, uint16(p.ConstraintFlags>>32))
	dst = binary.BigEndian.AppendUint32(dst, uint32(p.ConstraintFlags))
	dst = append(dst, p.LevelIDC)
	dst = binary.BigEndian.AppendUint16(dst, 0xf000|c.MinSpatialSegmentationIDC&0x0fff)
	dst = append(dst, 0xfc|c.ParallelismType&3, 0xfc|c.ChromaFormat&3,
		0xf8|(c.BitDepthLuma-8)&7, 0xf8|(c.BitDepthChroma-8)&7)
	dst = binary.BigEndian.AppendUint16(dst, c.AvgFrameRate)
	b21 := c.ConstantFrameRate<<6 | (c.NumTemporalLayers&7)<<3 | uint8(c.LengthSize-1)
	if c.TemporalIDNested {
		b21 |= 4
	}
	dst = append(dst, b21, uint8(len(c.Arrays)))
	for _, a := range c.Arrays {
		if len(a.NALUs) > 0xffff {
			return dst, fmt.Errorf("hvcC array of %d NAL units: %w", len(a.NALUs), ErrInvalid)
		}
		t := uint8(a.Type) & 0x3f
		if a.Complete {
			t |= 0x80
		}
		dst = append(dst, t)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(a.NALUs)))
		var err error
		if dst, err = appendParamSets(dst, a.NALUs); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// Bytes returns the encoded record; see Append.
func (c *HEVCDecoderConfig) Bytes() ([]byte, error) { return c.Append(nil) }

// NALUs returns the NAL units of the given type from all arrays.
func (c *HEVCDecoderConfig) NALUs(t H265NALType) [][]byte {
	var out [][]byte
	for _, a := range c.Arrays {
		if a.Type == t {
			out = append(out, a.NALUs...)
		}
	}
	return out
}

// VPS returns the video parameter sets of the record.
func (c *HEVCDecoderConfig) VPS() [][]byte { return c.NALUs(H265NALVPS) }

// SPS returns the sequence parameter sets of the record.
func (c *HEVCDecoderConfig) SPS() [][]byte { return c.NALUs(H265NALSPS) }

// PPS returns the picture parameter sets of the record.
func (c *HEVCDecoderConfig) PPS() [][]byte { return c.NALUs(H265NALPPS) }

// ParseSPS parses the first SPS of the record.
func (c *HEVCDecoderConfig) ParseSPS() (*H265SPS, error) {
	sps := c.SPS()
	if len(sps) == 0 {
		return nil, fmt.Errorf("hvcC has no SPS: %w", ErrInvalid)
	}
	return ParseH265SPS(sps[0])
}

// Codec returns the codecs parameter with sample entry type "hvc1"
// (ISO/IEC 14496-15 Annex E), e.g. "hvc1.1.6.L93.B0".
func (c *HEVCDecoderConfig) Codec() string {
	return c.ProfileTierLevel.Codec("hvc1")
}
