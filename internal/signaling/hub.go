package signaling

import (
	"time"

	"github.com/coder/websocket"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// channelState is what the Service knows about one channel: who is
// connected, what waits for whom. Every field is guarded by Service.mu.
type channelState struct {
	arn     string
	ttl     time.Duration
	master  *session
	viewers map[string]*session
	// queue holds messages for recipients not connected, by recipient:
	// masterKey for the master, else the viewer's client id.
	queue map[string][]queued
	// alexa holds the SendAlexaOfferToMaster calls waiting for the
	// master's answer, by their SenderClientId.
	alexa      map[string]*alexaWaiter
	alexaLimit bucket
}

// masterKey is the queue key of the master (client ids are never empty).
const masterKey = ""

// queued is a message kept for a recipient that is not connected.
type queued struct {
	sender  string // viewer id, or masterKey
	action  string
	frame   []byte
	expires time.Time
}

// sessions returns the channel's connections.
func (c *channelState) sessions() []*session {
	out := make([]*session, 0, len(c.viewers)+1)
	if c.master != nil {
		out = append(out, c.master)
	}
	for _, v := range c.viewers {
		out = append(out, v)
	}
	return out
}

func (c *channelState) empty() bool {
	return c.master == nil && len(c.viewers) == 0 && len(c.queue) == 0 && len(c.alexa) == 0
}

// envelope is one message on its way to its recipient.
type envelope struct {
	channel string
	// ttl is the channel's MessageTtlSeconds, for queueing.
	ttl time.Duration
	// toMaster: from a viewer (or SendAlexaOfferToMaster) to the master.
	toMaster bool
	// recipient is the viewer the master addresses; on messages to the
	// master it is the recipientClientId the viewer sent (usually empty
	// or the master's own id), checked so that viewers cannot reach
	// each other.
	recipient string
	// sender is the sending viewer's id, masterKey for the master.
	sender  string
	action  string
	payload string
	// frame is the ServerMessage as the recipient receives it.
	frame []byte
	// from is the sending connection and correlation the correlationId
	// it sent: a refusal by a remote owner comes back to it as a
	// STATUS_RESPONSE. from is nil for SendAlexaOfferToMaster.
	from        *session
	correlation string
}

// delivery hands messages to their recipient's connection. The Service
// itself is the single-node implementation: recipients are looked up in
// memory and messages for absent ones are queued here. With a bus, the
// cluster sends each message to its channel's owner node (cluster.go).
type delivery interface {
	deliver(e *envelope) *MessageError
}

// channelLocked returns the state of channel arn, creating it. s.mu must be
// held.
func (s *Service) channelLocked(arn string, ttl time.Duration) *channelState {
	cs := s.channels[arn]
	if cs == nil {
		cs = &channelState{
			arn:        arn,
			viewers:    make(map[string]*session),
			queue:      make(map[string][]queued),
			alexa:      make(map[string]*alexaWaiter),
			alexaLimit: newBucket(s.cfg.AlexaRate, s.now()),
		}
		s.channels[arn] = cs
	}
	if ttl > 0 {
		cs.ttl = ttl
	}
	return cs
}

// deliver implements delivery for this node.
func (s *Service) deliver(e *envelope) *MessageError {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return msgErr(awsapi.InternalFailure, "The signaling service is shutting down.")
	}
	cs := s.channelLocked(e.channel, e.ttl)
	var target *session
	key := masterKey
	if e.toMaster {
		if e.recipient != "" && e.recipient != e.sender && cs.viewers[e.recipient] != nil {
			return msgErr(awsapi.InvalidArgument, "A viewer can send messages only to the master, not to viewer "+truncate(e.recipient, 256)+".")
		}
		target = cs.master
	} else {
		if w := cs.alexa[e.recipient]; w != nil {
			// SendAlexaOfferToMaster wants the answer alone (no trickle
			// ICE): candidates for it are dropped.
			if e.action == ActionSDPAnswer {
				if w.node != "" {
					s.cluster.alexaAnswer(w, e.payload)
				} else {
					w.answer <- e.payload // buffered, written once
				}
				delete(cs.alexa, e.recipient)
			}
			return nil
		}
		target = cs.viewers[e.recipient]
		key = e.recipient
	}
	if target != nil {
		target.send(e.frame)
		return nil
	}
	s.enqueueLocked(cs, key, e, now)
	return nil
}

