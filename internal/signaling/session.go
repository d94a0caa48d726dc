package signaling

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// closeReason is the WebSocket close status and reason a connection ends
// with.
type closeReason struct {
	code websocket.StatusCode
	text string
}

var (
	closeShutdown       = closeReason{websocket.StatusGoingAway, "server shutting down"}
	closeChannelDeleted = closeReason{websocket.StatusGoingAway, "signaling channel deleted"}
	closeMaxDuration    = closeReason{websocket.StatusGoingAway, "maximum connection duration reached"}
	closeIdleTimeout    = closeReason{websocket.StatusNormalClosure, "idle timeout"}
	closeReplaced       = closeReason{websocket.StatusNormalClosure, "replaced by a newer connection with the same client id"}
	closeSlowClient     = closeReason{websocket.StatusPolicyViolation, "send queue full"}
	closePingTimeout    = closeReason{websocket.StatusPolicyViolation, "ping timeout"}
	closeClientGone     = closeReason{websocket.StatusNormalClosure, ""}
)

// goAwayFrame tells a client to reconnect.
var goAwayFrame = (&ServerMessage{MessageType: TypeGoAway}).encode()

// session is one master or viewer WebSocket connection.
type session struct {
	svc *Service
	// conn is set once, under Service.mu, right after the upgrade.
	conn        *websocket.Conn
	log         *slog.Logger
	channel     string // ARN
	clientID    string // the viewer's X-Amz-ClientId; "" for the master
	master      bool
	connectedAt time.Time

	// out carries frames to the writer goroutine.
	out chan []byte
	// closing is closed when the connection is to end; reason says how.
	closing   chan struct{}
	closeOnce sync.Once
	reason    closeReason
	// writerDone is closed when the writer goroutine has closed the
	// WebSocket.
	writerDone chan struct{}
	// active is the Service clock's UnixNano of the client's last frame.
	active atomic.Int64

	// Guarded by Service.mu.
	goAwayAt time.Time // when GO_AWAY for the maximum duration was sent
	lastPing time.Time
	pinging  bool

	// Owned by the reader goroutine.
	sdpLimit, iceLimit bucket
}

func (s *Service) newSession(channel, clientID string, master bool) *session {
	now := s.now()
	ss := &session{
		svc:         s,
		channel:     channel,
		clientID:    clientID,
		master:      master,
		connectedAt: now,
		lastPing:    now,
		out:         make(chan []byte, s.cfg.SendQueue),
		closing:     make(chan struct{}),
		writerDone:  make(chan struct{}),
		sdpLimit:    newBucket(s.cfg.SDPRate, now),
		iceLimit:    newBucket(s.cfg.ICERate, now),
	}
	ss.active.Store(now.UnixNano())
	role := "viewer"
	if master {
		role = "master"
	}
	ss.log = s.log.With("channel", channel, "role", role, "client", clientID)
	return ss
}

func (ss *session) lastActive() time.Time { return time.Unix(0, ss.active.Load()) }

func (ss *session) touch() { ss.active.Store(ss.svc.now().UnixNano()) }

// send queues frame for the client without blocking; a client whose queue
// is full is disconnected. It may be called with Service.mu held.
func (ss *session) send(frame []byte) {
	select {
	case ss.out <- frame:
	default:
		ss.log.Warn("signaling client too slow: send queue full, disconnecting")
		ss.shutdown(closeSlowClient)
	}
}

// shutdown asks the writer to flush what is queued and close the
// connection with r. Only the first call counts. It may be called with
// Service.mu held.
func (ss *session) shutdown(r closeReason) {
	ss.closeOnce.Do(func() {
		ss.reason = r
		close(ss.closing)
	})
}

// goAway sends GO_AWAY, then closes with r.
func (ss *session) goAway(r closeReason) {
	ss.send(goAwayFrame)
	ss.shutdown(r)
}

