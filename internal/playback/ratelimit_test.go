package playback

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// TestRateLimiter checks the bucket on its own: the burst, the refill,
// the default, the unlimited limiter and that idle streams are dropped.
func TestRateLimiter(t *testing.T) {
	clk := &mediaClock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	take := func(l *rateLimiter, stream string, n int) (ok int) {
		for range n {
			if l.allow(stream) == nil {
				ok++
			}
		}
		return ok
	}

	l := newRateLimiter("Op", 2, 5, clk.Now)
	if got := take(l, "a", 5); got != 2 {
		t.Fatalf("burst of 5 calls at a limit of 2: %d allowed, want 2", got)
	}
	clk.Add(499 * time.Millisecond)
	if got := take(l, "a", 1); got != 0 {
		t.Fatalf("after 499 ms at 2/s: %d allowed, want 0", got)
	}
	clk.Add(time.Millisecond)
	if got := take(l, "a", 2); got != 1 {
		t.Fatalf("after 500 ms at 2/s: %d allowed, want 1", got)
	}
	clk.Add(time.Hour)
	if got := take(l, "a", 3); got != 2 {
		t.Fatalf("after an hour: %d allowed, want the burst of 2", got)
	}

	if got := take(newRateLimiter("Op", 0, 5, clk.Now), "a", 7); got != 5 {
		t.Fatalf("limit 0 (default 5): %d of 7 allowed, want 5", got)
	}
	if l := newRateLimiter("Op", -1, 5, clk.Now); l != nil || take(l, "a", 100) != 100 {
		t.Fatal("a negative limit must allow every call")
	}

	l = newRateLimiter("Op", 5, 5, clk.Now)
	for i := range 1000 {
		l.allow(strings.Repeat("s", i%200+1) + string(rune('a'+i/200)))
	}
	if n := l.len(); n != 1000 {
		t.Fatalf("%d buckets after calls on 1000 streams, want 1000", n)
	}
	clk.Add(time.Second)
	l.allow("new")
	if n := l.len(); n != 1 {
		t.Fatalf("%d buckets a second later, want only the new stream's", n)
	}
}

// getMediaStatus starts a GetMedia from EARLIEST, ends it and returns the
// response (its body read).
func (e *mediaEnv) getMediaStatus(t *testing.T, req getMediaJSON) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := e.post(ctx, "/getMedia", req)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", ""
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), string(body)
}

func earliest(stream string) getMediaJSON {
	return getMediaJSON{StreamName: stream, StartSelector: &selectorJSON{StartSelectorType: "EARLIEST"}}
}

// TestGetMediaRateLimit: KVS allows 5 GetMedia calls per second per
// stream; the 6th is ClientLimitExceededException, whichever way the
// stream is named, other streams are not affected, and a second later the
// stream may be read again.
func TestGetMediaRateLimit(t *testing.T) {
	e := newMediaEnvRates(t, MediaConfig{MaxGetMediaPerStream: -1}, RateConfig{})
	e.createStream("other")
	for i := range 5 {
		if status, _, body := e.getMediaStatus(t, earliest(mediaTestStream)); status != http.StatusOK {
			t.Fatalf("GetMedia %d: %d %s", i+1, status, body)
		}
	}
	for _, req := range []getMediaJSON{
		earliest(mediaTestStream),
		{StreamARN: e.arn, StartSelector: &selectorJSON{StartSelectorType: "EARLIEST"}},
	} {
		status, code, body := e.getMediaStatus(t, req)
		if status != http.StatusBadRequest || code != string(awsapi.ClientLimitExceeded) ||
			!strings.Contains(body, "GetMedia is limited to 5 calls per second per stream") {
			t.Fatalf("6th GetMedia in a second: %d %s %s; want 400 ClientLimitExceededException with the limit", status, code, body)
		}
	}
	if status, _, body := e.getMediaStatus(t, earliest("other")); status != http.StatusOK {
		t.Fatalf("GetMedia of another stream: %d %s", status, body)
	}
	e.clock.Add(time.Second)
	if status, _, body := e.getMediaStatus(t, earliest(mediaTestStream)); status != http.StatusOK {
		t.Fatalf("GetMedia a second later: %d %s", status, body)
	}
}

