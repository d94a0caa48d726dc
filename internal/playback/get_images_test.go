package playback

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type imagesAnswer struct {
	Images []struct {
		TimeStamp    float64
		Error        string
		ImageContent string
	}
	NextToken string
}

// images calls GetImages and decodes a 200 answer.
func (e *env) images(req map[string]any) imagesAnswer {
	e.t.Helper()
	status, body := e.post("getImages", req)
	if status != http.StatusOK {
		e.t.Fatalf("GetImages: %d %s", status, body)
	}
	var out imagesAnswer
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatalf("GetImages answer %s: %v", body, err)
	}
	return out
}

func imagesRequest(stream, selector string, start, end time.Time, extra map[string]any) map[string]any {
	req := map[string]any{"StreamName": stream, "ImageSelectorType": selector, "StartTimestamp": epoch(start), "EndTimestamp": epoch(end), "Format": "JPEG"}
	for k, v := range extra {
		req[k] = v
	}
	return req
}

// probeImage returns ffprobe's codec name, width and height of an image.
func probeImage(t testing.TB, img []byte) (string, int, int) {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", "-i", "pipe:0")
	cmd.Stdin = bytes.NewReader(img)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v %s", err, out)
	}
	var codec string
	var w, h int
	if _, err := fmt.Sscanf(strings.ReplaceAll(strings.TrimSpace(string(out)), ",", " "), "%s %d %d", &codec, &w, &h); err != nil {
		t.Fatalf("ffprobe output %q: %v", out, err)
	}
	return codec, w, h
}

// keyFramesRGB decodes the key frames of a file to raw RGB24 with ffmpeg.
func keyFramesRGB(t *testing.T, file string) []byte {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", file, "-vf", "select='eq(pict_type,I)'", "-vsync", "0",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, stderr.Bytes())
	}
	return out
}

// pngRGB decodes a PNG to raw RGB24 rows, as ffmpeg's rawvideo rgb24.
func pngRGB(t *testing.T, b []byte) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	r := img.Bounds()
	out := make([]byte, 0, r.Dx()*r.Dy()*3)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			out = append(out, c.R, c.G, c.B)
		}
	}
	return out
}

// TestGetImagesWithFFprobe takes images of both test files (H.264 and
// H.265): ffprobe reads each as a JPEG or PNG of the requested size, a PNG
// holds exactly the pixels ffmpeg decodes for the key frame at or before
// its sampling time, sampling times in one GOP share that key frame, and
// times past the stream's end are NO_MEDIA.
func TestGetImagesWithFFprobe(t *testing.T) {
	needFFmpeg(t)
	for _, file := range []string{h264AAC, h265Opus} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			e := newEnv(t, false)
			e.createStream("cam", 24)
			tf := loadFile(t, file)
			base := e.clock().Add(-time.Hour)
			fs := e.putAll("cam", tf, base)
			last := fs[len(fs)-1]
			end := last.ProducerTime.Add(last.Duration)

			// PNG at the original size, every 500 ms and 1 s past the end.
			out := e.images(imagesRequest("cam", "PRODUCER_TIMESTAMP", base, end.Add(time.Second), map[string]any{"Format": "PNG", "SamplingInterval": 500}))
			keys := keyFramesRGB(t, file)
			const frameSize = 160 * 120 * 3
			if len(keys) != len(fs)*frameSize {
				t.Fatalf("the source has %d bytes of key frames, want %d key frames", len(keys), len(fs))
			}
			var images int
			for i, img := range out.Images {
				at := base.Add(time.Duration(i) * 500 * time.Millisecond)
				if got := time.UnixMilli(int64(img.TimeStamp * 1000)); !got.Equal(at) {
					t.Errorf("image %d: TimeStamp %v, want %v", i, got, at)
				}
				if at.After(end) {
					if img.Error != imageNoMedia || img.ImageContent != "" {
						t.Errorf("image %d after the end: Error %q, %d bytes; want NO_MEDIA", i, img.Error, len(img.ImageContent))
					}
					continue
				}
				if img.Error != "" {
					t.Fatalf("image %d at %v: %s", i, at, img.Error)
				}
				b, err := base64.StdEncoding.DecodeString(img.ImageContent)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					if c, w, h := probeImage(t, b); c != "png" || w != 160 || h != 120 {
						t.Errorf("image %d: %s %dx%d, want png 160x120", i, c, w, h)
					}
				}
				// The fragment holding at starts with its key frame.
				k := 0
				for k+1 < len(fs) && !fs[k+1].ProducerTime.After(at) {
					k++
				}
				if got := pngRGB(t, b); !bytes.Equal(got, keys[k*frameSize:(k+1)*frameSize]) {
					t.Errorf("image %d at %v is not the pixels of key frame %d", i, at, k)
				}
				images++
			}
			if want := int(end.Sub(base)/(500*time.Millisecond)) + 1; images != want || len(out.Images) != want+2 {
				t.Errorf("%d images and %d entries, want %d and %d", images, len(out.Images), want, want+2)
			}

			// JPEG sizes: both sides stretch, one side keeps the aspect.
			for _, tc := range []struct {
				extra map[string]any
				w, h  int
			}{
				{map[string]any{}, 160, 120},
				{map[string]any{"WidthPixels": 80}, 80, 60},
				{map[string]any{"HeightPixels": 60}, 80, 60},
				{map[string]any{"WidthPixels": 100, "HeightPixels": 50, "FormatConfig": map[string]string{"JPEGQuality": "30"}}, 100, 50},
			} {
				out := e.images(imagesRequest("cam", "SERVER_TIMESTAMP", fs[1].ServerTime(), fs[1].ServerTime(), tc.extra))
				if len(out.Images) != 1 || out.Images[0].Error != "" {
					t.Fatalf("%v: %+v", tc.extra, out)
				}
				b, _ := base64.StdEncoding.DecodeString(out.Images[0].ImageContent)
				if c, w, h := probeImage(t, b); c != "mjpeg" || w != tc.w || h != tc.h {
					t.Errorf("%v: %s %dx%d, want mjpeg %dx%d", tc.extra, c, w, h, tc.w, tc.h)
				}
			}
		})
	}
}

