package signaling

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/bus"
)

// Cross-node signaling (Config.Bus set).
//
// Every channel has one owner node, chosen by rendezvous hashing of the
// channel ARN over the nodes alive on the bus. Each node announces itself
// on nodesSubject when it starts, every HeartbeatInterval and when it
// stops; a node not heard of for PeerTimeout is gone, and so is one whose
// subjects have lost their subscribers (the bus answers a request to it
// with "no responders" at once, and the node that found out tells the
// others).
//
// The owner keeps the channel's whole state exactly as a single node
// keeps it: who the master and the viewers are and on which node, the TTL
// queue of messages for absent recipients, the connection rate limits and
// the viewer count. A connection to another node registers with the owner
// by a bus request, so refusals are still HTTP errors before the
// WebSocket upgrade. Each client message is published to the owner (one
// connection's messages stay in order), which routes, queues or refuses
// it; a refusal returns as a STATUS_RESPONSE. The owner forwards frames
// and close requests to the recipient's node. A session of another node
// is a stub session at the owner whose send and shutdown publish to that
// node. So a master on node A and a viewer on node B talk as on one node,
// the newest master wins because registrations are serialized at the
// owner, and limits hold cluster-wide because one node counts.
//
// When the set of nodes changes, channels move: the old owner drops their
// state and every node presents its connections to the new owner (where
// the newest master wins too, and messages queued meanwhile are handed
// over). Messages queued at the old owner are lost then, as are those of
// a node that dies; its clients reconnect elsewhere. A node that just
// started believes itself alone until the others answer its hello (one
// bus round trip).
//
// Without a bus none of this runs: the Service is its own delivery and
// nothing is serialized.

// Bus subjects of cross-node signaling: the membership announcements,
// and nodeShards subjects per node ("openkvs.signaling.node.ID.N") for
// the messages about the channels that hash to shard N. Each subject has
// its own handler goroutine, so a node handles several channels at once,
// one channel's messages in order.
const (
	nodesSubject      = "openkvs.signaling.nodes"
	nodeSubjectPrefix = "openkvs.signaling.node."
	nodeShards        = 8
)

// nodeSubject is the subject of node for messages about channel arn.
func nodeSubject(node, arn string) string {
	return nodeSubjectPrefix + node + "." + strconv.Itoa(bus.Shard(arn, nodeShards))
}

// Defaults of the cluster settings.
const (
	DefaultHeartbeatInterval = time.Second
	DefaultPeerTimeout       = 5 * time.Second
	DefaultBusTimeout        = 5 * time.Second
)

// Operations on the nodes subject.
const (
	nodeHello   = 1 + iota // a node started: everyone answers nodeAlive
	nodeAlive              // heartbeat
	nodeBye                // a node stops
	nodeDeleted            // a channel was deleted: end its connections
	nodeGone               // a node was found dead: forget it
)

// Operations on a node's subject.
const (
	opRegister   = 1 + iota // request: connect a session at the owner
	opDeliver               // request: route a client message at the owner
	opUnregister            // a session ended
	opPresent               // an existing session, after channels moved
	opFrame                 // owner → node: a frame for a local session
	opClose                 // owner → node: close a local session
)

// closeReasons are the close reasons the owner can ask for, by index.
var closeReasons = []closeReason{closeReplaced, closeShutdown, closeChannelDeleted, closeIdleTimeout, closeSlowClient}

// sessionCluster is the cluster part of a session: nil on a single node.
type sessionCluster struct {
	// id identifies the session on its node.
	id uint64
	// node is the node of a stub: the session lives there. Empty for a
	// session of this node.
	node string
	// ttl is the channel's message TTL, for presenting it to a new
	// owner.
	ttl time.Duration
	// owner is the node the session registered with; guarded by
	// Service.mu.
	owner string
}

