package h26x

import (
	"bytes"
	"testing"
)

// addStreamSeeds adds the NAL units of the testdata streams as fuzz seeds.
func addStreamSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		for _, n := range SplitAnnexB(readTestdata(f, name)) {
			if len(n) < 200 {
				f.Add(n)
			}
		}
	}
}

func FuzzParseH264SPS(f *testing.F) {
	addStreamSeeds(f, "avc.h264", "avc444.h264", "avc_interlaced.h264", "avc_baseline.h264")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseH264SPS(b)
		if err != nil {
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > s.CodedWidth || s.Height > s.CodedHeight {
			t.Fatalf("bad size %+v", s)
		}
		if len(s.Codec()) != len("avc1.000000") {
			t.Fatalf("codec %q", s.Codec())
		}
	})
}

func FuzzParseH265SPS(f *testing.F) {
	addStreamSeeds(f, "hevc.h265", "hevc_main10.h265")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseH265SPS(b)
		if err != nil {
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > s.CodedWidth || s.Height > s.CodedHeight {
			t.Fatalf("bad size %+v", s)
		}
		_ = s.Codec()
	})
}

func FuzzParseAVCDecoderConfig(f *testing.F) {
	f.Add(boxBodyF(f, "avc.mp4", "avcC"))
	f.Add([]byte{1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 2, 0x67, 0x42, 1, 0, 1, 0x68})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAVCDecoderConfig(b)
		if err != nil {
			return
		}
		enc, err := c.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseAVCDecoderConfig(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		enc2, _ := c2.Bytes()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("not stable:\n%x\n%x", enc, enc2)
		}
	})
}

func FuzzParseHEVCDecoderConfig(f *testing.F) {
	f.Add(boxBodyF(f, "hevc.mp4", "hvcC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseHEVCDecoderConfig(b)
		if err != nil {
			return
		}
		enc, err := c.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseHEVCDecoderConfig(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		enc2, _ := c2.Bytes()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("not stable:\n%x\n%x", enc, enc2)
		}
		_ = c.Codec()
	})
}

func FuzzAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 0, 0, 3, 1})
	f.Add(readTestdata(f, "avc_baseline.h264")[:300])
	f.Fuzz(func(t *testing.T, b []byte) {
		units := SplitAnnexB(b)
		for _, u := range units {
			if len(u) == 0 || u[len(u)-1] == 0 {
				t.Fatalf("unit %x is empty or ends in zero", u)
			}
		}
		avcc := AnnexBToAVCC(nil, b)
		got, err := SplitAVCC(avcc)
		if err != nil || len(got) != len(units) {
			t.Fatalf("SplitAVCC: %d units, %v; want %d", len(got), err, len(units))
		}
		_ = IsKeyFrameAVCC(H265, avcc)
		_ = IsKeyFrameAnnexB(H264, b)
		ab, err := AVCCToAnnexB(nil, avcc)
		if err != nil {
			t.Fatal(err)
		}
		if again := AnnexBToAVCC(nil, ab); !bytes.Equal(again, avcc) {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzEmulationPrevention(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3})
	f.Fuzz(func(t *testing.T, rbsp []byte) {
		ebsp := AddEmulationPrevention(nil, rbsp)
		for i := 2; i < len(ebsp); i++ {
			if ebsp[i-2] == 0 && ebsp[i-1] == 0 && ebsp[i] < 3 {
				t.Fatalf("start code emulation at %d in %x", i, ebsp)
			}
		}
		if got := RemoveEmulationPrevention(ebsp); !bytes.Equal(got, rbsp) && len(rbsp) > 0 {
			t.Fatalf("Remove(Add(%x)) = %x", rbsp, got)
		}
	})
}

func boxBodyF(f *testing.F, file, typ string) []byte {
	b := readTestdata(f, file)
	i := bytes.Index(b, []byte(typ))
	if i < 4 {
		f.Fatalf("no %s in %s", typ, file)
	}
	size := int(b[i-4])<<24 | int(b[i-3])<<16 | int(b[i-2])<<8 | int(b[i-1])
	return b[i+4 : i-4+size]
}
