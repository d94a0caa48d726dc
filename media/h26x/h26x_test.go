package h26x

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// boxBody returns the body of the first box of type typ found anywhere in
// an MP4 file by scanning for its four-character code. Good enough for
// the small ffmpeg-made files in testdata.
func boxBody(t *testing.T, file []byte, typ string) []byte {
	t.Helper()
	i := bytes.Index(file, []byte(typ))
	if i < 4 {
		t.Fatalf("no %s box", typ)
	}
	size := int(binary.BigEndian.Uint32(file[i-4:]))
	return file[i+4 : i-4+size]
}

func TestSplitAnnexB(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"no start code", []byte{1, 2, 3}, nil},
		{"three-byte", []byte{0, 0, 1, 0x65, 1, 2}, [][]byte{{0x65, 1, 2}}},
		{"four-byte", []byte{0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2}, [][]byte{{0x67, 1}, {0x68, 2}}},
		{"mixed and trailing zeros", []byte{0, 0, 1, 0x09, 0xf0, 0, 0, 0, 0, 1, 0x41, 3, 0, 0}, [][]byte{{0x09, 0xf0}, {0x41, 3}}},
		{"garbage before", []byte{7, 7, 0, 0, 1, 0x41}, [][]byte{{0x41}}},
		{"empty units skipped", []byte{0, 0, 1, 0, 0, 1, 0x41, 0, 0, 1}, [][]byte{{0x41}}},
		{"emulation prevention kept", []byte{0, 0, 1, 0x41, 0, 0, 3, 1}, [][]byte{{0x41, 0, 0, 3, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitAnnexB(tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d units %x, want %d %x", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("unit %d = %x, want %x", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestSplitLengthPrefixed(t *testing.T) {
	b := []byte{0, 2, 0xaa, 0xbb, 0, 1, 0xcc}
	got, err := SplitLengthPrefixed(b, 2)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], []byte{0xaa, 0xbb}) || !bytes.Equal(got[1], []byte{0xcc}) {
		t.Fatalf("got %x, %v", got, err)
	}
	if _, err := SplitLengthPrefixed(b[:5], 2); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated: err = %v, want ErrTruncated", err)
	}
	if _, err := SplitLengthPrefixed(b, 3); !errors.Is(err, ErrInvalid) {
		t.Errorf("length size 3: err = %v, want ErrInvalid", err)
	}
	if _, err := SplitAVCC([]byte{0, 0, 0, 5, 1}); !errors.Is(err, ErrTruncated) {
		t.Errorf("SplitAVCC short: err = %v, want ErrTruncated", err)
	}
	if _, err := AVCCToAnnexB(nil, []byte{0, 0, 0, 5, 1}); !errors.Is(err, ErrTruncated) {
		t.Errorf("AVCCToAnnexB short: err = %v, want ErrTruncated", err)
	}
}

func TestEmulationPrevention(t *testing.T) {
	tests := []struct{ rbsp, ebsp []byte }{
		{[]byte{1, 2, 3}, []byte{1, 2, 3}},
		{[]byte{0, 0, 0}, []byte{0, 0, 3, 0}},
		{[]byte{0, 0, 1}, []byte{0, 0, 3, 1}},
		{[]byte{0, 0, 2, 0, 0, 3}, []byte{0, 0, 3, 2, 0, 0, 3, 3}},
		{[]byte{0, 0, 4}, []byte{0, 0, 4}},
		{[]byte{0, 0, 0, 0}, []byte{0, 0, 3, 0, 0}},
		{[]byte{0, 0, 0, 0, 0}, []byte{0, 0, 3, 0, 0, 3, 0}},
	}
	for _, tt := range tests {
		if got := AddEmulationPrevention(nil, tt.rbsp); !bytes.Equal(got, tt.ebsp) {
			t.Errorf("Add(%x) = %x, want %x", tt.rbsp, got, tt.ebsp)
		}
		if got := RemoveEmulationPrevention(tt.ebsp); !bytes.Equal(got, tt.rbsp) {
			t.Errorf("Remove(%x) = %x, want %x", tt.ebsp, got, tt.rbsp)
		}
	}
}