// cluster is the cross-node part of a Service.
type cluster struct {
	svc  *Service
	bus  bus.Bus
	self string
	subs []bus.Subscription

	nextID atomic.Uint64
	// nodes is the sorted list of live nodes, this one included; replaced
	// whole on change.
	nodes atomic.Pointer[[]string]

	mu       sync.Mutex
	lastSeen map[string]time.Time // other nodes; guarded by mu
	lastBeat time.Time            // guarded by mu
	// changed is pulsed after every membership change (for tests).
	changed chan struct{}

	// local holds this node's sessions by id; guarded by Service.mu.
	local map[uint64]*session
	// alexa holds the SendAlexaOfferToMaster calls waiting on this node
	// for a channel another node owns, by id; guarded by Service.mu.
	alexa map[uint64]*alexaWaiter
}

func newNodeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startCluster joins the nodes on cfg.Bus.
func (s *Service) startCluster() error {
	id := s.cfg.NodeID
	if id == "" {
		id = newNodeID()
	}
	id = bus.Token(id)
	c := &cluster{
		svc: s, bus: s.cfg.Bus, self: id,
		lastSeen: make(map[string]time.Time),
		changed:  make(chan struct{}, 1),
		local:    make(map[uint64]*session),
		alexa:    make(map[uint64]*alexaWaiter),
	}
	c.nodes.Store(&[]string{id})
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.BusTimeout)
	defer cancel()
	handlers := map[string]bus.Handler{nodesSubject: c.handleNodes}
	for i := range nodeShards {
		handlers[nodeSubjectPrefix+id+"."+strconv.Itoa(i)] = c.handleNode
	}
	for subject, h := range handlers {
		sub, err := c.bus.Subscribe(ctx, subject, h, bus.SubscribeOptions{})
		if err != nil {
			c.unsubscribe()
			return fmt.Errorf("signaling: subscribe %s: %w", subject, err)
		}
		c.subs = append(c.subs, sub)
	}
	s.cluster = c
	s.delivery = c
	c.announce(nodeHello)
	s.log.Info("signaling joined the cluster bus", "node", id)
	return nil
}

func (c *cluster) unsubscribe() {
	for _, sub := range c.subs {
		_ = sub.Unsubscribe()
	}
}

// stop tells the other nodes that this one is going and leaves the bus.
func (c *cluster) stop() {
	c.announce(nodeBye)
	c.unsubscribe()
}

func (c *cluster) announce(op byte, extra ...string) {
	w := append(make([]byte, 0, 64), op)
	w = appendStr(w, c.self)
	for _, e := range extra {
		w = appendStr(w, e)
	}
	c.publish(nodesSubject, w)
}

// publish sends data without waiting (a Bus never blocks a publisher on
// its subscribers, so no deadline is needed).
func (c *cluster) publish(subject string, data []byte) {
	if err := c.bus.Publish(context.Background(), subject, data); err != nil && !errors.Is(err, bus.ErrClosed) {
		c.svc.log.Warn("signaling: bus publish failed", "subject", subject, "err", err)
	}
}

// owner returns the node that owns channel arn: the live node with the
// highest hash of (node, arn).
func (c *cluster) owner(arn string) string {
	nodes := *c.nodes.Load()
	if len(nodes) == 1 {
		return nodes[0]
	}
	best, bestScore := "", uint64(0)
	for _, n := range nodes {
		h := fnv.New64a()
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(arn))
		if sc := h.Sum64(); best == "" || sc > bestScore {
			best, bestScore = n, sc
		}
	}
	return best
}

