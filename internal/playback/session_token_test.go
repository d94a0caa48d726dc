package playback

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testSession() *session {
	s := &session{
		Kind: kindHLS, Mode: modeLiveReplay, Selector: selectorProducer, Container: containerTS,
		Discontinuity: discontinuityOnGap, Flags: flagDisplayTimestamp | flagHasEnd, MaxResults: 42,
		Created: time.Unix(1700000000, 123456789).UTC(), Expires: time.Unix(1700000300, 0).UTC(),
		Start: time.Unix(1699990000, 5e8).UTC(), End: time.Unix(1699999000, 0).UTC(), Stream: "cam-1.x_y",
		Base: time.UnixMilli(1699990000123).UTC(), Lag: -1500 * time.Millisecond, StreamCreated: time.UnixMilli(1600000000456).UTC(),
	}
	s.Anchor.Millis, s.Anchor.Seq = 1699999999999, 7
	return s
}

func TestTokenRoundTrip(t *testing.T) {
	key := []byte("k1")
	s := testSession()
	tok := encodeToken(key, s)
	if strings.ContainsAny(tok, "+/=%&?#") {
		t.Errorf("token %q is not URL-safe", tok)
	}
	got, err := decodeToken(key, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("decoded %+v, want %+v", got, s)
	}
	if _, err := decodeToken([]byte("k2"), tok); err == nil {
		t.Error("a token verified with another key")
	}
}

func TestTokenForgeries(t *testing.T) {
	key := []byte("k1")
	tok := encodeToken(key, testSession())
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	// Any single bit flipped anywhere, body or MAC, is refused.
	for i := range raw {
		for bit := range 8 {
			b := append([]byte(nil), raw...)
			b[i] ^= 1 << bit
			if _, err := decodeToken(key, base64.RawURLEncoding.EncodeToString(b)); err == nil {
				t.Fatalf("token with byte %d bit %d flipped accepted", i, bit)
			}
		}
	}
	for _, bad := range []string{"", "!!!", tok[:len(tok)-1], tok + "A", strings.Repeat("A", 2000), base64.RawURLEncoding.EncodeToString(raw[:10])} {
		if _, err := decodeToken(key, bad); err == nil {
			t.Errorf("token %.40q accepted", bad)
		}
	}
}

// FuzzDecodeToken: the decoder never panics, accepts only what verifies,
// and whatever it accepts re-encodes to the same token.
func FuzzDecodeToken(f *testing.F) {
	key := []byte("fuzz key")
	f.Add(encodeToken(key, testSession()))
	s := testSession()
	s.Kind, s.Mode, s.Flags = kindDASH, modeLive, 0
	f.Add(encodeToken(key, s))
	f.Add("")
	f.Add("AQEDAgECBOgH")
	f.Fuzz(func(t *testing.T, tok string) {
		s, err := decodeToken(key, tok)
		if err != nil {
			return
		}
		if again := encodeToken(key, s); again != tok {
			t.Fatalf("token %q decodes to %+v which encodes to %q", tok, s, again)
		}
	})
}

func TestSessionKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "session.key")
	k1, err := sessionKey(SessionConfig{KeyFile: path})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := sessionKey(SessionConfig{KeyFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 || string(k1) != string(k2) {
		t.Fatalf("key file gave %x then %x", k1, k2)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file %v %v", fi, err)
	}
}

// TestSessionTokenErrors: resources refuse missing, forged, other-kind and
// expired tokens with KVS' errors, and the same token works until then.
func TestSessionTokenErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock().Add(-time.Hour)
	e.putAll("cam", tf, base)
	hls := e.sessionURL("getHLSStreamingSessionURL", map[string]any{
		"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "Expires": 600,
		"HLSFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Minute)),
	})
	tok := hls[strings.Index(hls, "SessionToken=")+len("SessionToken="):]
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	raw[len(raw)-1] ^= 1
	forged := base64.RawURLEncoding.EncodeToString(raw)
	// A DASH token for the same stream must not open HLS resources.
	dash := e.sessionURL("getDASHStreamingSessionURL", map[string]any{
		"StreamName": "cam", "PlaybackMode": "ON_DEMAND",
		"DASHFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Minute)),
	})
	dashTok := dash[strings.Index(dash, "SessionToken=")+len("SessionToken="):]
	master := e.srv.URL + "/hls/v1/getHLSMasterPlaylist.m3u8"
	check := func(name, u string, status int, code string) {
		t.Helper()
		got, hdr, body := e.get(u)
		if got != status || hdr.Get("x-amzn-ErrorType") != code {
			t.Errorf("%s: %d %s %s, want %d %s", name, got, hdr.Get("x-amzn-ErrorType"), body, status, code)
		}
		if code != "" {
			var eb struct{ Message string }
			if json.Unmarshal(body, &eb) != nil || eb.Message == "" {
				t.Errorf("%s: error body %s", name, body)
			}
		}
	}
	check("no token", master, http.StatusForbidden, "MissingAuthenticationTokenException")
	check("forged token", master+"?SessionToken="+forged, http.StatusForbidden, "NotAuthorizedException")
	check("garbage token", master+"?SessionToken=%00%01", http.StatusForbidden, "NotAuthorizedException")
	check("DASH token on HLS", master+"?SessionToken="+dashTok, http.StatusForbidden, "NotAuthorizedException")
	check("valid token", hls, http.StatusOK, "")
	check("bad fragment number", e.srv.URL+"/hls/v1/getMP4MediaFragment.mp4?FragmentNumber=12&SessionToken="+tok, http.StatusBadRequest, "InvalidArgumentException")
	check("unknown fragment", e.srv.URL+"/hls/v1/getMP4MediaFragment.mp4?FragmentNumber=91000000000000000000000000000000000000000000001&SessionToken="+tok, http.StatusNotFound, "ResourceNotFoundException")
	check("TS segment of an fMP4 session", e.srv.URL+"/hls/v1/getTSFragment.ts?FragmentNumber=1&SessionToken="+tok, http.StatusBadRequest, "InvalidArgumentException")
	e.advance(599 * time.Second)
	check("token before expiry", hls, http.StatusOK, "")
	e.advance(time.Second)
	check("expired token", hls, http.StatusForbidden, "NotAuthorizedException")
}

// TestSessionURLsDieWithTheirStream: the URLs of an HLS or DASH session
// answer ResourceNotFoundException once its stream is deleted, and still
// when a stream of the same name is created again and fed (the archive is
// by name, so they would otherwise play the new stream).
func TestSessionURLsDieWithTheirStream(t *testing.T) {
	for _, recreate := range []bool{false, true} {
		t.Run(map[bool]string{false: "deleted", true: "deleted and created again"}[recreate], func(t *testing.T) {
			e := newEnv(t, false)
			e.createStream("cam", 24)
			tf := loadFile(t, h264AAC)
			base := e.clock().Add(-10 * time.Second)
			e.putAll("cam", tf, base)
			hls := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam"})
			dash := e.sessionURL("getDASHStreamingSessionURL", map[string]any{"StreamName": "cam"})
			media := e.mediaPlaylistURL(hls)
			_, _, pl := e.get(media)
			segs := segmentURLs(t, media, pl)
			urls := []string{hls, media, segs[0], dash}
			for _, u := range urls {
				if status, _, body := e.get(u); status != http.StatusOK {
					t.Fatalf("before the delete: %s: %d %s", u, status, body)
				}
			}
			if err := e.store.DeleteStream(context.Background(), "cam"); err != nil {
				t.Fatal(err)
			}
			if recreate {
				e.advance(time.Second)
				e.createStream("cam", 24)
				e.putAll("cam", tf, e.clock().Add(-5*time.Second))
			}
			for _, u := range urls {
				status, hdr, body := e.get(u)
				if status != http.StatusNotFound || !strings.Contains(string(body), "ResourceNotFoundException") || hdr.Get("X-Amzn-Errortype") == "" {
					t.Errorf("%s: %d %s %v, want 404 ResourceNotFoundException", u, status, body, hdr)
				}
			}
			if recreate {
				// New sessions play the new stream.
				u := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam"})
				if status, _, body := e.get(u); status != http.StatusOK {
					t.Errorf("a session of the new stream: %d %s", status, body)
				}
			}
		})
	}
}
