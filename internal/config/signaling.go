package config

import (
	"fmt"
	"strconv"
	"time"
)

// SignalingConfig configures WebSocket signaling. Zero values take KVS'
// limits (see internal/signaling.Config for each default); a negative
// value lifts the limit.
type SignalingConfig struct {
	// MaxViewers caps the viewers connected to one channel at once.
	// Default 10 (KVS); negative: no limit.
	MaxViewers int `yaml:"maxViewers"`
	// ConnectRate caps new connections per second per channel, counted
	// apart for masters and viewers. Default 3 (KVS); negative: no limit.
	ConnectRate int `yaml:"connectRate"`
	// MaxMessageBytes caps a message's base64 messagePayload. Default
	// 10240 (KVS' 10 KB); negative: only the 64 KiB frame limit applies.
	MaxMessageBytes int `yaml:"maxMessageBytes"`
	// SDPRate caps SDP offers and answers per second per connection.
	// Default 5 (KVS); negative: no limit.
	SDPRate int `yaml:"sdpRate"`
	// ICERate caps ICE candidates per second per connection. Default 20
	// (KVS); negative: no limit.
	ICERate int `yaml:"iceRate"`
	// IdleTimeout closes a connection that sent nothing (no message, no
	// ping) for that long. Default 10 minutes (KVS); negative: never.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// MaxConnectionDuration is how long a connection may last; it gets
	// GO_AWAY a minute before. Default 1 hour (KVS); negative: no limit.
	MaxConnectionDuration time.Duration `yaml:"maxConnectionDuration"`
}

// signalingFields lists the serve flags of SignalingConfig.
func signalingFields() []Field {
	return []Field{
		field("signaling-max-viewers", "viewers per signaling channel (0: KVS' 10; -1: no limit)",
			func(c *Config) Value { return (*intValue)(&c.Signaling.MaxViewers) }),
		field("signaling-connect-rate", "new signaling connections per second per channel, masters and viewers apart (0: KVS' 3; -1: no limit)",
			func(c *Config) Value { return (*intValue)(&c.Signaling.ConnectRate) }),
		field("signaling-max-message-bytes", "largest signaling messagePayload in bytes (0: KVS' 10240; -1: only the 64 KiB frame limit)",
			func(c *Config) Value { return (*intValue)(&c.Signaling.MaxMessageBytes) }),
		field("signaling-sdp-rate", "SDP offers and answers per second per connection (0: KVS' 5; -1: no limit)",
			func(c *Config) Value { return (*intValue)(&c.Signaling.SDPRate) }),
		field("signaling-ice-rate", "ICE candidates per second per connection (0: KVS' 20; -1: no limit)",
			func(c *Config) Value { return (*intValue)(&c.Signaling.ICERate) }),
		field("signaling-idle-timeout", "close signaling connections silent this long (0: KVS' 10m; -1s: never)",
			func(c *Config) Value { return (*durationValue)(&c.Signaling.IdleTimeout) }),
		field("signaling-max-connection-duration", "longest signaling connection, GO_AWAY a minute before (0: KVS' 1h; -1s: no limit)",
			func(c *Config) Value { return (*durationValue)(&c.Signaling.MaxConnectionDuration) }),
	}
}

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	x, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v = intValue(x)
	return nil
}
func (v *intValue) Type() string { return "int" }
