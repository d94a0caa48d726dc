package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSignalingLimits sets every signaling limit from the file, the
// environment and flags; negative values (no limit) pass through.
func TestSignalingLimits(t *testing.T) {
	file := filepath.Join(t.TempDir(), "openkvs.yaml")
	yaml := "signaling:\n  maxViewers: 50\n  maxMessageBytes: 20000\n  idleTimeout: 1h\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"OPENKVS_SIGNALING_MAX_VIEWERS": "-1",
		"OPENKVS_SIGNALING_SDP_RATE":    "50",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	flags := NewFlags()
	set := map[string]Value{}
	flags.Register(func(v Value, name, _ string) { set[name] = v })
	for name, v := range map[string]string{
		"signaling-ice-rate":                "-1",
		"signaling-connect-rate":            "7",
		"signaling-max-connection-duration": "-1s",
	} {
		if err := set[name].Set(v); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(file, lookup, flags)
	if err != nil {
		t.Fatal(err)
	}
	want := SignalingConfig{MaxViewers: -1, ConnectRate: 7, MaxMessageBytes: 20000, SDPRate: 50, ICERate: -1, IdleTimeout: time.Hour, MaxConnectionDuration: -time.Second}
	if c.Signaling != want {
		t.Errorf("got %+v, want %+v", c.Signaling, want)
	}
	if err := set["signaling-max-viewers"].Set("ten"); err == nil {
		t.Error("a non-integer was accepted")
	}
	if Default().Signaling != (SignalingConfig{}) {
		t.Error("defaults must be zero: the signaling package applies KVS' values")
	}
}