// TestGetImagesQualityAndPages: a lower JPEGQuality makes smaller files;
// NextToken pages through every sampling time exactly once.
func TestGetImagesQualityAndPages(t *testing.T) {
	needFFmpeg(t)
	e := newEnv(t, false)
	e.createStream("cam", 24)
	base := e.clock().Add(-time.Hour)
	e.putAll("cam", loadFile(t, h264AAC), base)
	size := func(q string) int {
		out := e.images(imagesRequest("cam", "PRODUCER_TIMESTAMP", base, base, map[string]any{"FormatConfig": map[string]string{"JPEGQuality": q}}))
		return len(out.Images[0].ImageContent)
	}
	if lo, hi := size("5"), size("100"); lo >= hi {
		t.Errorf("JPEGQuality 5 gives %d base64 bytes, 100 gives %d", lo, hi)
	}
	// 200 ms over 3 s: 16 times, in pages of 5, 5, 5, 1.
	req := imagesRequest("cam", "PRODUCER_TIMESTAMP", base, base.Add(3*time.Second), map[string]any{"SamplingInterval": 200, "MaxResults": 5})
	var got []float64
	var pages []int
	for {
		out := e.images(req)
		pages = append(pages, len(out.Images))
		for _, img := range out.Images {
			if img.Error != "" {
				t.Errorf("%v: %s", img.TimeStamp, img.Error)
			}
			got = append(got, img.TimeStamp)
		}
		if out.NextToken == "" {
			break
		}
		req["NextToken"] = out.NextToken
	}
	if fmt.Sprint(pages) != "[5 5 5 1]" {
		t.Errorf("pages %v, want [5 5 5 1]", pages)
	}
	for i, ts := range got {
		if want := epoch(base.Add(time.Duration(i) * 200 * time.Millisecond)); ts != want {
			t.Errorf("image %d at %v, want %v", i, ts, want)
		}
	}
	// MaxResults above 25 still pages by 25.
	out := e.images(imagesRequest("cam", "PRODUCER_TIMESTAMP", base, base.Add(10*time.Second), map[string]any{"SamplingInterval": 200, "MaxResults": 100}))
	if len(out.Images) != 25 || out.NextToken == "" {
		t.Errorf("MaxResults 100: %d images, NextToken %q; want 25 and a token", len(out.Images), out.NextToken)
	}
}

// TestGetImagesWithoutFFmpeg: a server without ffmpeg answers with an
// error that names it.
func TestGetImagesWithoutFFmpeg(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	base := e.clock().Add(-time.Hour)
	e.putAll("cam", loadFile(t, h264AAC), base)
	h := newImages(e.svc, imageConfig{ffmpeg: filepath.Join(t.TempDir(), "ffmpeg")})
	for _, ffmpeg := range []string{filepath.Join(t.TempDir(), "ffmpeg"), "openkvs-no-such-ffmpeg"} {
		h.cfg.ffmpeg = ffmpeg
		b, _ := json.Marshal(imagesRequest("cam", "PRODUCER_TIMESTAMP", base, base.Add(time.Second), nil))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/getImages", bytes.NewReader(b)))
		var body struct{ Message string }
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusInternalServerError || rec.Header().Get("x-amzn-ErrorType") != "InternalFailure" ||
			!strings.Contains(body.Message, "needs ffmpeg") || !strings.Contains(body.Message, ffmpeg) {
			t.Errorf("%s: %d %s %s", ffmpeg, rec.Code, rec.Header().Get("x-amzn-ErrorType"), rec.Body.Bytes())
		}
	}
}

