// Package bus is the contract of openkvs' message bus: subject-addressed
// publish/subscribe and request/reply between the nodes of a cluster. It
// carries signaling messages between nodes and live fragments from the node
// that ingests a stream to the nodes that serve it.
//
// Two implementations satisfy it: localbus (in-process, the default of a
// single node) and natsbus (NATS core, for a cluster). bustest is the
// conformance suite both pass.
//
// # Promises
//
//   - Subjects are dot-separated tokens of printable ASCII without spaces
//     and without the wildcards "*" and ">" (subjects are literal: a
//     subscription receives the messages published to exactly its subject).
//     Token makes any name (a stream or channel name) a safe token.
//   - A subscription is in place when Subscribe returns: whatever any node
//     publishes to its subject afterwards is delivered to it.
//   - Each subscription's handler runs in one goroutine, one message at a
//     time, in the order a publisher published them (order between
//     different publishers is unspecified).
//   - Publish never waits for subscribers and never runs a handler itself
//     (so it may be called holding a lock a handler takes). A subscription
//     whose handler falls behind by more than its pending limit
//     (SubscribeOptions) loses the messages beyond it, as NATS treats a
//     slow consumer; Dropped counts them. The publisher is slowed down by
//     nothing but the network.
//   - Delivery is at most once: a message published while no subscription
//     exists, or to a node that dies, is lost. Nothing is persisted.
//   - Payloads are opaque bytes up to MaxPayload (a few MiB with natsbus
//     when the NATS server's max_payload allows it). A handler may keep
//     Msg.Data: it is not reused.
package bus

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
)

// Errors of every Bus.
var (
	// ErrClosed is returned by calls on a closed Bus or Subscription.
	ErrClosed = errors.New("bus: closed")
	// ErrNoResponders is returned by Request when nothing subscribes to
	// the subject.
	ErrNoResponders = errors.New("bus: no responders")
	// ErrBadSubject is returned for an empty subject, an empty token,
	// whitespace or a wildcard.
	ErrBadSubject = errors.New("bus: invalid subject")
	// ErrTooLarge is returned by Publish and Request for a payload over
	// MaxPayload.
	ErrTooLarge = errors.New("bus: payload too large")
)

// Msg is a message delivered to a subscription.
type Msg struct {
	// Subject is the subject it was published to.
	Subject string
	// Data is the payload; the handler owns it.
	Data []byte
	// Reply is the subject to answer a Request on (with Publish); empty
	// for a plain Publish.
	Reply string
}

// Handler receives a subscription's messages, one at a time.
type Handler func(m *Msg)

// Subscription is an active subscription.
type Subscription interface {
	// Unsubscribe ends the subscription: messages not yet handed to the
	// handler are dropped (a call under way may still finish). It may be
	// called from the handler itself, and more than once.
	Unsubscribe() error
	// Dropped returns how many messages were lost because the handler
	// fell behind by more than the pending limit.
	Dropped() int
}

// SubscribeOptions tune one subscription.
type SubscribeOptions struct {
	// PendingMsgs and PendingBytes bound the messages waiting for the
	// handler; beyond either, new messages are dropped. Defaults
	// DefaultPendingMsgs and DefaultPendingBytes.
	PendingMsgs, PendingBytes int
}

// Default pending limits of a subscription (those of NATS' clients).
const (
	DefaultPendingMsgs  = 65536
	DefaultPendingBytes = 64 << 20
)

// Bus is a message bus shared by the nodes of a cluster.
type Bus interface {
	// Publish sends data to every subscription of subject, without
	// waiting for them.
	Publish(ctx context.Context, subject string, data []byte) error
	// Subscribe calls h with every message published to subject from now
	// on, until the subscription or the Bus is closed.
	Subscribe(ctx context.Context, subject string, h Handler, opts SubscribeOptions) (Subscription, error)
	// Request publishes data to subject with a reply subject and returns
	// the first answer: a responder answers with Publish(ctx, m.Reply,
	// answer). It fails with ErrNoResponders when nothing subscribes to
	// subject, and with ctx's error when no answer comes in time.
	Request(ctx context.Context, subject string, data []byte) ([]byte, error)
	// MaxPayload is the largest payload Publish and Request accept.
	MaxPayload() int
	// Close ends every subscription and releases the Bus; later calls
	// fail with ErrClosed.
	Close() error
}

// ValidSubject reports whether s is a literal subject: dot-separated
// non-empty tokens of printable ASCII other than space, "*" and ">".
func ValidSubject(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	prev := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '*' || c == '>' || (c == '.' && prev == '.') {
			return false
		}
		prev = c
	}
	return true
}

// Shard spreads keys over n subjects: it returns a number in [0, n) that
// depends only on key, so that every node sends one key's messages to the
// same subject, and a subscriber handles them in order.
func Shard(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Token turns name into one subject token: letters, digits, "-" and "_"
// stay as they are, every other byte (".", ":", "/", ...) becomes "~"
// and two hex digits. Different names give different tokens.
func Token(name string) string {
	if name == "" {
		return "~"
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('~')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// WithDefaults returns o with zero fields set to their defaults.
func (o SubscribeOptions) WithDefaults() SubscribeOptions {
	if o.PendingMsgs <= 0 {
		o.PendingMsgs = DefaultPendingMsgs
	}
	if o.PendingBytes <= 0 {
		o.PendingBytes = DefaultPendingBytes
	}
	return o
}
