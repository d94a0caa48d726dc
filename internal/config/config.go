// Package config holds openkvs' server configuration: defaults, the YAML
// file, OPENKVS_* environment variables and command-line flags, applied in
// that order so that each later source overrides the earlier ones.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole server configuration.
type Config struct {
	// DataDir holds the metadata store, fragments, TLS material and the
	// generated credentials. Defaults to "./openkvs-data".
	DataDir string `yaml:"dataDir"`
	// Listen is the plain HTTP listen address. Defaults to "127.0.0.1:8080";
	// "off" disables it.
	Listen string `yaml:"listen"`
	// TLSListen is the HTTPS/WSS listen address. Defaults to
	// "127.0.0.1:8443"; "off" disables it.
	TLSListen string `yaml:"tlsListen"`
	// TLSCert and TLSKey are PEM files of the user's own certificate. When
	// empty, a local CA and a server certificate are created in DataDir.
	TLSCert string `yaml:"tlsCert"`
	TLSKey  string `yaml:"tlsKey"`
	// TLSHosts are extra DNS names or IPs for the generated certificate
	// (localhost, 127.0.0.1 and ::1 are always included).
	TLSHosts []string `yaml:"tlsHosts"`
	// PublicURL, when set, is the base URL handed out by GetDataEndpoint and
	// GetSignalingChannelEndpoint instead of the address clients used, e.g.
	// "https://kvs.example.com".
	PublicURL string `yaml:"publicURL"`
	// Region is the AWS region in ARNs. Defaults to "us-east-1". Requests
	// signed for any region are accepted.
	Region string `yaml:"region"`
	// AccountID is the 12-digit account in ARNs. Defaults to "000000000000".
	AccountID string `yaml:"accountID"`
	// Credentials are "ACCESS_KEY_ID:SECRET_ACCESS_KEY" pairs, optionally
	// followed by ":SESSION_TOKEN", the one session token requests signed
	// with that key may carry (without it they may carry none). When
	// empty, one pair is generated on first start and kept in DataDir.
	Credentials []string `yaml:"credentials"`
	// Storage selects embedded or shared (cluster) catalog and archive.
	Storage StorageConfig `yaml:",inline"`
	// Log configures logging.
	Log LogConfig `yaml:"log"`
	// TURN configures the built-in STUN/TURN server.
	TURN TURNConfig `yaml:"turn"`
	// Signaling configures WebSocket signaling limits.
	Signaling SignalingConfig `yaml:"signaling"`
	// Media configures PutMedia ingest, the archive and playback.
	Media MediaConfig `yaml:"media"`
	// Bus is the message bus shared by the nodes of a cluster,
	// "nats://host:port" (comma-separated for a NATS cluster). Empty: a
	// single node with an in-process bus.
	Bus string `yaml:"bus"`
	// ShutdownTimeout bounds the graceful shutdown. Defaults to 10 s.
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// BodyReadTimeout is the longest wait between two reads of a request
	// body read before its signature is checked (a body signed without
	// x-amz-content-sha256). 0 means 60 s.
	BodyReadTimeout time.Duration `yaml:"bodyReadTimeout"`
	// UnverifiedBodyBytes bounds the memory of all the request bodies
	// being read before their signature is checked, together; requests
	// beyond it get ClientLimitExceededException (503). 0 means 64 MiB.
	UnverifiedBodyBytes int64 `yaml:"unverifiedBodyBytes"`
}

// LogConfig configures the server log.
type LogConfig struct {
	// Level is debug, info, warn or error. Defaults to "info".
	Level string `yaml:"level"`
	// Format is "text" or "json". Defaults to "text".
	Format string `yaml:"format"`
}

