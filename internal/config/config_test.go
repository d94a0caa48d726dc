package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "openkvs.yaml")
	yaml := "dataDir: /from/file\nlisten: 127.0.0.1:9000\nregion: eu-west-1\ncredentials: [FILEKEY:filesecret]\nturn:\n  publicIP: 10.0.0.1\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"OPENKVS_LISTEN":      "127.0.0.1:9100",
		"OPENKVS_CREDENTIALS": "ENVA:sa, ENVB:sb",
		"OPENKVS_TURN":        "false",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	flags := NewFlags()
	set := map[string]Value{}
	flags.Register(func(v Value, name, _ string) { set[name] = v })
	if err := set["region"].Set("ap-south-1"); err != nil {
		t.Fatal(err)
	}
	if err := set["shutdown-timeout"].Set("3s"); err != nil {
		t.Fatal(err)
	}

	c, err := Load(file, lookup, flags)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"file only", c.DataDir, "/from/file"},
		{"env over file", c.Listen, "127.0.0.1:9100"},
		{"flag over file", c.Region, "ap-south-1"},
		{"env list replaces file list", len(c.Credentials), 2},
		{"env bool", c.TURN.Enabled, false},
		{"nested file value", c.TURN.PublicIP, "10.0.0.1"},
		{"flag duration", c.ShutdownTimeout, 3 * time.Second},
		{"default kept", c.TLSListen, "127.0.0.1:8443"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestRepeatedFlagOverridesEnvList(t *testing.T) {
	flags := NewFlags()
	set := map[string]Value{}
	flags.Register(func(v Value, name, _ string) { set[name] = v })
	for _, v := range []string{"A:1", "B:2"} {
		if err := set["credentials"].Set(v); err != nil {
			t.Fatal(err)
		}
	}
	env := func(k string) (string, bool) {
		if k == "OPENKVS_CREDENTIALS" {
			return "ENV:x", true
		}
		return "", false
	}
	c, err := Load("", env, flags)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Credentials) != 2 || c.Credentials[0] != "A:1" || c.Credentials[1] != "B:2" {
		t.Fatalf("credentials = %v", c.Credentials)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no data dir", func(c *Config) { c.DataDir = "" }},
		{"both listeners off", func(c *Config) { c.Listen, c.TLSListen = Off, Off }},
		{"bad listen", func(c *Config) { c.Listen = "nonsense" }},
		{"cert without key", func(c *Config) { c.TLSCert = "x.pem" }},
		{"relative public url", func(c *Config) { c.PublicURL = "kvs.example.com" }},
		{"bad region", func(c *Config) { c.Region = "US EAST" }},
		{"bad account", func(c *Config) { c.AccountID = "12" }},
		{"bad credentials", func(c *Config) { c.Credentials = []string{"nosecret"} }},
		{"bad public ip", func(c *Config) { c.TURN.PublicIP = "host" }},
		{"bad allowed peer", func(c *Config) { c.TURN.AllowPeers = []string{"10.0.0.0/33"} }},
		{"bad log level", func(c *Config) { c.Log.Level = "loud" }},
		{"negative body read timeout", func(c *Config) { c.BodyReadTimeout = -time.Second }},
		{"body budget below one body", func(c *Config) { c.UnverifiedBodyBytes = 1000 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			if err := c.Validate(); err == nil {
				t.Fatal("Validate accepted a bad config")
			}
		})
	}
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
}

func TestSplitCredential(t *testing.T) {
	tests := []struct {
		in                string
		id, secret, token string
		ok                bool
	}{
		{"AKID:secret", "AKID", "secret", "", true},
		{"AKID:secret:token/+=", "AKID", "secret", "token/+=", true},
		{"AKID:secret:", "AKID", "secret", "", false},
		{"AKID", "AKID", "", "", false},
		{":secret", "", "secret", "", false},
	}
	for _, tt := range tests {
		id, secret, token, ok := SplitCredential(tt.in)
		if id != tt.id || secret != tt.secret || token != tt.token || ok != tt.ok {
			t.Errorf("SplitCredential(%q) = %q %q %q %v", tt.in, id, secret, token, ok)
		}
	}
	got := SessionTokens([]string{"A:1", "B:2:tok", "bad"})
	if len(got) != 1 || got["B"] != "tok" {
		t.Errorf("SessionTokens = %v", got)
	}
}

func TestUnknownYAMLKeyRejected(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("listne: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.LoadFile(file); err == nil {
		t.Fatal("typo in YAML key accepted")
	}
}

func TestEnvNames(t *testing.T) {
	for _, f := range Fields() {
		if f.Env != EnvName(f.Flag) {
			t.Errorf("%s: env %s", f.Flag, f.Env)
		}
	}
	if EnvName("tls-listen") != "OPENKVS_TLS_LISTEN" {
		t.Fatal(EnvName("tls-listen"))
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"127.0.0.0/8", "10.1.2.3", "fd00::1/8", "::ffff:192.168.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.0/8", "10.1.2.3/32", "fd00::/8", "192.168.1.1/32"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := ParsePrefixes([]string{"host"}); err == nil {
		t.Error("ParsePrefixes accepted a host name")
	}
}
