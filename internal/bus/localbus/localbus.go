// Package localbus is the in-process bus.Bus: the default of a single node,
// with no other process involved. Messages are handed over by reference
// (Publish keeps no copy: the caller must not change data afterwards).
package localbus

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/openkvs/openkvs/internal/bus"
)

// DefaultMaxPayload is the default of Config.MaxPayload.
const DefaultMaxPayload = 64 << 20

// Config configures a Bus.
type Config struct {
	// MaxPayload is the largest payload accepted. Default 64 MiB.
	MaxPayload int
}

// Bus is an in-process bus.Bus. Its zero value is not usable; call New.
type Bus struct {
	maxPayload int

	mu     sync.RWMutex
	subs   map[string][]*subscription // guarded by mu
	closed bool                       // guarded by mu
	inbox  atomic.Uint64
}

var _ bus.Bus = (*Bus)(nil)

// New returns an empty Bus.
func New(cfg Config) *Bus {
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	return &Bus{maxPayload: cfg.MaxPayload, subs: make(map[string][]*subscription)}
}

// MaxPayload implements bus.Bus.
func (b *Bus) MaxPayload() int { return b.maxPayload }

// Publish implements bus.Bus.
func (b *Bus) Publish(_ context.Context, subject string, data []byte) error {
	return b.publish(subject, "", data)
}

func (b *Bus) publish(subject, reply string, data []byte) error {
	if !bus.ValidSubject(subject) {
		return fmt.Errorf("%w: %q", bus.ErrBadSubject, subject)
	}
	if len(data) > b.maxPayload {
		return fmt.Errorf("%w: %d bytes, the limit is %d", bus.ErrTooLarge, len(data), b.maxPayload)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return bus.ErrClosed
	}
	for _, s := range b.subs[subject] {
		s.push(&bus.Msg{Subject: subject, Data: data, Reply: reply})
	}
	return nil
}

// Subscribe implements bus.Bus.
func (b *Bus) Subscribe(_ context.Context, subject string, h bus.Handler, opts bus.SubscribeOptions) (bus.Subscription, error) {
	if !bus.ValidSubject(subject) {
		return nil, fmt.Errorf("%w: %q", bus.ErrBadSubject, subject)
	}
	opts = opts.WithDefaults()
	s := &subscription{bus: b, subject: subject, h: h, limitMsgs: opts.PendingMsgs, limitBytes: opts.PendingBytes}
	s.cond = sync.NewCond(&s.mu)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, bus.ErrClosed
	}
	b.subs[subject] = append(b.subs[subject], s)
	b.mu.Unlock()
	go s.run()
	return s, nil
}

// Request implements bus.Bus.
func (b *Bus) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if !bus.ValidSubject(subject) {
		return nil, fmt.Errorf("%w: %q", bus.ErrBadSubject, subject)
	}
	b.mu.RLock()
	n, closed := len(b.subs[subject]), b.closed
	b.mu.RUnlock()
	if closed {
		return nil, bus.ErrClosed
	}
	if n == 0 {
		return nil, fmt.Errorf("%w on %s", bus.ErrNoResponders, subject)
	}
	inbox := "_INBOX.local." + strconv.FormatUint(b.inbox.Add(1), 10)
	answer := make(chan []byte, 1)
	sub, err := b.Subscribe(ctx, inbox, func(m *bus.Msg) {
		select {
		case answer <- m.Data:
		default:
		}
	}, bus.SubscribeOptions{PendingMsgs: 1})
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := b.publish(subject, inbox, data); err != nil {
		return nil, err
	}
	select {
	case a := <-answer:
		return a, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("bus: request on %s: %w", subject, ctx.Err())
	}
}

// Close implements bus.Bus.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	all := b.subs
	b.subs = nil
	b.mu.Unlock()
	for _, list := range all {
		for _, s := range list {
			s.stop()
		}
	}
	return nil
}

func (b *Bus) remove(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := b.subs[s.subject]
	for i, x := range list {
		if x == s {
			// A new slice: publishers may be iterating the old one.
			n := make([]*subscription, 0, len(list)-1)
			n = append(n, list[:i]...)
			n = append(n, list[i+1:]...)
			if len(n) == 0 {
				delete(b.subs, s.subject)
			} else {
				b.subs[s.subject] = n
			}
			return
		}
	}
}

// subscription queues messages for its handler goroutine.
type subscription struct {
	bus        *Bus
	subject    string
	h          bus.Handler
	limitMsgs  int
	limitBytes int
	dropped    atomic.Int64

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*bus.Msg // guarded by mu
	bytes   int        // guarded by mu
	stopped bool       // guarded by mu
}

func (s *subscription) push(m *bus.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if len(s.queue) >= s.limitMsgs || s.bytes+len(m.Data) > s.limitBytes {
		s.dropped.Add(1)
		return
	}
	s.queue = append(s.queue, m)
	s.bytes += len(m.Data)
	if len(s.queue) == 1 {
		s.cond.Signal()
	}
}

func (s *subscription) run() {
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.stopped {
			s.cond.Wait()
		}
		if s.stopped {
			s.queue = nil
			s.mu.Unlock()
			return
		}
		m := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.bytes -= len(m.Data)
		s.mu.Unlock()
		s.h(m)
	}
}

func (s *subscription) stop() {
	s.mu.Lock()
	s.stopped = true
	s.cond.Signal()
	s.mu.Unlock()
}

// Unsubscribe implements bus.Subscription.
func (s *subscription) Unsubscribe() error {
	s.bus.remove(s)
	s.stop()
	return nil
}

// Dropped implements bus.Subscription.
func (s *subscription) Dropped() int { return int(s.dropped.Load()) }
