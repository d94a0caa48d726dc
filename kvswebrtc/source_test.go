package kvswebrtc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openkvs/openkvs/media/h26x"
)

// ffprobeKeys returns ffprobe's packet count and key-packet indexes of a
// file.
func ffprobeKeys(t *testing.T, path string) (n int, keys []int) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "0", "-show_entries", "packet=flags", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Skipf("ffprobe: %v", err)
	}
	for i, l := range strings.Fields(string(out)) {
		if strings.HasPrefix(l, "K") {
			keys = append(keys, i)
		}
		n++
	}
	return n, keys
}

// TestSources reads every sample file and checks frame count, key frames
// and timing against ffprobe.
func TestSources(t *testing.T) {
	tests := []struct {
		file string
		mime string
		dur  time.Duration
	}{
		{"sample.h264", webrtc.MimeTypeH264, 40 * time.Millisecond},
		{"sample.h265", webrtc.MimeTypeH265, 40 * time.Millisecond},
		{"sample.ivf", webrtc.MimeTypeVP8, 40 * time.Millisecond},
		{"sample.ogg", webrtc.MimeTypeOpus, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("sample", tt.file)
			wantN, wantKeys := ffprobeKeys(t, path)
			src, c, err := OpenSource(path, 25)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if src.MimeType() != tt.mime {
				t.Errorf("mime %s, want %s", src.MimeType(), tt.mime)
			}
			var keys []int
			var total time.Duration
			n := 0
			for ; ; n++ {
				f, err := src.NextFrame()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if f.Key {
					keys = append(keys, n)
				}
				if len(f.Data) == 0 {
					t.Fatalf("frame %d is empty", n)
				}
				total += f.Duration
			}
			if tt.mime == webrtc.MimeTypeOpus {
				// ffprobe counts the final, partly padded packet of the
				// last page; every packet is a "key".
				if n < wantN-1 || n > wantN {
					t.Errorf("%d packets, ffprobe %d", n, wantN)
				}
				if d := total - 2*time.Second; d < -40*time.Millisecond || d > 40*time.Millisecond {
					t.Errorf("total duration %v, want 2s", total)
				}
				return
			}
			if n != wantN {
				t.Errorf("%d frames, ffprobe %d", n, wantN)
			}
			if !slicesEqual(keys, wantKeys) {
				t.Errorf("key frames %v, ffprobe %v", keys, wantKeys)
			}
			if total != time.Duration(n)*tt.dur {
				t.Errorf("total duration %v, want %v", total, time.Duration(n)*tt.dur)
			}
		})
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAnnexBSourcePipe reads H.264 from a live ffmpeg pipe, as
// openkvs master --video - does.
func TestAnnexBSourcePipe(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("no ffmpeg")
	}
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1",
		"-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "10", "-bf", "0", "-f", "h264", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	src := NewAnnexBSource(bufio.NewReader(out), h26x.H264, 25)
	var n, keys int
	for {
		f, err := src.NextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Key {
			keys++
		}
		n++
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, stderr.Bytes())
	}
	if n != 25 || keys != 3 {
		t.Errorf("%d frames, %d key frames; want 25 and 3", n, keys)
	}
}