// handleNodes handles the membership announcements.
func (c *cluster) handleNodes(m *bus.Msg) {
	r := reader{b: m.Data}
	op := r.byte()
	node := r.str()
	if r.bad || node == c.self {
		return
	}
	switch op {
	case nodeHello, nodeAlive:
		c.see(node)
		if op == nodeHello {
			c.announce(nodeAlive) // a new node (or a restarted one) learns of this one
		}
	case nodeBye:
		c.forget(node, false)
	case nodeGone:
		switch gone := r.str(); {
		case r.bad:
		case gone == c.self:
			c.announce(nodeHello) // a mistake: this node is alive
		default:
			c.forget(gone, false)
		}
	case nodeDeleted:
		if arn := r.str(); !r.bad {
			c.svc.channelDeletedLocal(arn)
		}
	}
}

// errOwnerGone: the node a request went to no longer takes requests.
var errOwnerGone = awsapi.Errorf(awsapi.InternalFailure, "The signaling channel's node is gone; try again.")

// forget drops a node that said goodbye or stopped taking requests (it
// died: the others are told at once rather than after PeerTimeout); its
// channels move.
func (c *cluster) forget(node string, died bool) {
	c.mu.Lock()
	_, known := c.lastSeen[node]
	delete(c.lastSeen, node)
	c.mu.Unlock()
	if !known {
		return
	}
	if died {
		c.svc.log.Warn("signaling node takes no requests: its channels move", "node", node)
		c.announce(nodeGone, node)
	}
	c.membershipChanged()
}

// see records that node is alive.
func (c *cluster) see(node string) {
	c.mu.Lock()
	_, known := c.lastSeen[node]
	c.lastSeen[node] = c.svc.now()
	c.mu.Unlock()
	if !known {
		c.membershipChanged()
	}
}

// heartbeat announces this node every HeartbeatInterval and forgets the
// nodes not heard of for PeerTimeout. The sweeper calls it.
func (c *cluster) heartbeat(now time.Time) {
	c.mu.Lock()
	beat := now.Sub(c.lastBeat) >= c.svc.cfg.HeartbeatInterval
	if beat {
		c.lastBeat = now
	}
	gone := false
	for n, t := range c.lastSeen {
		if now.Sub(t) >= c.svc.cfg.PeerTimeout {
			delete(c.lastSeen, n)
			gone = true
			c.svc.log.Warn("signaling node silent: its channels move", "node", n)
		}
	}
	c.mu.Unlock()
	if beat {
		c.announce(nodeAlive)
	}
	if gone {
		c.membershipChanged()
	}
}