func TestNALTypes(t *testing.T) {
	if got := H264Type([]byte{0x65}); got != H264NALIDR {
		t.Errorf("H264Type(0x65) = %d", got)
	}
	if got := H264Type([]byte{0x67}); got != H264NALSPS {
		t.Errorf("H264Type(0x67) = %d", got)
	}
	if got := H265Type([]byte{0x40, 0x01}); got != H265NALVPS {
		t.Errorf("H265Type(0x4001) = %d", got)
	}
	if got := H265Type([]byte{0x26, 0x01}); got != H265NALIDRWRADL {
		t.Errorf("H265Type(0x2601) = %d", got)
	}
	if !H265NALCRA.IsIRAP() || H265NALTrailR.IsIRAP() || H265NALVPS.IsIRAP() {
		t.Error("IsIRAP wrong")
	}
	if H264Type(nil) != 0 || H265Type(nil) != 0 {
		t.Error("empty NAL type not 0")
	}
	sample := AppendAVCC(nil, []byte{0x09, 0xf0}, []byte{0x65, 0x88})
	if !IsKeyFrameAVCC(H264, sample) || IsKeyFrameAVCC(H264, AppendAVCC(nil, []byte{0x41, 0x9a})) {
		t.Error("IsKeyFrameAVCC wrong")
	}
	if IsKeyFrameAVCC(H264, sample[:7]) {
		t.Error("IsKeyFrameAVCC accepted a truncated sample")
	}
	if !IsKeyFrameAnnexB(H265, []byte{0, 0, 1, 0x2a, 0x01, 0xaf}) { // CRA
		t.Error("IsKeyFrameAnnexB missed a CRA")
	}
	if H264.String() != "H.264" || H265.String() != "H.265" {
		t.Error("Codec.String wrong")
	}
}

// TestStreams checks the parsers against streams made by ffmpeg (see
// testdata/README.md); the expected values are what ffprobe reports.
func TestStreams(t *testing.T) {
	tests := []struct {
		file          string
		codec         Codec
		width, height int
		codedHeight   int
		profile       uint8
		level         uint8
		bitDepth      uint8
		chroma        uint32
		codecString   string
		keyFrames     int
		pictures      int
	}{
		{"avc.h264", H264, 176, 100, 112, 100, 11, 8, 1, "avc1.64000b", 3, 25},
		{"avc444.h264", H264, 100, 60, 64, 244, 10, 8, 3, "avc1.f4000a", 1, 2},
		{"avc_baseline.h264", H264, 64, 64, 64, 66, 10, 8, 1, "avc1.42c00a", 1, 2},
		{"avc_interlaced.h264", H264, 176, 100, 128, 100, 21, 8, 1, "avc1.640015", 1, 2},
		{"hevc.h265", H265, 176, 100, 104, 1, 30, 8, 1, "hvc1.1.6.L30.90", 3, 25},
		{"hevc_main10.h265", H265, 200, 120, 120, 2, 60, 10, 1, "hvc1.2.4.L60.90", 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			stream := readTestdata(t, tt.file)
			nalus := SplitAnnexB(stream)
			var vps, sps, pps [][]byte
			keys, pictures := 0, 0
			for _, n := range nalus {
				switch tt.codec {
				case H264:
					switch H264Type(n) {
					case H264NALSPS:
						sps = append(sps, n)
					case H264NALPPS:
						pps = append(pps, n)
					case H264NALIDR, H264NALSlice:
						// One slice per picture in these streams
						// (x264 codes interlaced video as MBAFF frames).
						pictures++
					}
				case H265:
					switch H265Type(n) {
					case H265NALVPS:
						vps = append(vps, n)
					case H265NALSPS:
						sps = append(sps, n)
					case H265NALPPS:
						pps = append(pps, n)
					default:
						if H265Type(n).IsVCL() {
							pictures++
						}
					}
				}
				if IsKeyFrameNALU(tt.codec, n) {
					keys++
				}
			}
			if keys != tt.keyFrames || pictures != tt.pictures {
				t.Errorf("key frames %d, pictures %d; want %d, %d", keys, pictures, tt.keyFrames, tt.pictures)
			}
			if len(sps) == 0 || len(pps) == 0 {
				t.Fatal("no parameter sets")
			}

			// Length-prefixed round trip.
			avcc := AnnexBToAVCC(nil, stream)
			units, err := SplitAVCC(avcc)
			if err != nil || len(units) != len(nalus) {
				t.Fatalf("SplitAVCC: %d units, %v; want %d", len(units), err, len(nalus))
			}
			back, err := AVCCToAnnexB(nil, avcc)
			if err != nil || !bytes.Equal(AnnexBToAVCC(nil, back), avcc) {
				t.Fatalf("AVCC -> Annex-B -> AVCC differs (err %v)", err)
			}

			var width, height, codedHeight int
			var profile, level, depth uint8
			var chroma uint32
			var codec string
			switch tt.codec {
			case H264:
				s, err := ParseH264SPS(sps[0])
				if err != nil {
					t.Fatal(err)
				}
				width, height, codedHeight = s.Width, s.Height, s.CodedHeight
				profile, level, depth, chroma, codec = s.ProfileIDC, s.LevelIDC, s.BitDepthLuma, s.ChromaFormatIDC, s.Codec()
				if num, den := s.FrameRate(); num != 0 && num/den != 25 && num/den != 30 {
					t.Errorf("frame rate %d/%d", num, den)
				}
				cfg, err := NewAVCDecoderConfig(sps, pps)
				if err != nil {
					t.Fatal(err)
				}
				b, err := cfg.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				got, err := ParseAVCDecoderConfig(b)
				if err != nil {
					t.Fatal(err)
				}
				if got.Codec() != tt.codecString || !bytes.Equal(got.SPS[0], sps[0]) || !bytes.Equal(got.PPS[0], pps[0]) || got.LengthSize != 4 {
					t.Errorf("avcC round trip: %+v", got)
				}
			case H265:
				s, err := ParseH265SPS(sps[0])
				if err != nil {
					t.Fatal(err)
				}
				width, height, codedHeight = s.Width, s.Height, s.CodedHeight
				profile, level, depth, chroma, codec = s.ProfileTierLevel.ProfileIDC, s.ProfileTierLevel.LevelIDC, s.BitDepthLuma, s.ChromaFormatIDC, s.Codec()
				cfg, err := NewHEVCDecoderConfig(vps, sps, pps)
				if err != nil {
					t.Fatal(err)
				}
				b, err := cfg.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				got, err := ParseHEVCDecoderConfig(b)
				if err != nil {
					t.Fatal(err)
				}
				if got.Codec() != tt.codecString || !bytes.Equal(got.VPS()[0], vps[0]) || !bytes.Equal(got.SPS()[0], sps[0]) ||
					!bytes.Equal(got.PPS()[0], pps[0]) || got.LengthSize != 4 || got.BitDepthLuma != tt.bitDepth {
					t.Errorf("hvcC round trip: %+v", got)
				}
			}
			if width != tt.width || height != tt.height || codedHeight != tt.codedHeight {
				t.Errorf("size %dx%d (coded height %d), want %dx%d (%d)", width, height, codedHeight, tt.width, tt.height, tt.codedHeight)
			}
			if profile != tt.profile || level != tt.level || depth != tt.bitDepth || chroma != tt.chroma {
				t.Errorf("profile %d level %d depth %d chroma %d, want %d %d %d %d", profile, level, depth, chroma, tt.profile, tt.level, tt.bitDepth, tt.chroma)
			}
			if codec != tt.codecString {
				t.Errorf("codec %q, want %q", codec, tt.codecString)
			}
		})
	}
}

