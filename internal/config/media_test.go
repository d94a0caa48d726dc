package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPutMediaSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "openkvs.yaml")
	yaml := "media:\n  putMedia:\n    maxFragmentSize: 1048576\n    maxTracks: 2\n    idleTimeout: 10s\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"OPENKVS_PUT_MEDIA_MAX_FRAGMENT_DURATION":  "5s",
		"OPENKVS_PUT_MEDIA_CONNECTIONS_PER_SECOND": "-1",
		"OPENKVS_PUT_MEDIA_MAX_TRACKS":             "1",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	flags := NewFlags()
	set := map[string]Value{}
	flags.Register(func(v Value, name, _ string) { set[name] = v })
	for name, v := range map[string]string{"put-media-max-tracks": "3", "put-media-max-connection-duration": "1h", "put-media-max-fragment-tags": "4"} {
		if err := set[name].Set(v); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(file, lookup, flags)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Media.PutMedia
	for _, ch := range []struct {
		name      string
		got, want any
	}{
		{"size from file", p.MaxFragmentSize, int64(1 << 20)},
		{"idle from file", p.IdleTimeout, 10 * time.Second},
		{"duration from env", p.MaxFragmentDuration, 5 * time.Second},
		{"rate from env", p.ConnectionsPerSecond, -1},
		{"tracks: flag over env over file", p.MaxTracks, 3},
		{"connection duration from flag", p.MaxConnectionDuration, time.Hour},
		{"tags from flag", p.MaxFragmentTags, 4},
		{"unset keeps zero (KVS default)", p.IdleAckInterval, time.Duration(0)},
	} {
		if ch.got != ch.want {
			t.Errorf("%s: %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if err := set["put-media-max-tracks"].Set("three"); err == nil {
		t.Error("non-integer accepted")
	}
}

func TestGetMediaAndLiveBufferSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "openkvs.yaml")
	yaml := "media:\n  getMedia:\n    maxSessionsPerStream: 3\n    writeTimeout: 1m\n  liveBufferBytes: 1000\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"OPENKVS_GET_MEDIA_WRITE_TIMEOUT":                "5s",
		"OPENKVS_LIVE_BUFFER_BYTES":                      "2000",
		"OPENKVS_PUT_MEDIA_MAX_PRODUCER_TIMESTAMP_AHEAD": "-1s",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	flags := NewFlags()
	set := map[string]Value{}
	flags.Register(func(v Value, name, _ string) { set[name] = v })
	if err := set["live-buffer-bytes"].Set("3000"); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, lookup, flags)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []struct {
		name      string
		got, want any
	}{
		{"sessions from file", c.Media.GetMedia.MaxSessionsPerStream, 3},
		{"write timeout: env over file", c.Media.GetMedia.WriteTimeout, 5 * time.Second},
		{"live buffer: flag over env over file", c.Media.LiveBufferBytes, int64(3000)},
		{"producer timestamp check off from env", c.Media.PutMedia.MaxProducerTimestampAhead, -time.Second},
	} {
		if ch.got != ch.want {
			t.Errorf("%s: %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if err := set["get-media-max-sessions-per-stream"].Set("many"); err == nil {
		t.Error("non-integer accepted")
	}
}