// membershipChanged recomputes the node list and moves channels.
func (c *cluster) membershipChanged() {
	c.mu.Lock()
	nodes := []string{c.self}
	for n := range c.lastSeen {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	c.nodes.Store(&nodes)
	c.mu.Unlock()
	c.rehome()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// rehome drops the state of channels this node no longer owns (and the
// stubs of nodes that are gone) and presents this node's sessions to
// their channel's owner where it changed.
func (c *cluster) rehome() {
	s := c.svc
	alive := make(map[string]bool)
	for _, n := range *c.nodes.Load() {
		alive[n] = true
	}
	type move struct {
		ss    *session
		owner string
	}
	var moves []move
	s.mu.Lock()
	for arn, cs := range s.channels {
		if c.owner(arn) != c.self {
			for _, w := range cs.alexa {
				close(w.gone)
			}
			delete(s.channels, arn)
			delete(s.connects, arn)
			continue
		}
		for _, ss := range cs.sessions() {
			if ss.cl.node != "" && !alive[ss.cl.node] {
				s.dropLocked(cs, ss)
			}
		}
		if cs.empty() {
			delete(s.channels, arn)
		}
	}
	for _, ss := range c.local {
		if o := c.owner(ss.channel); o != ss.cl.owner {
			ss.cl.owner = o
			moves = append(moves, move{ss, o})
		}
	}
	s.mu.Unlock()
	for _, m := range moves {
		if m.owner == c.self {
			s.present(m.ss)
		} else {
			c.publish(nodeSubject(m.owner, m.ss.channel), c.encodeSession(opPresent, m.ss))
		}
	}
}

// register registers a local session with its channel's owner. When the
// owner turns out to be gone (nothing takes its requests any more), it is
// forgotten and the session registers with the next owner.
func (c *cluster) register(ss *session, ttl time.Duration) error {
	s := c.svc
	ss.cl = &sessionCluster{id: c.nextID.Add(1), ttl: ttl}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return awsapi.Errorf(awsapi.ClientLimitExceeded, "The signaling service is shutting down; try again.")
	}
	c.local[ss.cl.id] = ss
	s.mu.Unlock()
	err := c.registerAtOwner(ss, ttl)
	if errors.Is(err, errOwnerGone) {
		err = c.registerAtOwner(ss, ttl)
	}
	if err != nil {
		s.mu.Lock()
		delete(c.local, ss.cl.id)
		s.mu.Unlock()
	}
	return err
}

func (c *cluster) registerAtOwner(ss *session, ttl time.Duration) error {
	s := c.svc
	s.mu.Lock()
	owner := c.owner(ss.channel)
	ss.cl.owner = owner
	s.mu.Unlock()
	if owner == c.self {
		return s.registerLocal(ss, ttl)
	}
	if err := c.request(owner, ss.channel, c.encodeSession(opRegister, ss)); err != nil {
		return err
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.sessions.Add(1) // as registerLocal does
	}
	s.mu.Unlock()
	if closed {
		c.publish(nodeSubject(owner, ss.channel), c.encodeSession(opUnregister, ss))
		return awsapi.Errorf(awsapi.ClientLimitExceeded, "The signaling service is shutting down; try again.")
	}
	return nil
}

// unregister removes a local session that ended, here and at its owner.
func (c *cluster) unregister(ss *session) {
	s := c.svc
	s.mu.Lock()
	delete(c.local, ss.cl.id)
	owner := c.owner(ss.channel)
	s.mu.Unlock()
	if owner == c.self {
		s.unregisterLocal(ss)
		return
	}
	c.publish(nodeSubject(owner, ss.channel), c.encodeSession(opUnregister, ss))
}

// deliver implements delivery: at the owner, in process or over the bus.
// A client's message is published without waiting for the owner (one
// connection's messages stay in order: one publisher, one subject); a
// refusal comes back as a STATUS_RESPONSE frame when the client sent a
// correlationId. SendAlexaOfferToMaster's offer (no connection) is a
// request, answered before the call goes on.
func (c *cluster) deliver(e *envelope) *MessageError {
	owner := c.owner(e.channel)
	if owner == c.self {
		return c.svc.deliver(e)
	}
	w := append(make([]byte, 0, 96+len(e.channel)+len(e.payload)+len(e.correlation)), opDeliver)
	w = appendStr(w, e.channel)
	w = binary.AppendUvarint(w, uint64(e.ttl))
	w = appendBool(w, e.toMaster)
	w = appendStr(w, e.recipient)
	w = appendStr(w, e.sender)
	w = appendStr(w, e.action)
	w = appendStr(w, e.payload)
	if e.from != nil {
		w = appendStr(w, c.self)
		w = binary.AppendUvarint(w, e.from.cl.id)
		w = appendStr(w, e.correlation)
		c.publish(nodeSubject(owner, e.channel), w)
		return nil
	}
	if err := c.request(owner, e.channel, w); err != nil {
		var ae *awsapi.Error
		if errors.As(err, &ae) {
			return msgErr(ae.Code, ae.Message)
		}
		return msgErr(awsapi.InternalFailure, "The signaling channel's node did not answer; try again.")
	}
	return nil
}

// request sends a request about channel arn to node and returns the
// refusal it answers with as an *awsapi.Error, or the bus error;
// errOwnerGone when nothing takes node's requests any more (it is then
// forgotten: its channels move).
func (c *cluster) request(node, arn string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.svc.cfg.BusTimeout)
	defer cancel()
	ans, err := c.bus.Request(ctx, nodeSubject(node, arn), data)
	if errors.Is(err, bus.ErrNoResponders) {
		c.forget(node, true)
		return errOwnerGone
	}
	if err != nil {
		c.svc.log.Warn("signaling: request to the channel's owner failed", "node", node, "err", err)
		return awsapi.Errorf(awsapi.InternalFailure, "The signaling channel's node did not answer; try again.")
	}
	r := reader{b: ans}
	if r.byte() == 0 && !r.bad {
		return nil
	}
	code, text := r.str(), r.str()
	if r.bad {
		return fmt.Errorf("signaling: bad answer from node %s", node)
	}
	return &awsapi.Error{Code: awsapi.Code(code), Message: text}
}