// TURNConfig configures the built-in STUN/TURN server.
type TURNConfig struct {
	// Enabled turns the STUN/TURN server on. Defaults to true.
	Enabled bool `yaml:"enabled"`
	// Listen is the UDP and TCP address. Defaults to "127.0.0.1:3478".
	Listen string `yaml:"listen"`
	// TLSListen is the TURN-over-TLS address, used when TLS is on.
	// Defaults to "127.0.0.1:5349"; "off" disables it.
	TLSListen string `yaml:"tlsListen"`
	// PublicIP is the address advertised to clients (needed behind NAT).
	// Defaults to the listener's IP.
	PublicIP string `yaml:"publicIP"`
	// AllowPeers are CIDRs (or single IPs) of loopback, private,
	// link-local or this host's own addresses that clients may relay to.
	// Empty: all of those when PublicIP (or the listener's IP) is itself
	// loopback, private or link-local (one machine, a private network),
	// none when it is public.
	AllowPeers []string `yaml:"allowPeers"`
	// Secret is the key of the time-limited TURN credentials, at least 16
	// characters; the nodes of a cluster share it so that each accepts
	// the credentials any of them hands out. Empty: a random secret kept
	// in DataDir.
	Secret string `yaml:"secret"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		DataDir:         "./openkvs-data",
		Listen:          "127.0.0.1:8080",
		TLSListen:       "127.0.0.1:8443",
		Region:          "us-east-1",
		AccountID:       "000000000000",
		Log:             LogConfig{Level: "info", Format: "text"},
		TURN:            TURNConfig{Enabled: true, Listen: "127.0.0.1:3478", TLSListen: "127.0.0.1:5349"},
		ShutdownTimeout: 10 * time.Second,
	}
}

// minUnverifiedBodyBytes is the smallest UnverifiedBodyBytes: one request
// body of the largest size read before its signature is checked (1 MiB).
const minUnverifiedBodyBytes = 1 << 20

// Off is the listen-address value that disables a listener.
const Off = "off"

// Enabled reports whether a listen address turns its listener on.
func Enabled(addr string) bool { return addr != "" && addr != Off }

// LoadFile applies the YAML file at path over c. Unknown keys are errors so
// that typos do not go unnoticed.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// ApplyEnv applies every OPENKVS_* variable that lookup finds over c.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	for _, f := range Fields() {
		v, ok := lookup(f.Env)
		if !ok {
			continue
		}
		val := f.Bind(c)
		if sv, ok := val.(*stringSlice); ok {
			for _, item := range strings.Split(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					if err := sv.Set(item); err != nil {
						return fmt.Errorf("%s: %w", f.Env, err)
					}
				}
			}
			continue
		}
		if err := val.Set(v); err != nil {
			return fmt.Errorf("%s: %w", f.Env, err)
		}
	}
	return nil
}

var (
	regionPattern  = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
)

// Validate checks c and returns the first problem found.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data dir must be set")
	}
	if !Enabled(c.Listen) && !Enabled(c.TLSListen) {
		return errors.New("both listeners are off")
	}
	for name, addr := range map[string]string{"listen": c.Listen, "tls-listen": c.TLSListen, "turn-listen": c.TURN.Listen, "turn-tls-listen": c.TURN.TLSListen} {
		if !Enabled(addr) {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q: %w", name, addr, err)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls-cert and tls-key must be given together")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("public-url %q must be an absolute http(s) URL", c.PublicURL)
		}
	}
	if !regionPattern.MatchString(c.Region) {
		return fmt.Errorf("region %q is not a valid region name", c.Region)
	}
	if !accountPattern.MatchString(c.AccountID) {
		return fmt.Errorf("account id %q must be 12 digits", c.AccountID)
	}
	if _, err := ParseCredentials(c.Credentials); err != nil {
		return err
	}
	if c.BodyReadTimeout < 0 {
		return fmt.Errorf("body-read-timeout %s must not be negative", c.BodyReadTimeout)
	}
	if c.UnverifiedBodyBytes != 0 && c.UnverifiedBodyBytes < minUnverifiedBodyBytes {
		return fmt.Errorf("unverified-body-bytes %d: must be at least %d, the largest body read before its signature is checked", c.UnverifiedBodyBytes, minUnverifiedBodyBytes)
	}
	if err := c.Storage.validate(); err != nil {
		return err
	}
	if c.TURN.PublicIP != "" && net.ParseIP(c.TURN.PublicIP) == nil {
		return fmt.Errorf("turn public ip %q is not an IP address", c.TURN.PublicIP)
	}
	if _, err := ParsePrefixes(c.TURN.AllowPeers); err != nil {
		return fmt.Errorf("turn-allow-peer: %w", err)
	}
	if err := c.validateCluster(); err != nil {
		return err
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log format %q: want text or json", c.Log.Format)
	}
	return nil
}

// ParsePrefixes parses CIDRs and single IP addresses (as /32 or /128).
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// ParseCredentials turns "AKID:SECRET[:SESSION_TOKEN]" entries into a map
// of access key ID to secret.
func ParseCredentials(entries []string) (map[string]string, error) {
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		id, secret, _, ok := SplitCredential(e)
		if !ok {
			return nil, fmt.Errorf("credentials %q: want ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]", redact(e))
		}
		m[id] = secret
	}
	return m, nil
}

// SessionTokens returns the session tokens of valid credential entries:
// access key ID to token, for the keys that have one.
func SessionTokens(entries []string) map[string]string {
	m := make(map[string]string)
	for _, e := range entries {
		if id, _, token, ok := SplitCredential(e); ok && token != "" {
			m[id] = token
		}
	}
	return m
}

// SplitCredential splits one "AKID:SECRET[:SESSION_TOKEN]" entry. ok is
// false when the ID or the secret is missing or a ':' ends it.
func SplitCredential(e string) (id, secret, token string, ok bool) {
	id, rest, _ := strings.Cut(e, ":")
	secret, token, hasToken := strings.Cut(rest, ":")
	ok = id != "" && secret != "" && (!hasToken || token != "")
	return id, secret, token, ok
}

func redact(p string) string {
	if id, _, ok := strings.Cut(p, ":"); ok {
		return id + ":…"
	}
	if len(p) > 4 {
		return p[:4] + "…"
	}
	return p
}