// TestAnnexBSourceSplit checks access-unit splitting on hand-made
// streams: 3- and 4-byte start codes, parameter sets and SEI before a
// picture, two slices of one picture, emulation-prevention bytes.
func TestAnnexBSourceSplit(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	sei := []byte{0x06, 0x05, 0x01, 0x80}
	idr1 := []byte{0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x01} // first_mb 0
	idr2 := []byte{0x65, 0x40, 0x11}                         // first_mb != 0: same picture
	p1 := []byte{0x41, 0x9a, 0x22}
	p2 := []byte{0x41, 0x9a, 0x33}
	var stream []byte
	for i, n := range [][]byte{sps, pps, sei, idr1, idr2, p1, p2} {
		if i%2 == 0 {
			stream = append(stream, 0, 0, 0, 1)
		} else {
			stream = append(stream, 0, 0, 1)
		}
		stream = append(stream, n...)
	}
	src := NewAnnexBSource(bytes.NewReader(stream), h26x.H264, 30)
	want := [][][]byte{{sps, pps, sei, idr1, idr2}, {p1}, {p2}}
	for i, w := range want {
		f, err := src.NextFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		var exp []byte
		for _, n := range w {
			exp = append(exp, 0, 0, 0, 1)
			exp = append(exp, n...)
		}
		if !bytes.Equal(f.Data, exp) {
			t.Errorf("frame %d = % x, want % x", i, f.Data, exp)
		}
		if f.Key != (i == 0) {
			t.Errorf("frame %d key = %v", i, f.Key)
		}
		if f.Duration != time.Second/30 {
			t.Errorf("frame %d duration %v", i, f.Duration)
		}
	}
	if _, err := src.NextFrame(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

func TestOpenSourceUnknown(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.mp4")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenSource(p, 25); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("OpenSource(.mp4) = %v, want ErrUnknownFormat", err)
	}
	if _, err := NewIVFSource(strings.NewReader("RIFF" + strings.Repeat("\x00", 28))); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("NewIVFSource(not IVF) = %v", err)
	}
}

// FuzzAnnexBSource feeds arbitrary bytes to the access-unit splitter: it
// must not panic, and the frames must hold exactly the stream's NAL units.
func FuzzAnnexBSource(f *testing.F) {
	for _, name := range []string{"sample.h264", "sample.h265"} {
		b, err := os.ReadFile(filepath.Join("sample", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 2000)], name == "sample.h265")
	}
	f.Add([]byte{0, 0, 1, 0x65, 0x80, 0, 0, 0, 1}, false)
	f.Add([]byte{0, 0, 0}, true)
	f.Fuzz(func(t *testing.T, b []byte, hevc bool) {
		codec := h26x.H264
		if hevc {
			codec = h26x.H265
		}
		src := NewAnnexBSource(bytes.NewReader(b), codec, 25)
		var got int
		for i := 0; ; i++ {
			fr, err := src.NextFrame()
			if err != nil {
				break
			}
			for n := range h26x.AnnexBUnits(fr.Data) {
				got += len(n)
			}
			if i > len(b) {
				t.Fatal("more frames than bytes")
			}
		}
		if got > len(b) {
			t.Fatalf("frames hold %d NAL bytes of a %d-byte stream", got, len(b))
		}
	})
}

// FuzzIVFSource: arbitrary bytes after an IVF signature never panic, and
// every frame returned has a positive duration.
func FuzzIVFSource(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("sample", "sample.ivf"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:min(len(b), 3000)])
	f.Add([]byte("DKIF\x00\x00\x20\x00VP80"))
	f.Fuzz(func(t *testing.T, b []byte) {
		src, err := NewIVFSource(bytes.NewReader(b))
		if err != nil {
			return
		}
		for range 1000 {
			fr, err := src.NextFrame()
			if err != nil {
				return
			}
			if fr.Duration <= 0 {
				t.Fatalf("frame duration %v", fr.Duration)
			}
		}
	})
}

// FuzzIsKeyPayload: the RTP payload inspection never panics.
func FuzzIsKeyPayload(f *testing.F) {
	f.Add([]byte{0x78, 0x00, 0x04, 0x67, 0x42, 0xc0, 0x1f}, uint8(0))
	f.Add([]byte{0x60, 0x01, 0x00, 0x04, 0x40, 0x01}, uint8(1))
	f.Add([]byte{0x90, 0x80, 0x80, 0x01, 0x30}, uint8(2))
	mimes := []string{webrtc.MimeTypeH264, webrtc.MimeTypeH265, webrtc.MimeTypeVP8}
	f.Fuzz(func(t *testing.T, b []byte, m uint8) {
		_ = isKeyPayload(mimes[int(m)%len(mimes)], b)
	})
}
