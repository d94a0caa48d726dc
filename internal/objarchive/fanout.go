package objarchive

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/bus"
)

// Live fan-out: the node that receives a fragment publishes it on the bus
// (subject liveSubject(stream)) as soon as it has it, before it is
// durable, while another node follows the stream (interest.go); a node with readers of the stream subscribes and puts what it
// hears into its live buffer, so that its GetMedia and HLS/DASH LIVE
// readers follow a producer connected to another node without waiting for
// the object store and the index. Delivery is at most once: a message lost
// (a slow subscriber, a fragment over the bus' payload limit) delays the
// reader to the index poll, it never skips a fragment: each message names
// the number its node received before for the stream (prev), and a reader
// takes a fragment from another node only once it has read prev.

// followIdle is how long a node keeps its subscription to a stream no
// reader waited on.
const followIdle = time.Minute

func liveSubject(stream string) string { return "openkvs.live." + bus.Token(stream) }

// live message layout (big-endian): origin u64, stream length u16, stream,
// millis u64, seq u64, prev millis u64, prev seq u64, producer ns i64,
// timecode u64, duration ns i64, frames u32, timecode scale u64, tracks
// length u32, tracks, tags length u32 (0xffffffff: no tags), tags, Cluster
// bytes to the end.
type liveMsg struct {
	origin  uint64
	stream  string
	f       archive.Fragment
	prev    archive.Number
	cluster []byte
}

const noTags = 0xffffffff

func encodeLive(m *liveMsg) []byte {
	f := &m.f
	b := make([]byte, 0, 96+len(m.stream)+len(f.Header.Tracks)+len(f.Tags)+len(m.cluster))
	b = binary.BigEndian.AppendUint64(b, m.origin)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.stream)))
	b = append(b, m.stream...)
	for _, v := range []uint64{f.Number.Millis, f.Number.Seq, m.prev.Millis, m.prev.Seq, uint64(f.ProducerTime.UnixNano()),
		f.Timecode, uint64(f.Duration)} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(f.Frames))
	b = binary.BigEndian.AppendUint64(b, f.Header.TimecodeScale)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Header.Tracks)))
	b = append(b, f.Header.Tracks...)
	if f.Tags == nil {
		b = binary.BigEndian.AppendUint32(b, noTags)
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f.Tags)))
		b = append(b, f.Tags...)
	}
	return append(b, m.cluster...)
}

var errBadLive = errors.New("objarchive: malformed live message")

// decodeLive parses a message of encodeLive; the result aliases data.
func decodeLive(data []byte, headers *headerCache) (*liveMsg, error) {
	r := data
	take := func(n int) []byte {
		if n < 0 || len(r) < n {
			r = nil
			return nil
		}
		v := r[:n:n]
		r = r[n:]
		return v
	}
	u64 := func() uint64 {
		if v := take(8); v != nil {
			return binary.BigEndian.Uint64(v)
		}
		return 0
	}
	u32 := func() uint32 {
		if v := take(4); v != nil {
			return binary.BigEndian.Uint32(v)
		}
		return 0
	}
	m := &liveMsg{origin: u64()}
	var n uint16
	if v := take(2); v != nil {
		n = binary.BigEndian.Uint16(v)
	}
	m.stream = string(take(int(n)))
	m.f.Number = archive.Number{Millis: u64(), Seq: u64()}
	m.prev = archive.Number{Millis: u64(), Seq: u64()}
	m.f.ProducerTime = time.Unix(0, int64(u64())).UTC()
	m.f.Timecode = u64()
	m.f.Duration = time.Duration(u64())
	m.f.Frames = int(u32())
	scale := u64()
	tracks := take(int(u32()))
	if r == nil {
		return nil, errBadLive
	}
	if tl := u32(); tl != noTags {
		m.f.Tags = take(int(tl))
	}
	if r == nil || m.stream == "" || m.f.Duration < 0 || scale == 0 {
		return nil, errBadLive
	}
	m.f.Header = headers.get(scale, tracks)
	m.cluster = r
	m.f.Size = int64(len(r))
	return m, nil
}