// run serves the connection until it ends: it reads and routes client
// messages while a second goroutine writes.
func (ss *session) run() {
	go ss.writeLoop()
	for {
		typ, data, err := ss.conn.Read(context.Background())
		if err != nil {
			if s := websocket.CloseStatus(err); s == -1 {
				ss.log.Debug("signaling connection read ended", "err", err)
			}
			break
		}
		ss.touch()
		if typ != websocket.MessageText {
			// The SDKs send text frames only; binary ones are read as the
			// same JSON.
			ss.log.Debug("binary frame from signaling client")
		}
		ss.handle(data)
	}
	ss.shutdown(closeClientGone)
	<-ss.writerDone
	ss.svc.unregister(ss)
}

// writeLoop writes queued frames; when the session is shutting down it
// writes what is already queued (GO_AWAY), then closes the WebSocket.
func (ss *session) writeLoop() {
	defer close(ss.writerDone)
	for {
		select {
		case f := <-ss.out:
			if err := ss.write(f); err != nil {
				ss.log.Debug("signaling write failed", "err", err)
				ss.shutdown(closeClientGone)
				ss.conn.CloseNow()
				return
			}
		case <-ss.closing:
			for drained := false; !drained; {
				select {
				case f := <-ss.out:
					if ss.write(f) != nil {
						drained = true
					}
				default:
					drained = true
				}
			}
			if ss.reason.text != "" || ss.reason.code != websocket.StatusNormalClosure {
				ss.log.Debug("closing signaling connection", "reason", ss.reason.text)
			}
			_ = ss.conn.Close(ss.reason.code, ss.reason.text)
			return
		}
	}
}

func (ss *session) write(f []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), ss.svc.cfg.WriteTimeout)
	defer cancel()
	return ss.conn.Write(ctx, websocket.MessageText, f)
}

// ping checks that the client is still there.
func (ss *session) ping() {
	ctx, cancel := context.WithTimeout(context.Background(), ss.svc.cfg.PongTimeout)
	defer cancel()
	err := ss.conn.Ping(ctx)
	ss.svc.mu.Lock()
	ss.pinging = false
	ss.svc.mu.Unlock()
	if err != nil {
		select {
		case <-ss.closing:
		default:
			ss.log.Info("signaling client did not answer ping: closing", "err", err)
			ss.shutdown(closePingTimeout)
		}
	}
}

// handle validates, rate-limits and routes one client message. Failures
// are answered with STATUS_RESPONSE when the client sent a correlationId.
func (ss *session) handle(data []byte) {
	s := ss.svc
	m, err := DecodeMessage(data, s.cfg.MaxMessageBytes)
	if err != nil {
		ss.fail(m.CorrelationID, err.(*MessageError))
		return
	}
	limit, kind := &ss.sdpLimit, "SDP"
	if m.Action == ActionICECandidate {
		limit, kind = &ss.iceLimit, "ICE candidate"
	}
	if !limit.allow(s.now()) {
		ss.fail(m.CorrelationID, msgErr(awsapi.ClientLimitExceeded, "Too many "+kind+" messages on this connection; slow down."))
		return
	}
	e := &envelope{channel: ss.channel, action: m.Action, payload: m.MessagePayload, recipient: m.RecipientClientID}
	out := ServerMessage{MessageType: m.Action, MessagePayload: m.MessagePayload}
	if ss.master {
		if m.RecipientClientID == "" {
			ss.fail(m.CorrelationID, msgErr(awsapi.InvalidArgument, "The master must name the viewer it sends to in recipientClientId."))
			return
		}
		e.sender = masterKey
	} else {
		e.toMaster, e.sender = true, ss.clientID
		out.SenderClientID = ss.clientID
	}
	e.frame = out.encode()
	if err := s.delivery.deliver(e); err != nil {
		ss.fail(m.CorrelationID, err)
	}
}

// fail reports a refused message: a STATUS_RESPONSE if the client gave a
// correlationId, else only the log.
func (ss *session) fail(correlationID string, err *MessageError) {
	ss.log.Debug("signaling message refused", "err", err, "correlation_id", correlationID)
	if correlationID != "" {
		ss.send(statusFrame(correlationID, err))
	}
}