// encodeSession encodes op about ss: channel, client id, role, the
// channel's TTL, node, id and connection time.
func (c *cluster) encodeSession(op byte, ss *session) []byte {
	w := append(make([]byte, 0, 128), op)
	w = appendStr(w, ss.channel)
	w = appendStr(w, ss.clientID)
	w = appendBool(w, ss.master)
	w = binary.AppendUvarint(w, uint64(ss.cl.ttl))
	w = appendStr(w, c.self)
	w = binary.AppendUvarint(w, ss.cl.id)
	return binary.AppendVarint(w, ss.connectedAt.UnixNano())
}

// decodeStub decodes encodeSession's message into a stub session.
func (c *cluster) decodeStub(r *reader) *session {
	ss := &session{svc: c.svc, channel: r.str(), clientID: r.str(), master: r.bool(), done: make(chan struct{})}
	ss.cl = &sessionCluster{ttl: time.Duration(r.uvarint())}
	ss.cl.node = r.str()
	ss.cl.id = r.uvarint()
	ss.connectedAt = time.Unix(0, r.varint())
	return ss
}

// handleNode handles the messages to this node: requests for the
// channels it owns and frames for its sessions. It never waits for
// another node.
func (c *cluster) handleNode(m *bus.Msg) {
	s := c.svc
	r := reader{b: m.Data}
	var err error
	switch op := r.byte(); op {
	case opRegister:
		stub := c.decodeStub(&r)
		if r.bad {
			return
		}
		err = s.registerLocal(stub, stub.cl.ttl)
	case opPresent:
		if stub := c.decodeStub(&r); !r.bad {
			s.present(stub)
		}
	case opUnregister:
		if stub := c.decodeStub(&r); !r.bad {
			s.unregisterLocal(stub)
		}
	case opDeliver:
		e := &envelope{channel: r.str(), ttl: time.Duration(r.uvarint()), toMaster: r.bool(),
			recipient: r.str(), sender: r.str(), action: r.str(), payload: r.str()}
		if r.bad {
			return
		}
		var from *session // a stub of the sender, to answer a refusal
		if len(r.rest()) > 0 {
			from = &session{svc: s, cl: &sessionCluster{node: r.str(), id: r.uvarint()}}
			e.correlation = r.str()
			if r.bad {
				return
			}
		}
		out := ServerMessage{MessageType: e.action, MessagePayload: e.payload}
		if e.toMaster {
			out.SenderClientID = e.sender
		}
		e.frame = out.encode()
		merr := s.deliver(e)
		if merr != nil && from != nil && e.correlation != "" {
			from.send(statusFrame(e.correlation, merr))
		}
		if merr != nil {
			err = &awsapi.Error{Code: merr.Code, Message: merr.Description}
		}
	case opAlexa:
		err = c.handleAlexa(&r)
	case opAlexaCancel:
		arn, sender, node, id := r.str(), r.str(), r.str(), r.uvarint()
		if !r.bad {
			c.dropAlexaStub(arn, sender, node, id)
		}
		return
	case opAlexaAnswer:
		c.handleAlexaAnswer(&r)
		return
	case opFrame, opClose:
		id := r.uvarint()
		s.mu.Lock()
		ss := c.local[id]
		s.mu.Unlock()
		if ss == nil || r.bad {
			return
		}
		if op == opFrame {
			ss.send(r.rest())
		} else if i := int(r.uvarint()); i < len(closeReasons) {
			ss.shutdown(closeReasons[i])
		}
		return
	default:
		return
	}
	if m.Reply == "" {
		return
	}
	ans := []byte{0}
	if err != nil {
		ans[0] = 1
		var ae *awsapi.Error
		if !errors.As(err, &ae) {
			ae = &awsapi.Error{Code: awsapi.InternalFailure, Message: err.Error()}
		}
		ans = appendStr(appendStr(ans, string(ae.Code)), ae.Message)
	}
	c.publish(m.Reply, ans)
}