// publish sends a fragment this node received to the other nodes' live
// buffers. Callers hold st.mu (Publish never waits for a handler).
func (a *Archive) publish(st *stream, f *archive.Fragment, cluster []byte) {
	prev := st.lastPut
	st.lastPut = f.Number
	if a.cfg.Bus == nil || !a.interest.wanted(st.name, a.cfg.Now()) {
		return // no other node reads the stream (interest.go)
	}
	data := encodeLive(&liveMsg{origin: a.origin, stream: st.name, f: *f, prev: prev, cluster: cluster})
	if len(data) > a.cfg.Bus.MaxPayload() {
		return // readers elsewhere get it from the index
	}
	if err := a.cfg.Bus.Publish(context.Background(), liveSubject(st.name), data); err != nil {
		a.log.Debug("objarchive: publish live fragment", "stream", st.name, "err", err)
	}
}

// follow makes sure this node hears the fragments other nodes receive for
// stream, for a minute after the last call.
func (a *Archive) follow(st *stream) {
	if a.cfg.Bus == nil {
		return
	}
	st.mu.Lock()
	st.lastRead = a.cfg.Now()
	subscribed := st.sub != nil
	st.mu.Unlock()
	if subscribed {
		return
	}
	sub, err := a.cfg.Bus.Subscribe(context.Background(), liveSubject(st.name), func(m *bus.Msg) { a.receive(st, m.Data) },
		bus.SubscribeOptions{PendingMsgs: 64, PendingBytes: 64 << 20})
	if err != nil {
		a.log.Warn("objarchive: follow live fragments", "stream", st.name, "err", err)
		return
	}
	st.mu.Lock()
	if st.sub != nil || st.gone {
		st.mu.Unlock()
		_ = sub.Unsubscribe() // another reader was first, or the stream went
		return
	}
	st.sub = sub
	st.mu.Unlock()
	a.announce(kindWant, []string{st.name})
}

// receive puts another node's fragment into this node's live buffer.
func (a *Archive) receive(st *stream, data []byte) {
	m, err := decodeLive(data, &a.headers)
	if err != nil || m.origin == a.origin || m.stream != st.name {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone {
		return
	}
	for _, l := range st.ring {
		if l.f.Number == m.f.Number {
			return
		}
	}
	f := m.f
	st.add(&live{f: &f, cluster: m.cluster, remote: true, prev: m.prev, at: a.cfg.Now()})
	st.trim(a.cfg)
	st.wake()
}

// unfollowIdle ends the subscriptions of streams no reader waited on for
// followIdle, and drops what they brought.
func (a *Archive) unfollowIdle() {
	now := a.cfg.Now()
	var left []string
	for _, st := range a.streamList() {
		st.mu.Lock()
		var sub bus.Subscription
		if st.sub != nil && now.Sub(st.lastRead) > followIdle {
			sub, st.sub = st.sub, nil
			kept := st.ring[:0]
			for _, l := range st.ring {
				if !l.remote {
					kept = append(kept, l)
				}
			}
			clear(st.ring[len(kept):])
			st.ring = kept
		}
		st.mu.Unlock()
		if sub != nil {
			_ = sub.Unsubscribe()
			left = append(left, st.name)
		}
	}
	if len(left) > 0 {
		a.announce(kindWithdraw, left)
	}
}

// unfollow ends the stream's subscription (Close, DeleteStream) and tells
// the publishers.
func (a *Archive) unfollow(st *stream) {
	st.mu.Lock()
	sub := st.sub
	st.sub = nil
	st.mu.Unlock()
	if sub != nil {
		_ = sub.Unsubscribe()
		a.announce(kindWithdraw, []string{st.name})
	}
}

// followLoop ends idle subscriptions and announces the others, every
// interestEvery.
func (a *Archive) followLoop() {
	t := time.NewTicker(interestEvery)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.unfollowIdle()
			a.announceFollowed()
			a.interest.prune(a.cfg.Now())
		}
	}
}
