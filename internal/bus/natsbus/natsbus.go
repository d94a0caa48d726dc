// Package natsbus is the bus.Bus of a cluster: NATS core publish/subscribe
// and request/reply through the nats.go client. Every node connects to the
// same NATS server or cluster.
//
// Payloads are limited by the server's max_payload (1 MiB by default):
// raise it (max_payload: 8MB) for live fragments. The connection
// reconnects forever after a server restart; subscriptions are restored
// and publishes made meanwhile are buffered (up to nats.go's 8 MiB), but
// messages published while a subscriber was away are lost (at most once).
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/openkvs/openkvs/internal/bus"
)

// DefaultConnectTimeout is the default of Config.ConnectTimeout.
const DefaultConnectTimeout = 5 * time.Second

// Config configures a Bus.
type Config struct {
	// URL is the NATS server, "nats://host:port" (a comma-separated list
	// for a NATS cluster). Required.
	URL string
	// Name is the connection's name in the server's monitoring, e.g. the
	// node's. Default "openkvs".
	Name string
	// ConnectTimeout bounds the first connection. Default 5 s.
	ConnectTimeout time.Duration
	// Logger receives connection events and slow-consumer warnings.
	// Default: discard.
	Logger *slog.Logger
}

// ErrNoURL is returned by New when Config.URL is empty.
var ErrNoURL = errors.New("natsbus: Config.URL is required")

// Bus is a bus.Bus over one NATS connection.
type Bus struct {
	nc  *nats.Conn
	log *slog.Logger
	// flushTimeout bounds Subscribe's wait for the server when its
	// context has no deadline.
	flushTimeout time.Duration

	closed atomic.Bool
}

var _ bus.Bus = (*Bus)(nil)

// New connects to the NATS server at cfg.URL.
func New(cfg Config) (*Bus, error) {
	if cfg.URL == "" {
		return nil, ErrNoURL
	}
	if cfg.Name == "" {
		cfg.Name = "openkvs"
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger
	nc, err := nats.Connect(cfg.URL,
		nats.Name(cfg.Name),
		nats.Timeout(cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats error", "subject", subject, "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect %s: %w", redact(cfg.URL), err)
	}
	return &Bus{nc: nc, log: log, flushTimeout: cfg.ConnectTimeout}, nil
}

// redact drops credentials from a URL for messages.
func redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if i := strings.LastIndexByte(rest, '@'); ok && i >= 0 {
		return scheme + "://…@" + rest[i+1:]
	}
	return u
}

// check validates a call before it reaches nats.go.
func (b *Bus) check(ctx context.Context, subject string, size int) error {
	if !bus.ValidSubject(subject) {
		return fmt.Errorf("%w: %q", bus.ErrBadSubject, subject)
	}
	if b.closed.Load() {
		return bus.ErrClosed
	}
	if max := b.MaxPayload(); size > max {
		return fmt.Errorf("%w: %d bytes, the server's max_payload is %d", bus.ErrTooLarge, size, max)
	}
	return ctx.Err()
}

// mapErr turns nats.go's errors into the bus ones.
func mapErr(op, subject string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrBadSubscription):
		return bus.ErrClosed
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: %v", bus.ErrTooLarge, err)
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w on %s", bus.ErrNoResponders, subject)
	}
	return fmt.Errorf("natsbus: %s %s: %w", op, subject, err)
}

// MaxPayload implements bus.Bus: the server's max_payload.
func (b *Bus) MaxPayload() int { return int(b.nc.MaxPayload()) }

// Publish implements bus.Bus.
func (b *Bus) Publish(ctx context.Context, subject string, data []byte) error {
	if err := b.check(ctx, subject, len(data)); err != nil {
		return err
	}
	return mapErr("publish", subject, b.nc.Publish(subject, data))
}

// Subscribe implements bus.Bus. It returns once the server has the
// subscription (waiting up to Config.ConnectTimeout when ctx has no
// deadline).
func (b *Bus) Subscribe(ctx context.Context, subject string, h bus.Handler, opts bus.SubscribeOptions) (bus.Subscription, error) {
	if err := b.check(ctx, subject, 0); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		h(&bus.Msg{Subject: m.Subject, Data: m.Data, Reply: m.Reply})
	})
	if err != nil {
		return nil, mapErr("subscribe", subject, err)
	}
	if err := sub.SetPendingLimits(opts.PendingMsgs, opts.PendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, mapErr("subscribe", subject, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.flushTimeout)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, mapErr("subscribe", subject, err)
	}
	return subscription{sub}, nil
}

// Request implements bus.Bus.
func (b *Bus) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if err := b.check(ctx, subject, len(data)); err != nil {
		return nil, err
	}
	m, err := b.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		return nil, mapErr("request", subject, err)
	}
	return m.Data, nil
}

// Close implements bus.Bus: it closes the connection (what is buffered is
// flushed first).
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if b.nc.IsConnected() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = b.nc.FlushWithContext(ctx)
		cancel()
	}
	b.nc.Close()
	return nil
}

type subscription struct{ sub *nats.Subscription }

// Unsubscribe implements bus.Subscription.
func (s subscription) Unsubscribe() error {
	err := s.sub.Unsubscribe()
	if errors.Is(err, nats.ErrBadSubscription) || errors.Is(err, nats.ErrConnectionClosed) {
		return nil
	}
	return err
}

// Dropped implements bus.Subscription.
func (s subscription) Dropped() int {
	n, _ := s.sub.Dropped()
	return n
}