// sendRemote forwards a frame to a stub's node.
func (c *cluster) sendRemote(ss *session, frame []byte) {
	w := append(make([]byte, 0, 16+len(frame)), opFrame)
	w = binary.AppendUvarint(w, ss.cl.id)
	c.publish(nodeSubject(ss.cl.node, ss.channel), append(w, frame...))
}

// closeRemote asks a stub's node to close the session.
func (c *cluster) closeRemote(ss *session, r closeReason) {
	i := slices.Index(closeReasons, r)
	if i < 0 {
		i = slices.Index(closeReasons, closeShutdown)
	}
	w := binary.AppendUvarint([]byte{opClose}, ss.cl.id)
	c.publish(nodeSubject(ss.cl.node, ss.channel), binary.AppendUvarint(w, uint64(i)))
}

// sameSession reports whether a and b are one session: the same value,
// or stubs of the same remote session.
func sameSession(a, b *session) bool {
	return a == b || (a != nil && b != nil && a.cl != nil && b.cl != nil && a.cl.node != "" &&
		a.cl.node == b.cl.node && a.cl.id == b.cl.id)
}

// present adds an existing session (a stub of a remote one, or a local
// one) to the channel it belongs to at this owner, after channels moved:
// no limit applies, of two masters (or two viewers with one id) the one
// that connected last stays, and what was queued for it meanwhile is
// delivered.
func (s *Service) present(ss *session) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	cs := s.channelLocked(ss.channel, ss.cl.ttl)
	key, old := masterKey, cs.master
	if !ss.master {
		key, old = ss.clientID, cs.viewers[ss.clientID]
	}
	switch {
	case old == nil || sameSession(old, ss):
	case old.connectedAt.After(ss.connectedAt):
		ss.shutdown(closeReplaced)
		return
	default:
		old.shutdown(closeReplaced)
	}
	if ss.master {
		cs.master = ss
	} else {
		cs.viewers[ss.clientID] = ss
	}
	for _, m := range cs.queue[key] {
		if now.Before(m.expires) {
			ss.send(m.frame)
		}
	}
	delete(cs.queue, key)
}

// dropLocked removes ss from cs. s.mu must be held.
func (s *Service) dropLocked(cs *channelState, ss *session) {
	if ss.master {
		if sameSession(cs.master, ss) {
			cs.master = nil
		}
	} else if sameSession(cs.viewers[ss.clientID], ss) {
		delete(cs.viewers, ss.clientID)
	}
}

// Wire helpers: strings are uvarint-length-prefixed.

func appendStr(w []byte, s string) []byte {
	w = binary.AppendUvarint(w, uint64(len(s)))
	return append(w, s...)
}

func appendBool(w []byte, b bool) []byte {
	if b {
		return append(w, 1)
	}
	return append(w, 0)
}

// reader decodes what the append helpers wrote; bad is set on a short or
// malformed input, after which every read returns zero values.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) byte() byte {
	if r.bad || len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bool() bool { return r.byte() == 1 }

func (r *reader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.bad {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// rest returns what is left.
func (r *reader) rest() []byte {
	if r.bad {
		return nil
	}
	return r.b
}