// TestFFmpegRecords parses the avcC and hvcC boxes ffmpeg wrote into MP4
// files and compares them with records built from the same streams.
func TestFFmpegRecords(t *testing.T) {
	t.Run("avcC", func(t *testing.T) {
		ff, err := ParseAVCDecoderConfig(boxBody(t, readTestdata(t, "avc.mp4"), "avcC"))
		if err != nil {
			t.Fatal(err)
		}
		nalus := SplitAnnexB(readTestdata(t, "avc.h264"))
		var sps, pps [][]byte
		for _, n := range nalus {
			switch H264Type(n) {
			case H264NALSPS:
				sps = append(sps, n)
			case H264NALPPS:
				pps = append(pps, n)
			}
		}
		ours, err := NewAVCDecoderConfig(sps[:1], pps[:1])
		if err != nil {
			t.Fatal(err)
		}
		if ff.Codec() != ours.Codec() || ff.LengthSize != 4 || !bytes.Equal(ff.SPS[0], ours.SPS[0]) || !bytes.Equal(ff.PPS[0], ours.PPS[0]) {
			t.Errorf("ffmpeg avcC %+v, ours %+v", ff, ours)
		}
		if ff.HasExt && (ff.ChromaFormat != ours.ChromaFormat || ff.BitDepthLuma != ours.BitDepthLuma) {
			t.Errorf("extension: ffmpeg %+v, ours %+v", ff, ours)
		}
		s, err := ff.ParseSPS()
		if err != nil || s.Width != 176 || s.Height != 100 {
			t.Errorf("SPS from ffmpeg avcC: %+v, %v", s, err)
		}
	})
	t.Run("hvcC", func(t *testing.T) {
		body := boxBody(t, readTestdata(t, "hevc.mp4"), "hvcC")
		ff, err := ParseHEVCDecoderConfig(body)
		if err != nil {
			t.Fatal(err)
		}
		var vps, sps, pps [][]byte
		for _, n := range SplitAnnexB(readTestdata(t, "hevc.h265")) {
			switch H265Type(n) {
			case H265NALVPS:
				vps = append(vps, n)
			case H265NALSPS:
				sps = append(sps, n)
			case H265NALPPS:
				pps = append(pps, n)
			}
		}
		ours, err := NewHEVCDecoderConfig(vps[:1], sps[:1], pps[:1])
		if err != nil {
			t.Fatal(err)
		}
		if ff.ProfileTierLevel != ours.ProfileTierLevel || ff.ChromaFormat != ours.ChromaFormat ||
			ff.BitDepthLuma != ours.BitDepthLuma || ff.NumTemporalLayers != ours.NumTemporalLayers ||
			ff.TemporalIDNested != ours.TemporalIDNested || ff.LengthSize != 4 {
			t.Errorf("ffmpeg hvcC %+v\nours %+v", ff, ours)
		}
		for _, typ := range []H265NALType{H265NALVPS, H265NALSPS, H265NALPPS} {
			if !bytes.Equal(ff.NALUs(typ)[0], ours.NALUs(typ)[0]) {
				t.Errorf("NAL type %d differs", typ)
			}
		}
		// Re-encoding what we parsed gives ffmpeg's bytes back.
		again, err := ff.Bytes()
		if err != nil || !bytes.Equal(again, body) {
			t.Errorf("re-encoded hvcC differs:\n%x\n%x", again, body)
		}
	})
}

