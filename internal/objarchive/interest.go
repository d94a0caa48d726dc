package objarchive

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/openkvs/openkvs/internal/bus"
)

// Interest: a node publishes the fragments it receives on the bus only
// while some other node has readers of the stream, so that the bus does not
// carry the whole ingest rate to nobody.
//
// Every node subscribes to wantSubject. A node following a stream (a
// reader waited there, fanout.go) announces it there as soon as its live
// subscription is in place, then every interestEvery while it follows;
// the nodes that hear it publish the stream's fragments for interestTTL
// after each announcement (measured on their own clock). A node that stops
// following says so, which ends the publishing at once. A node that opens
// asks the others to announce what they follow (a probe), so that a
// producer moving to a new node is followed at once.
//
// A fragment received between a reader's subscription and the moment the
// publisher hears the announcement is not published: the reader gets it
// from the index (the no-skip rule of fanout.go holds the later ones back
// until then), as it does for any message lost on the bus.

// wantSubject carries the interest messages of every stream.
const wantSubject = "openkvs.interest"

const (
	// interestEvery is how often a following node announces its streams.
	interestEvery = time.Second
	// interestTTL is how long a publisher keeps an announcement.
	interestTTL = 5 * interestEvery
)

// Interest message kinds.
const (
	kindWant     = 'w' // the origin follows the streams listed
	kindWithdraw = 'x' // the origin no longer follows them
	kindProbe    = 'p' // the origin asks every node to announce (no streams)
)

// interest message layout (big-endian): kind u8, origin u64, then for each
// stream: length u16, name.
type interestMsg struct {
	kind    byte
	origin  uint64
	streams []string
}

func encodeInterest(m *interestMsg) []byte {
	n := 9
	for _, s := range m.streams {
		n += 2 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, m.kind)
	b = binary.BigEndian.AppendUint64(b, m.origin)
	for _, s := range m.streams {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return b
}

func decodeInterest(data []byte) (*interestMsg, error) {
	if len(data) < 9 {
		return nil, errBadInterest
	}
	m := &interestMsg{kind: data[0], origin: binary.BigEndian.Uint64(data[1:9])}
	switch m.kind {
	case kindWant, kindWithdraw, kindProbe:
	default:
		return nil, errBadInterest
	}
	for r := data[9:]; len(r) > 0; {
		if len(r) < 2 {
			return nil, errBadInterest
		}
		n := int(binary.BigEndian.Uint16(r))
		if n == 0 || len(r) < 2+n {
			return nil, errBadInterest
		}
		m.streams = append(m.streams, string(r[2:2+n]))
		r = r[2+n:]
	}
	if m.kind == kindProbe && len(m.streams) > 0 {
		return nil, errBadInterest
	}
	return m, nil
}

var errBadInterest = errors.New("objarchive: malformed interest message")

// interestSet is what other nodes follow: stream → origin → expiry.
type interestSet struct {
	mu      sync.Mutex
	m       map[string]map[uint64]time.Time
	changed chan struct{} // closed and replaced on every change (tests)
}

// wanted reports whether another node follows stream at now, forgetting
// the announcements that expired.
func (s *interestSet) wanted(stream string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for origin, exp := range s.m[stream] {
		if now.Before(exp) {
			return true
		}
		delete(s.m[stream], origin)
	}
	delete(s.m, stream)
	return false
}

// prune forgets the announcements expired at now (of nodes that went
// without withdrawing them, for streams this node no longer receives).
func (s *interestSet) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, origins := range s.m {
		for origin, exp := range origins {
			if !now.Before(exp) {
				delete(origins, origin)
			}
		}
		if len(origins) == 0 {
			delete(s.m, name)
		}
	}
}

// has reports whether origin's interest in stream is known (tests).
func (s *interestSet) has(stream string, origin uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[stream][origin]
	return ok
}

// watch returns a channel closed on the next change (tests).
func (s *interestSet) watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

func (s *interestSet) apply(m *interestMsg, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]map[uint64]time.Time)
	}
	for _, name := range m.streams {
		switch m.kind {
		case kindWant:
			if s.m[name] == nil {
				s.m[name] = make(map[uint64]time.Time)
			}
			s.m[name][m.origin] = now.Add(interestTTL)
		case kindWithdraw:
			delete(s.m[name], m.origin)
			if len(s.m[name]) == 0 {
				delete(s.m, name)
			}
		}
	}
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// watchInterest subscribes to the other nodes' interest and asks them to
// announce it (Open, with a Bus).
func (a *Archive) watchInterest(ctx context.Context) error {
	sub, err := a.cfg.Bus.Subscribe(ctx, wantSubject, a.heard, bus.SubscribeOptions{})
	if err != nil {
		return err
	}
	a.wantSub = sub
	a.announce(kindProbe, nil)
	return nil
}

// heard handles an interest message of another node.
func (a *Archive) heard(msg *bus.Msg) {
	m, err := decodeInterest(msg.Data)
	if err != nil || m.origin == a.origin {
		return
	}
	if m.kind == kindProbe {
		a.announceFollowed()
		return
	}
	a.interest.apply(m, a.cfg.Now())
}

// announce publishes an interest message of this node for streams, in
// messages under the bus' payload limit.
func (a *Archive) announce(kind byte, streams []string) {
	limit := min(a.cfg.Bus.MaxPayload(), 64<<10)
	for {
		m := &interestMsg{kind: kind, origin: a.origin}
		size := 9
		for len(streams) > 0 && (len(m.streams) == 0 || size+2+len(streams[0]) <= limit) {
			size += 2 + len(streams[0])
			m.streams = append(m.streams, streams[0])
			streams = streams[1:]
		}
		if err := a.cfg.Bus.Publish(context.Background(), wantSubject, encodeInterest(m)); err != nil {
			a.log.Debug("objarchive: announce interest", "err", err)
		}
		if len(streams) == 0 {
			return
		}
	}
}

// announceFollowed announces every stream this node follows.
func (a *Archive) announceFollowed() {
	var names []string
	for _, st := range a.streamList() {
		st.mu.Lock()
		if st.sub != nil {
			names = append(names, st.name)
		}
		st.mu.Unlock()
	}
	if len(names) > 0 {
		a.announce(kindWant, names)
	}
}
