package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterSettings reads --bus and --turn-secret from the file, the
// environment and flags, in that precedence.
func TestClusterSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "openkvs.yaml")
	yaml := "bus: nats://10.0.0.1:4222\nturn:\n  secret: file-secret-0123456789\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bus != "nats://10.0.0.1:4222" || c.TURN.Secret != "file-secret-0123456789" {
		t.Fatalf("file: bus %q secret %q", c.Bus, c.TURN.Secret)
	}

	env := map[string]string{"OPENKVS_BUS": "nats://127.0.0.1:4222,nats://127.0.0.2:4222", "OPENKVS_TURN_SECRET": "env-secret-0123456789"}
	flags := NewFlags()
	set := map[string]Value{}
	flags.Register(func(v Value, name, _ string) { set[name] = v })
	if err := set["turn-secret"].Set("flag-secret-0123456789"); err != nil {
		t.Fatal(err)
	}
	c, err = Load(file, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, flags)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bus != env["OPENKVS_BUS"] || c.TURN.Secret != "flag-secret-0123456789" {
		t.Fatalf("env and flags: bus %q secret %q", c.Bus, c.TURN.Secret)
	}
	if d := Default(); d.Bus != "" || d.TURN.Secret != "" {
		t.Error("the default must be one node with a generated TURN secret")
	}
}

func TestValidateCluster(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"single node", func(*Config) {}, ""},
		{"cluster", func(c *Config) { c.Bus, c.TURN.Secret = "nats://127.0.0.1:4222", "0123456789abcdef" }, ""},
		{"cluster without TURN", func(c *Config) { c.Bus, c.TURN.Enabled = "nats://127.0.0.1:4222", false }, ""},
		{"tls scheme", func(c *Config) { c.Bus, c.TURN.Secret = "tls://nats.example:4222", "0123456789abcdef" }, ""},
		{"short secret", func(c *Config) { c.TURN.Secret = "short" }, "at least 16"},
		{"cluster needs a shared secret", func(c *Config) { c.Bus = "nats://127.0.0.1:4222" }, "turn-secret"},
		{"bad scheme", func(c *Config) { c.Bus, c.TURN.Secret = "redis://h:1", "0123456789abcdef" }, "nats://"},
		{"no host", func(c *Config) { c.Bus, c.TURN.Secret = "nats://", "0123456789abcdef" }, "nats://"},
		{"password hidden", func(c *Config) { c.Bus, c.TURN.Secret = "http://u:hunter2@h:1", "0123456789abcdef" }, "xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: %v, want an error mentioning %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("the password shows: %v", err)
			}
		})
	}
}
