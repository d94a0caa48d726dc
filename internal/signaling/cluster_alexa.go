package signaling

import (
	"encoding/binary"
	"net/http"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// SendAlexaOfferToMaster on a node that does not own the channel: the
// call waits here, the owner keeps a stub of it among the channel's
// waiters (rate limit and one call per sender, cluster-wide) and forwards
// the master's answer to this node.

// Operations on a node's subject for SendAlexaOfferToMaster.
const (
	opAlexa       = 16 + iota // request: register a waiting call and deliver its offer
	opAlexaCancel             // the call ended without an answer
	opAlexaAnswer             // owner → node: the master's answer
)

// sendAlexaOffer serves SendAlexaOfferToMaster for a channel another node
// owns.
func (c *cluster) sendAlexaOffer(w http.ResponseWriter, r *http.Request, ch *catalog.Channel, sender, payload string) {
	s := c.svc
	owner := c.owner(ch.ARN)
	waiter := &alexaWaiter{answer: make(chan string, 1), gone: make(chan struct{}), channel: ch.ARN, id: c.nextID.Add(1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.ClientLimitExceeded, "The signaling service is shutting down; try again."))
		return
	}
	c.alexa[waiter.id] = waiter
	s.mu.Unlock()
	remove := func() {
		s.mu.Lock()
		delete(c.alexa, waiter.id)
		s.mu.Unlock()
	}
	defer remove()

	ttl := time.Duration(ch.MessageTTLSeconds) * time.Second
	req := append(make([]byte, 0, 64+len(ch.ARN)+len(payload)), opAlexa)
	req = appendStr(req, ch.ARN)
	req = binary.AppendUvarint(req, uint64(ttl))
	req = appendStr(req, sender)
	req = appendStr(req, payload)
	req = appendStr(req, c.self)
	req = binary.AppendUvarint(req, waiter.id)
	if err := c.request(owner, ch.ARN, req); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	s.awaitAlexaAnswer(w, r, waiter, func() {
		m := append([]byte{opAlexaCancel}, appendStr(nil, ch.ARN)...)
		m = appendStr(m, sender)
		m = appendStr(m, c.self)
		c.publish(nodeSubject(owner, ch.ARN), binary.AppendUvarint(m, waiter.id))
	})
}

// handleAlexa registers a remote SendAlexaOfferToMaster call at this
// owner and delivers its offer to the master; the error refuses the call.
func (c *cluster) handleAlexa(rd *reader) error {
	s := c.svc
	arn, ttl, sender, payload := rd.str(), time.Duration(rd.uvarint()), rd.str(), rd.str()
	stub := &alexaWaiter{gone: make(chan struct{}), node: rd.str(), id: rd.uvarint(), channel: arn}
	if rd.bad {
		return awsapi.Errorf(awsapi.InvalidArgument, "bad SendAlexaOfferToMaster request")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return awsapi.Errorf(awsapi.ClientLimitExceeded, "The signaling service is shutting down; try again.")
	}
	cs := s.channelLocked(arn, ttl)
	if !cs.alexaLimit.allow(s.now()) {
		s.mu.Unlock()
		return awsapi.Errorf(awsapi.ClientLimitExceeded, "Too many SendAlexaOfferToMaster calls on this channel; slow down.")
	}
	if cs.alexa[sender] != nil {
		s.mu.Unlock()
		return awsapi.Errorf(awsapi.ClientLimitExceeded, "An offer from %s is already waiting for the master's answer.", sender)
	}
	cs.alexa[sender] = stub
	s.mu.Unlock()
	frame := (&ServerMessage{SenderClientID: sender, MessageType: ActionSDPOffer, MessagePayload: payload}).encode()
	e := &envelope{channel: arn, ttl: ttl, toMaster: true, sender: sender, action: ActionSDPOffer, payload: payload, frame: frame}
	if merr := s.deliver(e); merr != nil {
		c.dropAlexaStub(arn, sender, stub.node, stub.id)
		return &awsapi.Error{Code: merr.Code, Message: merr.Description}
	}
	return nil
}

// dropAlexaStub removes the stub of a remote call.
func (c *cluster) dropAlexaStub(arn, sender, node string, id uint64) {
	s := c.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.channels[arn]
	if cs == nil {
		return
	}
	if w := cs.alexa[sender]; w != nil && w.node == node && w.id == id {
		delete(cs.alexa, sender)
		if cs.empty() {
			delete(s.channels, arn)
		}
	}
}

// alexaAnswer forwards the master's answer to the node where the call
// waits. Service.mu may be held.
func (c *cluster) alexaAnswer(w *alexaWaiter, payload string) {
	m := binary.AppendUvarint([]byte{opAlexaAnswer}, w.id)
	c.publish(nodeSubject(w.node, w.channel), appendStr(m, payload))
}

// handleAlexaAnswer hands an answer to the call waiting here.
func (c *cluster) handleAlexaAnswer(rd *reader) {
	id, payload := rd.uvarint(), rd.str()
	if rd.bad {
		return
	}
	c.svc.mu.Lock()
	w := c.alexa[id]
	delete(c.alexa, id)
	c.svc.mu.Unlock()
	if w != nil {
		select {
		case w.answer <- payload:
		default:
		}
	}
}

// endAlexaLocked fails the calls waiting here for channel arn (every
// channel when arn is empty). Service.mu must be held.
func (c *cluster) endAlexaLocked(arn string) {
	for id, w := range c.alexa {
		if arn == "" || w.channel == arn {
			close(w.gone)
			delete(c.alexa, id)
		}
	}
}