// enqueueLocked keeps e for recipient key until the channel's TTL passes.
// A newer SDP offer or answer from the same sender takes the place of one
// not yet delivered (so it still comes before the candidates that
// followed it).
func (s *Service) enqueueLocked(cs *channelState, key string, e *envelope, now time.Time) {
	ttl := cs.ttl
	if ttl <= 0 {
		ttl = DefaultMessageTTL
	}
	m := queued{sender: e.sender, action: e.action, frame: e.frame, expires: now.Add(ttl)}
	q := cs.queue[key]
	kept := q[:0]
	replaced := false
	for _, old := range q {
		if !now.Before(old.expires) {
			continue
		}
		if isSDP(e.action) && isSDP(old.action) && old.sender == e.sender {
			if !replaced {
				kept = append(kept, m)
				replaced = true
			}
			continue
		}
		kept = append(kept, old)
	}
	if !replaced {
		kept = append(kept, m)
	}
	if n := len(kept) - s.cfg.MaxQueued; n > 0 {
		kept = append(kept[:0], kept[n:]...)
	}
	cs.queue[key] = kept
}

func isSDP(action string) bool { return action == ActionSDPOffer || action == ActionSDPAnswer }

// admitLocked checks that a new connection may join cs. s.mu must be held.
func (s *Service) admitLocked(cs *channelState, viewerID string, master bool) *awsapi.Error {
	if s.closed {
		return awsapi.Errorf(awsapi.ClientLimitExceeded, "The signaling service is shutting down; try again.")
	}
	if master || cs == nil || s.cfg.MaxViewers < 0 || cs.viewers[viewerID] != nil {
		return nil
	}
	if len(cs.viewers) >= s.cfg.MaxViewers {
		return awsapi.Errorf(awsapi.ClientLimitExceeded, "The channel already has %d viewers connected, the maximum.", s.cfg.MaxViewers)
	}
	return nil
}

// register makes ss the channel's master or the viewer with its id
// ("most recent wins": a connection it replaces is closed) and hands it
// the messages queued for it.
//
// It runs before the WebSocket upgrade; attach gives ss its connection.
func (s *Service) register(ss *session, ttl time.Duration) error {
	if s.cluster != nil {
		return s.cluster.register(ss, ttl)
	}
	return s.registerLocal(ss, ttl)
}

// registerLocal is register at the channel's owner, this node. ss may be a
// stub of a session on another node.
func (s *Service) registerLocal(ss *session, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.allowConnectLocked(ss.channel, ss.master, now); err != nil {
		return err
	}
	cs := s.channelLocked(ss.channel, ttl)
	if err := s.admitLocked(cs, ss.clientID, ss.master); err != nil {
		if len(cs.sessions()) == 0 && cs.empty() {
			delete(s.channels, ss.channel)
		}
		return err
	}
	if ss.cl == nil || ss.cl.node == "" {
		s.sessions.Add(1) // under mu and not closed: never concurrent with Close's Wait
	}
	var old *session
	key := masterKey
	if ss.master {
		old, cs.master = cs.master, ss
	} else {
		key = ss.clientID
		old, cs.viewers[ss.clientID] = cs.viewers[ss.clientID], ss
	}
	if old != nil && !sameSession(old, ss) { // ss itself when it presented itself meanwhile
		old.shutdown(closeReplaced)
	}
	for _, m := range cs.queue[key] {
		if now.Before(m.expires) {
			ss.send(m.frame)
		}
	}
	delete(cs.queue, key)
	return nil
}