// TestGetMediaRateUnlimited: a negative GetMediaPerSecond lifts the limit.
func TestGetMediaRateUnlimited(t *testing.T) {
	e := newMediaEnvRates(t, MediaConfig{MaxGetMediaPerStream: -1}, RateConfig{GetMediaPerSecond: -1})
	for i := range 20 {
		if status, _, body := e.getMediaStatus(t, earliest(mediaTestStream)); status != http.StatusOK {
			t.Fatalf("GetMedia %d without a limit: %d %s", i+1, status, body)
		}
	}
}

// TestSessionURLRateLimit: KVS allows 25 GetHLSStreamingSessionURL and 25
// GetDASHStreamingSessionURL calls per second per stream; one more is
// ClientLimitExceededException, the two operations and other streams
// are counted apart, and a second later sessions can be made again.
func TestSessionURLRateLimit(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	e.createStream("other", 24)
	base := e.clock().Add(-time.Hour)
	tf := loadFile(t, h264AAC)
	e.putAll("cam", tf, base)
	e.putAll("other", tf, base)
	req := func(op, stream string) map[string]any {
		sel := "HLSFragmentSelector"
		if op == "getDASHStreamingSessionURL" {
			sel = "DASHFragmentSelector"
		}
		return map[string]any{"StreamName": stream, "PlaybackMode": "ON_DEMAND", sel: rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Minute))}
	}
	ops := map[string]string{"getHLSStreamingSessionURL": "GetHLSStreamingSessionURL", "getDASHStreamingSessionURL": "GetDASHStreamingSessionURL"}
	for op, name := range ops {
		for i := range 25 {
			if status, body := e.post(op, req(op, "cam")); status != http.StatusOK {
				t.Fatalf("%s %d: %d %s", name, i+1, status, body)
			}
		}
		status, body := e.post(op, req(op, "cam"))
		var eb struct {
			Type    string `json:"__type"`
			Message string `json:"Message"`
		}
		_ = json.Unmarshal(body, &eb)
		if status != http.StatusBadRequest || eb.Type != string(awsapi.ClientLimitExceeded) ||
			eb.Message != name+" is limited to 25 calls per second per stream; slow down and retry." {
			t.Fatalf("26th %s in a second: %d %s; want 400 ClientLimitExceededException with the limit", name, status, body)
		}
		if status, body := e.post(op, req(op, "other")); status != http.StatusOK {
			t.Fatalf("%s of another stream: %d %s", name, status, body)
		}
	}
	e.advance(time.Second)
	for op, name := range ops {
		if status, body := e.post(op, req(op, "cam")); status != http.StatusOK {
			t.Fatalf("%s a second later: %d %s", name, status, body)
		}
	}
}

// TestRateConfig checks that New applies RateConfig: 0 is KVS' rate,
// negative no limit, anything else that rate.
func TestRateConfig(t *testing.T) {
	e := newEnv(t, false)
	for _, tc := range []struct {
		cfg                RateConfig
		getMedia, sessions float64 // 0: unlimited
	}{
		{RateConfig{}, 5, 25},
		{RateConfig{GetMediaPerSecond: -1, SessionURLPerSecond: -1}, 0, 0},
		{RateConfig{GetMediaPerSecond: 2, SessionURLPerSecond: 40}, 2, 40},
	} {
		svc, err := New(Config{Archive: e.arch, Streams: e.store, Rates: tc.cfg})
		if err != nil {
			t.Fatal(err)
		}
		rate := func(l *rateLimiter) float64 {
			if l == nil {
				return 0
			}
			return l.rate
		}
		if rate(svc.getMediaRate) != tc.getMedia || rate(svc.hlsURLRate) != tc.sessions || rate(svc.dashURLRate) != tc.sessions {
			t.Errorf("%+v: GetMedia %g/s, HLS %g/s, DASH %g/s; want %g, %g, %g", tc.cfg,
				rate(svc.getMediaRate), rate(svc.hlsURLRate), rate(svc.dashURLRate), tc.getMedia, tc.sessions, tc.sessions)
		}
	}
}