// TestGetImagesDecodeFailure: an ffmpeg that fails to decode gives
// MEDIA_ERROR entries, not a failed call.
func TestGetImagesDecodeFailure(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	base := e.clock().Add(-time.Hour)
	e.putAll("cam", loadFile(t, h264AAC), base)
	broken := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'cannot decode' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newImages(e.svc, imageConfig{ffmpeg: broken})
	b, _ := json.Marshal(imagesRequest("cam", "PRODUCER_TIMESTAMP", base, base.Add(1500*time.Millisecond), map[string]any{"SamplingInterval": 500}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/getImages", bytes.NewReader(b)))
	var out imagesAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &out); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("%d %s", rec.Code, rec.Body.Bytes())
	}
	if len(out.Images) != 4 {
		t.Fatalf("%d images, want 4", len(out.Images))
	}
	for i, img := range out.Images {
		if img.Error != imageMediaError || img.ImageContent != "" {
			t.Errorf("image %d: Error %q, %d bytes; want MEDIA_ERROR", i, img.Error, len(img.ImageContent))
		}
	}
}

// TestGetImagesErrors: bad arguments, unknown streams, streams without
// retention and ranges without fragments get KVS' errors.
func TestGetImagesErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	e.createStream("noretention", 0)
	e.createStream("empty", 24)
	base := e.clock().Add(-time.Hour)
	e.putAll("cam", loadFile(t, h264AAC), base)
	ok := func(extra map[string]any) map[string]any {
		return imagesRequest("cam", "PRODUCER_TIMESTAMP", base, base.Add(2*time.Second), extra)
	}
	without := func(key string) map[string]any {
		r := ok(nil)
		delete(r, key)
		return r
	}
	otherToken := encodeImagesToken(imagesToken{V: 1, Stream: "other", Next: base.UnixNano()})
	outside := encodeImagesToken(imagesToken{V: 1, Stream: "cam", Next: base.Add(time.Minute).UnixNano()})
	for _, tc := range []struct {
		name   string
		req    map[string]any
		status int
		code   string
	}{
		{"no stream", without("StreamName"), 400, "InvalidArgumentException"},
		{"bad stream name", ok(map[string]any{"StreamName": "a/b"}), 400, "InvalidArgumentException"},
		{"bad ARN", ok(map[string]any{"StreamName": nil, "StreamARN": "nope"}), 400, "InvalidArgumentException"},
		{"unknown stream", ok(map[string]any{"StreamName": "nope"}), 404, "ResourceNotFoundException"},
		{"no selector", without("ImageSelectorType"), 400, "InvalidArgumentException"},
		{"bad selector", ok(map[string]any{"ImageSelectorType": "NOW"}), 400, "InvalidArgumentException"},
		{"no start", without("StartTimestamp"), 400, "InvalidArgumentException"},
		{"no end", without("EndTimestamp"), 400, "InvalidArgumentException"},
		{"end before start", ok(map[string]any{"EndTimestamp": epoch(base.Add(-time.Second))}), 400, "InvalidArgumentException"},
		{"range over 300 s", ok(map[string]any{"EndTimestamp": epoch(base.Add(301 * time.Second))}), 400, "InvalidArgumentException"},
		{"interval under 200 ms", ok(map[string]any{"SamplingInterval": 199}), 400, "InvalidArgumentException"},
		{"no format", without("Format"), 400, "InvalidArgumentException"},
		{"bad format", ok(map[string]any{"Format": "GIF"}), 400, "InvalidArgumentException"},
		{"bad quality", ok(map[string]any{"FormatConfig": map[string]string{"JPEGQuality": "101"}}), 400, "InvalidArgumentException"},
		{"quality not a number", ok(map[string]any{"FormatConfig": map[string]string{"JPEGQuality": "high"}}), 400, "InvalidArgumentException"},
		{"unknown format config", ok(map[string]any{"FormatConfig": map[string]string{"PNGLevel": "1"}}), 400, "InvalidArgumentException"},
		{"width 0", ok(map[string]any{"WidthPixels": 0}), 400, "InvalidArgumentException"},
		{"width over 3840", ok(map[string]any{"WidthPixels": 3841}), 400, "InvalidArgumentException"},
		{"height over 2160", ok(map[string]any{"HeightPixels": 2161}), 400, "InvalidArgumentException"},
		{"MaxResults 0", ok(map[string]any{"MaxResults": 0}), 400, "InvalidArgumentException"},
		{"MaxResults over 100", ok(map[string]any{"MaxResults": 101}), 400, "InvalidArgumentException"},
		{"garbage token", ok(map[string]any{"NextToken": "not*a*token"}), 400, "InvalidArgumentException"},
		{"token of another stream", ok(map[string]any{"NextToken": otherToken}), 400, "InvalidArgumentException"},
		{"token outside the range", ok(map[string]any{"NextToken": outside}), 400, "InvalidArgumentException"},
		{"wrong type", ok(map[string]any{"SamplingInterval": "fast"}), 400, "SerializationException"},
		{"no retention", imagesRequest("noretention", "PRODUCER_TIMESTAMP", base, base.Add(time.Second), nil), 400, "NoDataRetentionException"},
		{"no fragments in the stream", imagesRequest("empty", "PRODUCER_TIMESTAMP", base, base.Add(time.Second), nil), 404, "ResourceNotFoundException"},
		{"no fragments in the range", ok(map[string]any{"StartTimestamp": epoch(base.Add(-time.Minute)), "EndTimestamp": epoch(base.Add(-time.Second))}), 404, "ResourceNotFoundException"},
		{"range after the stream", ok(map[string]any{"StartTimestamp": epoch(base.Add(time.Minute)), "EndTimestamp": epoch(base.Add(2 * time.Minute))}), 404, "ResourceNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.req {
				if v == nil {
					delete(tc.req, k)
				}
			}
			status, body := e.post("getImages", tc.req)
			var got struct {
				Type    string `json:"__type"`
				Message string
			}
			_ = json.Unmarshal(body, &got)
			if status != tc.status || got.Type != tc.code || got.Message == "" {
				t.Errorf("%d %s, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
}

// FuzzGetImagesRequest decodes arbitrary GetImages bodies and NextTokens:
// no panic, and every accepted request has a sane range and page.
func FuzzGetImagesRequest(f *testing.F) {
	f.Add([]byte(`{"StreamName":"cam","ImageSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":1,"EndTimestamp":2,"Format":"JPEG"}`), "")
	f.Add([]byte(`{"ImageSelectorType":"SERVER_TIMESTAMP","StartTimestamp":1.5,"EndTimestamp":300,"Format":"PNG","SamplingInterval":200,"MaxResults":100,"WidthPixels":3840,"FormatConfig":{"JPEGQuality":"1"}}`),
		encodeImagesToken(imagesToken{V: 1, Stream: "cam", Next: 2e9}))
	f.Add([]byte(`{"Format":"JPEG","FormatConfig":{"JPEGQuality":"080"}}`), "eyJ2IjoxfQ==")
	f.Fuzz(func(t *testing.T, body []byte, tok string) {
		var in getImagesInput
		if json.Unmarshal(body, &in) != nil {
			return
		}
		q, err := parseImagesInput(&in)
		if err != nil {
			return
		}
		if tok != "" && q.applyToken(tok, "cam") != nil {
			return
		}
		if q.end.Before(q.start) || q.end.Sub(q.start) > maxImagesRange || q.next.Before(q.start) || q.next.After(q.end) ||
			q.page < 1 || q.page > maxImagesPage || q.interval < minSamplingInterval*time.Millisecond || q.quality < 1 || q.quality > 100 {
			t.Fatalf("accepted %+v", q)
		}
		if ts, _ := q.samplingTimes(); len(ts) == 0 || len(ts) > q.page {
			t.Fatalf("%d sampling times for %+v", len(ts), q)
		}
	})
}

// BenchmarkGetImages measures one GetImages call that decodes four key
// frames (H.264 160x120) to JPEG with ffmpeg: mostly ffmpeg start-up.
func BenchmarkGetImages(b *testing.B) {
	needFFmpeg(b)
	e := newEnv(b, false)
	e.createStream("cam", 24)
	base := e.clock().Add(-time.Hour)
	e.putAll("cam", loadFile(b, h264AAC), base)
	req := imagesRequest("cam", "PRODUCER_TIMESTAMP", base, base.Add(3500*time.Millisecond), map[string]any{"SamplingInterval": 1000})
	b.ResetTimer()
	for b.Loop() {
		if out := e.images(req); len(out.Images) != 4 || out.Images[3].ImageContent == "" {
			b.Fatalf("%+v", out)
		}
	}
}