// attach gives a registered session its WebSocket.
// Frames queued since register (and a close requested meanwhile) are
// written from then on.
func (s *Service) attach(ss *session, conn *websocket.Conn) {
	s.mu.Lock()
	ss.wmu.Lock()
	ss.conn = conn
	if len(ss.wq) > 0 || ss.closing {
		ss.startWriterLocked()
	}
	ss.wmu.Unlock()
	s.mu.Unlock()
}

// unregister removes ss from its channel unless a newer connection took
// its place.
func (s *Service) unregister(ss *session) {
	if s.cluster != nil {
		s.cluster.unregister(ss)
		return
	}
	s.unregisterLocal(ss)
}

// unregisterLocal is unregister at the channel's owner, this node.
func (s *Service) unregisterLocal(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.channels[ss.channel]
	if cs == nil {
		return
	}
	s.dropLocked(cs, ss)
	if cs.empty() {
		delete(s.channels, ss.channel)
	}
}

func (s *Service) sweepLoop() {
	defer close(s.sweepDone)
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep runs the timers of every connection by the Service's clock: idle
// timeout, GO_AWAY GoAwayGrace before the maximum duration and the close at
// it, keep-alive pings; and drops expired queued messages and idle
// connection rate limits.
func (s *Service) sweep() {
	now := s.now()
	var t sweepTimers
	s.mu.Lock()
	for arn, cs := range s.channels {
		for key, q := range cs.queue {
			kept := q[:0]
			for _, m := range q {
				if now.Before(m.expires) {
					kept = append(kept, m)
				}
			}
			if len(kept) == 0 {
				delete(cs.queue, key)
			} else {
				cs.queue[key] = kept
			}
		}
		if s.cluster == nil {
			for _, ss := range cs.sessions() {
				s.sweepSessionLocked(ss, now, &t)
			}
		}
		if cs.empty() {
			delete(s.channels, arn)
		}
	}
	if s.cluster != nil {
		// This node's sessions, whichever node owns their channel (the
		// stubs of other nodes' sessions have their own node's timers).
		for _, ss := range s.cluster.local {
			s.sweepSessionLocked(ss, now, &t)
		}
	}
	s.sweepConnectsLocked(now)
	s.mu.Unlock()
	if s.cluster != nil {
		s.cluster.heartbeat(now)
	}
	for _, ss := range t.closeIdle {
		ss.logger().Info("signaling connection idle: closing")
		ss.shutdown(closeIdleTimeout)
	}
	for _, ss := range t.goAway {
		ss.logger().Info("signaling connection reached its maximum duration: GO_AWAY")
		ss.send(goAwayFrame)
	}
	for _, ss := range t.closeOld {
		ss.shutdown(closeMaxDuration)
	}
	for _, ss := range t.ping {
		go ss.ping()
	}
}

// sweepTimers collects what sweep does once Service.mu is released.
type sweepTimers struct {
	closeIdle, goAway, closeOld, ping []*session
}

// sweepSessionLocked checks one session's timers. s.mu must be held.
func (s *Service) sweepSessionLocked(ss *session, now time.Time, t *sweepTimers) {
	switch {
	case s.cfg.IdleTimeout > 0 && now.Sub(ss.lastActive()) >= s.cfg.IdleTimeout:
		t.closeIdle = append(t.closeIdle, ss)
		return
	case !ss.goAwayAt.IsZero():
		if now.Sub(ss.connectedAt) >= s.cfg.MaxConnectionDuration {
			t.closeOld = append(t.closeOld, ss)
			return
		}
	case s.cfg.MaxConnectionDuration > 0 && now.Sub(ss.connectedAt) >= s.cfg.MaxConnectionDuration-s.cfg.GoAwayGrace:
		ss.goAwayAt = now
		t.goAway = append(t.goAway, ss)
	}
	if ss.conn != nil && s.cfg.PingInterval > 0 && !ss.pinging && now.Sub(ss.lastPing) >= s.cfg.PingInterval {
		ss.pinging, ss.lastPing = true, now
		t.ping = append(t.ping, ss)
	}
}