func TestCodecStrings(t *testing.T) {
	// Examples from ISO/IEC 14496-15 Annex E and RFC 6381.
	main := H265ProfileTierLevel{ProfileIDC: 1, CompatibilityFlags: 0x60000000, ConstraintFlags: 0xb0 << 40, LevelIDC: 93}
	if got := main.Codec("hvc1"); got != "hvc1.1.6.L93.B0" {
		t.Errorf("got %q", got)
	}
	high := H265ProfileTierLevel{ProfileSpace: 1, Tier: true, ProfileIDC: 2, CompatibilityFlags: 0x20000000, ConstraintFlags: 0x000000000001, LevelIDC: 120}
	if got := high.Codec("hev1"); got != "hev1.A2.4.H120.00.00.00.00.00.01" {
		t.Errorf("got %q", got)
	}
	if got := H264CodecString(0x42, 0xe0, 0x1e); got != "avc1.42e01e" {
		t.Errorf("got %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"h264 sps short", func() error { _, err := ParseH264SPS([]byte{0x67, 0x64}); return err }, ErrTruncated},
		{"h264 not sps", func() error { _, err := ParseH264SPS([]byte{0x68, 1, 2, 3, 4}); return err }, ErrInvalid},
		{"h264 sps cut", func() error { _, err := ParseH264SPS([]byte{0x67, 0x64, 0, 0x1f, 0x80}); return err }, ErrTruncated},
		{"h265 not sps", func() error { _, err := ParseH265SPS([]byte{0x40, 1, 2, 3}); return err }, ErrInvalid},
		{"h265 sps cut", func() error { _, err := ParseH265SPS([]byte{0x42, 1, 1, 1}); return err }, ErrTruncated},
		{"avcC short", func() error { _, err := ParseAVCDecoderConfig([]byte{1, 2}); return err }, ErrTruncated},
		{"avcC version", func() error { _, err := ParseAVCDecoderConfig([]byte{2, 0x64, 0, 0x1f, 0xff, 0xe1, 0}); return err }, ErrUnsupported},
		{"avcC sps cut", func() error {
			_, err := ParseAVCDecoderConfig([]byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 9, 0x67})
			return err
		}, ErrTruncated},
		{"hvcC short", func() error { _, err := ParseHEVCDecoderConfig(make([]byte, 22)); return err }, ErrTruncated},
		{"avcC build empty", func() error { _, err := NewAVCDecoderConfig(nil, nil); return err }, ErrInvalid},
		{"hvcC build empty", func() error { _, err := NewHEVCDecoderConfig(nil, nil, nil); return err }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.fn(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
