package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Value is a settable configuration value; it satisfies pflag.Value so the
// CLI can register it as a flag directly.
type Value interface {
	String() string
	Set(string) error
	Type() string
}

// Field is one setting that can come from a flag and an environment
// variable. Every flag has an OPENKVS_* twin.
type Field struct {
	// Flag is the long flag name, e.g. "data-dir".
	Flag string
	// Env is the environment variable, e.g. "OPENKVS_DATA_DIR".
	Env string
	// Usage is the flag's help text.
	Usage string
	// Bind returns a Value that reads and writes this field of c.
	Bind func(c *Config) Value
}

// Fields lists every setting of the serve command.
func Fields() []Field {
	fields := []Field{
		field("data-dir", "directory for metadata, fragments, TLS material and generated credentials", func(c *Config) Value { return (*stringValue)(&c.DataDir) }),
		field("listen", `plain HTTP listen address ("off" disables)`, func(c *Config) Value { return (*stringValue)(&c.Listen) }),
		field("tls-listen", `HTTPS/WSS listen address ("off" disables); on port 443 handed-out URLs carry no port`, func(c *Config) Value { return (*stringValue)(&c.TLSListen) }),
		field("tls-cert", "PEM certificate to serve instead of the generated one", func(c *Config) Value { return (*stringValue)(&c.TLSCert) }),
		field("tls-key", "PEM private key for --tls-cert", func(c *Config) Value { return (*stringValue)(&c.TLSKey) }),
		field("tls-host", "extra DNS name or IP for the generated certificate (repeatable)", func(c *Config) Value { return &stringSlice{p: &c.TLSHosts} }),
		field("public-url", "base URL handed out by GetDataEndpoint and GetSignalingChannelEndpoint", func(c *Config) Value { return (*stringValue)(&c.PublicURL) }),
		field("region", "AWS region used in ARNs", func(c *Config) Value { return (*stringValue)(&c.Region) }),
		field("account-id", "12-digit AWS account ID used in ARNs", func(c *Config) Value { return (*stringValue)(&c.AccountID) }),
		field("credentials", "access key as ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN], the token being the only one accepted with that key (repeatable; env: comma-separated)", func(c *Config) Value { return &stringSlice{p: &c.Credentials} }),
		field("log-level", "log level: debug, info, warn, error", func(c *Config) Value { return (*stringValue)(&c.Log.Level) }),
		field("log-format", "log format: text or json", func(c *Config) Value { return (*stringValue)(&c.Log.Format) }),
		field("turn", "run the built-in STUN/TURN server", func(c *Config) Value { return (*boolValue)(&c.TURN.Enabled) }),
		field("turn-listen", "STUN/TURN UDP and TCP listen address", func(c *Config) Value { return (*stringValue)(&c.TURN.Listen) }),
		field("turn-tls-listen", `TURN over TLS listen address ("off" disables)`, func(c *Config) Value { return (*stringValue)(&c.TURN.TLSListen) }),
		field("public-ip", "IP address advertised to STUN/TURN clients (needed behind NAT)", func(c *Config) Value { return (*stringValue)(&c.TURN.PublicIP) }),
		field("turn-allow-peer", "CIDR or IP of loopback/private/link-local/own addresses TURN may relay to (repeatable; default: all of them when the TURN address is not public, else none)", func(c *Config) Value { return &stringSlice{p: &c.TURN.AllowPeers} }),
		field("shutdown-timeout", "how long a graceful shutdown may take", func(c *Config) Value { return (*durationValue)(&c.ShutdownTimeout) }),
		field("body-read-timeout", "longest wait between two reads of a request body read before its signature is checked (0: 60s)", func(c *Config) Value { return (*durationValue)(&c.BodyReadTimeout) }),
		field("unverified-body-bytes", "memory for request bodies read before their signature is checked, all requests together (0: 64 MiB)", func(c *Config) Value { return (*mediaInt64Value)(&c.UnverifiedBodyBytes) }),
	}
	fields = append(fields, signalingFields()...)
	fields = append(fields, clusterFields()...)
	fields = append(fields, storageFields()...)
	return append(fields, mediaFields()...)
}

func field(flag, usage string, bind func(*Config) Value) Field {
	return Field{Flag: flag, Env: EnvName(flag), Usage: usage, Bind: bind}
}

// EnvName returns the environment variable twin of a flag name:
// "data-dir" → "OPENKVS_DATA_DIR".
func EnvName(flag string) string {
	return "OPENKVS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

type stringValue string

func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) Type() string       { return "string" }

type boolValue bool

func (b *boolValue) String() string { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not a boolean", v)
	}
	*b = boolValue(x)
	return nil
}
func (b *boolValue) Type() string { return "bool" }

// IsBoolFlag lets pflag accept "--turn" without a value.
func (b *boolValue) IsBoolFlag() bool { return true }

type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration", v)
	}
	*d = durationValue(x)
	return nil
}
func (d *durationValue) Type() string { return "duration" }

// stringSlice replaces the earlier list on its first Set and appends on
// later ones, so that a repeated flag overrides the file and environment
// instead of merging with them.
type stringSlice struct {
	p   *[]string
	set bool
}

func (s *stringSlice) String() string { return "[" + strings.Join(*s.p, ",") + "]" }
func (s *stringSlice) Set(v string) error {
	if !s.set {
		*s.p = nil
		s.set = true
	}
	*s.p = append(*s.p, v)
	return nil
}
func (s *stringSlice) Type() string { return "strings" }
