package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MinTURNSecret is the shortest TURN secret accepted.
const MinTURNSecret = 16

// clusterFields lists the serve flags that join nodes into a cluster.
func clusterFields() []Field {
	return []Field{
		field("bus", `message bus shared by a cluster's nodes, "nats://host:port" (default: in-process, one node)`,
			func(c *Config) Value { return (*stringValue)(&c.Bus) }),
		field("turn-secret", "key of the TURN credentials, shared by a cluster's nodes (default: random, kept in the data dir)",
			func(c *Config) Value { return (*stringValue)(&c.TURN.Secret) }),
	}
}

// validateCluster checks Bus and TURN.Secret.
func (c *Config) validateCluster() error {
	if c.TURN.Secret != "" && len(c.TURN.Secret) < MinTURNSecret {
		return fmt.Errorf("turn-secret must be at least %d characters", MinTURNSecret)
	}
	if c.Bus == "" {
		return nil
	}
	for u := range strings.SplitSeq(c.Bus, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || (p.Scheme != "nats" && p.Scheme != "tls") || p.Host == "" {
			return fmt.Errorf("bus %q: want nats://host:port (or tls://host:port), comma-separated for several servers", redactURL(u))
		}
	}
	if c.TURN.Enabled && c.TURN.Secret == "" {
		return errors.New("bus: a cluster's nodes must share --turn-secret (OPENKVS_TURN_SECRET) so that each accepts the TURN credentials any of them hands out")
	}
	return nil
}

// redactURL hides a URL's password in messages.
func redactURL(u string) string {
	if p, err := url.Parse(strings.TrimSpace(u)); err == nil && p.User != nil {
		return p.Redacted()
	}
	return u
}
