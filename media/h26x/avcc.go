package h26x

import (
	"encoding/binary"
	"fmt"
)

// AVCDecoderConfig is an AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// §5.3.3.1), the body of the MP4 'avcC' box and the Matroska CodecPrivate of
// V_MPEG4/ISO/AVC tracks.
type AVCDecoderConfig struct {
	ProfileIndication    uint8 // AVCProfileIndication, profile_idc of the SPS
	ProfileCompatibility uint8 // profile_compatibility, the SPS constraint flags byte
	LevelIndication      uint8 // AVCLevelIndication, level_idc of the SPS
	LengthSize           int   // bytes of each NAL unit length in samples: 1, 2 or 4
	SPS                  [][]byte
	PPS                  [][]byte

	// The fields below are present for the High profiles (profile_idc
	// 100, 110, 122, 144) when HasExt is true.
	HasExt         bool
	ChromaFormat   uint8 // chroma_format_idc
	BitDepthLuma   uint8 // bit_depth_luma_minus8 + 8
	BitDepthChroma uint8 // bit_depth_chroma_minus8 + 8
	SPSExt         [][]byte
}

// ParseAVCDecoderConfig parses an AVCDecoderConfigurationRecord. The
// parameter set slices alias b. The High-profile extension is read when
// present; records that omit it, as many encoders write, are accepted.
func ParseAVCDecoderConfig(b []byte) (*AVCDecoderConfig, error) {
	if len(b) < 7 {
		return nil, fmt.Errorf("avcC of %d bytes: %w", len(b), ErrTruncated)
	}
	if b[0] != 1 {
		return nil, fmt.Errorf("avcC configurationVersion %d: %w", b[0], ErrUnsupported)
	}
	c := &AVCDecoderConfig{
		ProfileIndication:    b[1],
		ProfileCompatibility: b[2],
		LevelIndication:      b[3],
		LengthSize:           int(b[4]&3) + 1,
	}
	if c.LengthSize == 3 {
		return nil, fmt.Errorf("avcC lengthSizeMinusOne 2: %w", ErrInvalid)
	}
	rest := b[5:]
	var err error
	n := int(rest[0] & 0x1f)
	if c.SPS, rest, err = readParamSets(rest[1:], n); err != nil {
		return nil, fmt.Errorf("avcC SPS: %w", err)
	}
	if len(rest) < 1 {
		return nil, fmt.Errorf("avcC numOfPictureParameterSets: %w", ErrTruncated)
	}
	if c.PPS, rest, err = readParamSets(rest[1:], int(rest[0])); err != nil {
		return nil, fmt.Errorf("avcC PPS: %w", err)
	}
	switch c.ProfileIndication {
	case 100, 110, 122, 144:
		if len(rest) >= 4 {
			c.HasExt = true
			c.ChromaFormat = rest[0] & 3
			c.BitDepthLuma = rest[1]&7 + 8
			c.BitDepthChroma = rest[2]&7 + 8
			if c.SPSExt, _, err = readParamSets(rest[4:], int(rest[3])); err != nil {
				return nil, fmt.Errorf("avcC SPS extension: %w", err)
			}
		}
	}
	return c, nil
}

// readParamSets reads n entries of a 16-bit length followed by a NAL unit.
func readParamSets(b []byte, n int) ([][]byte, []byte, error) {
	out := make([][]byte, 0, n)
	for range n {
		if len(b) < 2 {
			return nil, nil, ErrTruncated
		}
		l := int(binary.BigEndian.Uint16(b))
		if len(b)-2 < l {
			return nil, nil, ErrTruncated
		}
		out = append(out, b[2:2+l])
		b = b[2+l:]
	}
	return out, b, nil
}

// NewAVCDecoderConfig builds a record with 4-byte NAL lengths from the
// stream's SPS and PPS NAL units (with their NAL headers). Profile, level and
// the High-profile extension are taken from the first SPS.
func NewAVCDecoderConfig(sps, pps [][]byte) (*AVCDecoderConfig, error) {
	if len(sps) == 0 || len(pps) == 0 {
		return nil, fmt.Errorf("avcC needs at least one SPS and one PPS: %w", ErrInvalid)
	}
	s, err := ParseH264SPS(sps[0])
	if err != nil {
		return nil, err
	}
	c := &AVCDecoderConfig{
		ProfileIndication:    s.ProfileIDC,
		ProfileCompatibility: s.ConstraintFlags,
		LevelIndication:      s.LevelIDC,
		LengthSize:           4,
		SPS:                  sps,
		PPS:                  pps,
	}
	switch s.ProfileIDC {
	case 100, 110, 122, 144:
		c.HasExt = true
		c.ChromaFormat = uint8(s.ChromaFormatIDC)
		c.BitDepthLuma = s.BitDepthLuma
		c.BitDepthChroma = s.BitDepthChroma
	}
	return c, nil
}

// Append appends the encoded record to dst and returns the extended slice.
// It fails when a count or length does not fit its field.
func (c *AVCDecoderConfig) Append(dst []byte) ([]byte, error) {
	if c.LengthSize != 1 && c.LengthSize != 2 && c.LengthSize != 4 {
		return dst, fmt.Errorf("avcC length size %d: %w", c.LengthSize, ErrInvalid)
	}
	if len(c.SPS) > 31 || len(c.PPS) > 255 || len(c.SPSExt) > 255 {
		return dst, fmt.Errorf("avcC with %d SPS, %d PPS: %w", len(c.SPS), len(c.PPS), ErrInvalid)
	}
	dst = append(dst, 1, c.ProfileIndication, c.ProfileCompatibility, c.LevelIndication,
		0xfc|uint8(c.LengthSize-1), 0xe0|uint8(len(c.SPS)))
	var err error
	if dst, err = appendParamSets(dst, c.SPS); err != nil {
		return dst, err
	}
	dst = append(dst, uint8(len(c.PPS)))
	if dst, err = appendParamSets(dst, c.PPS); err != nil {
		return dst, err
	}
	if c.HasExt {
		dst = append(dst, 0xfc|c.ChromaFormat&3, 0xf8|(c.BitDepthLuma-8)&7, 0xf8|(c.BitDepthChroma-8)&7,
			uint8(len(c.SPSExt)))
		if dst, err = appendParamSets(dst, c.SPSExt); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// Bytes returns the encoded record; see Append.
func (c *AVCDecoderConfig) Bytes() ([]byte, error) { return c.Append(nil) }

func appendParamSets(dst []byte, sets [][]byte) ([]byte, error) {
	for _, s := range sets {
		if len(s) > 0xffff {
			return dst, fmt.Errorf("parameter set of %d bytes: %w", len(s), ErrInvalid)
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
		dst = append(dst, s...)
	}
	return dst, nil
}

// ParseSPS parses the first SPS of the record.
func (c *AVCDecoderConfig) ParseSPS() (*H264SPS, error) {
	if len(c.SPS) == 0 {
		return nil, fmt.Errorf("avcC has no SPS: %w", ErrInvalid)
	}
	return ParseH264SPS(c.SPS[0])
}

// Codec returns the RFC 6381 codecs parameter, e.g. "avc1.64001f".
func (c *AVCDecoderConfig) Codec() string {
	return H264CodecString(c.ProfileIndication, c.ProfileCompatibility, c.LevelIndication)
}
