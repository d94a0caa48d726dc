package signaling

import (
	"bytes"
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

// readBuffers holds the buffers client frames are read into.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest read buffer kept for reuse.
const maxPooledBuffer = 64 << 10

// session is one master or viewer WebSocket connection.
//
// An idle connection costs one goroutine (its reader): frames for the
// client are queued in wq and written by a goroutine that runs only while
// there is something to write (flush).
type session struct {
	svc *Service
	// conn is set once, under Service.mu and wmu, right after the upgrade.
	conn        *websocket.Conn
	channel     string // ARN
	clientID    string // the viewer's X-Amz-ClientId; "" for the master
	master      bool
	connectedAt time.Time

	// wmu guards the write side: the queue, the writer's state and the
	// close request.
	wmu sync.Mutex
	// wq holds frames for the client, oldest first; wqBytes is their
	// size.
	wq      [][]byte
	wqBytes int
	// writing: a flush goroutine is running.
	writing bool
	// closing: the connection is to end with reason once wq is written.
	closing bool
	reason  closeReason
	// done is closed when the WebSocket has been closed.
	done chan struct{}
	// active is the Service clock's UnixNano of the client's last frame.
	active atomic.Int64
	// ended is set once shutdown was requested; the reader stops routing.
	ended atomic.Bool

	// Guarded by Service.mu.
	goAwayAt time.Time // when GO_AWAY for the maximum duration was sent
	lastPing time.Time
	pinging  bool

	// Owned by the reader goroutine.
	sdpLimit, iceLimit bucket

	// cl is set in cluster mode only; on a stub (a session of another
	// node, kept by this channel owner) conn is nil and send and shutdown
	// go over the bus.
	cl *sessionCluster
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
		done:        make(chan struct{}),
		sdpLimit:    newBucket(s.cfg.SDPRate, now),
		iceLimit:    newBucket(s.cfg.ICERate, now),
	}
	ss.active.Store(now.UnixNano())
	return ss
}

// logger is the Service's logger with the session's channel, role and
// client. It is made when needed (rarely: connect, close, errors) rather
// than kept, which would cost every idle connection its formatted
// attributes.
func (ss *session) logger() *slog.Logger {
	role := "viewer"
	if ss.master {
		role = "master"
	}
	return ss.svc.log.With("channel", ss.channel, "role", role, "client", ss.clientID)
}

func (ss *session) lastActive() time.Time { return time.Unix(0, ss.active.Load()) }

func (ss *session) touch() { ss.active.Store(ss.svc.now().UnixNano()) }

// send queues frame for the client without blocking; a client with
// Config.SendQueue frames or SendQueueBytes already waiting is
// disconnected. It may be
// called with Service.mu held.
func (ss *session) send(frame []byte) {
	if ss.cl != nil && ss.cl.node != "" {
		ss.svc.cluster.sendRemote(ss, frame)
		return
	}
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	if ss.closing {
		return
	}
	if len(ss.wq) >= ss.svc.cfg.SendQueue || ss.wqBytes+len(frame) > ss.svc.cfg.SendQueueBytes {
		ss.logger().Warn("signaling client too slow: send queue full, disconnecting")
		ss.requestCloseLocked(closeSlowClient)
		return
	}
	ss.wq = append(ss.wq, frame)
	ss.wqBytes += len(frame)
	ss.startWriterLocked()
}

// shutdown asks for what is queued to be written and the connection closed
// with r. Only the first call counts. It may be called with Service.mu
// held.
func (ss *session) shutdown(r closeReason) {
	if ss.cl != nil && ss.cl.node != "" {
		ss.svc.cluster.closeRemote(ss, r)
		return
	}
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	ss.requestCloseLocked(r)
}

func (ss *session) requestCloseLocked(r closeReason) {
	if ss.closing {
		return
	}
	ss.closing, ss.reason = true, r
	ss.ended.Store(true)
	ss.startWriterLocked()
}

// startWriterLocked starts a flush goroutine unless one runs or the
// WebSocket is not attached yet (attach starts it then). ss.wmu must be
// held.
func (ss *session) startWriterLocked() {
	if ss.writing || ss.conn == nil {
		return
	}
	ss.writing = true
	go ss.flush()
}

// goAway sends GO_AWAY, then closes with r.
func (ss *session) goAway(r closeReason) {
	ss.send(goAwayFrame)
	ss.shutdown(r)
}

// flush writes queued frames until the queue is empty, then exits; once a
// close was requested and everything before it is written (or a write
// failed), it closes the WebSocket.
func (ss *session) flush() {
	for {
		ss.wmu.Lock()
		if len(ss.wq) == 0 {
			if !ss.closing {
				ss.writing = false
				ss.wmu.Unlock()
				return
			}
			r := ss.reason
			ss.wmu.Unlock()
			ss.closeConn(r)
			return
		}
		f := ss.wq[0]
		ss.wq[0] = nil
		ss.wq = ss.wq[1:]
		ss.wqBytes -= len(f)
		if len(ss.wq) == 0 {
			ss.wq = nil // let the backing array go
		}
		ss.wmu.Unlock()
		if err := ss.write(f); err != nil {
			ss.logger().Debug("signaling write failed", "err", err)
			ss.wmu.Lock()
			ss.wq, ss.wqBytes = nil, 0
			ss.closing = true
			ss.ended.Store(true)
			ss.wmu.Unlock()
			ss.conn.CloseNow()
			close(ss.done)
			return
		}
	}
}

func (ss *session) closeConn(r closeReason) {
	if r.text != "" || r.code != websocket.StatusNormalClosure {
		ss.logger().Debug("closing signaling connection", "reason", r.text)
	}
	_ = ss.conn.Close(r.code, r.text)
	close(ss.done)
}

// run serves the connection until it ends: it reads and routes client
// messages; frames for the client are written by flush.
func (ss *session) run() {
	for {
		typ, rd, err := ss.conn.Reader(context.Background())
		var buf *bytes.Buffer
		if err == nil {
			// Frames are read into pooled buffers: nothing of one is kept
			// once it is handled (DecodeMessage copies what it returns).
			buf = readBuffers.Get().(*bytes.Buffer)
			buf.Reset()
			_, err = buf.ReadFrom(rd)
		}
		if err != nil {
			if buf != nil {
				readBuffers.Put(buf)
			}
			if s := websocket.CloseStatus(err); s == -1 {
				ss.logger().Debug("signaling connection read ended", "err", err)
			}
			break
		}
		ss.touch()
		if typ != websocket.MessageText {
			// The SDKs send text frames only; binary ones are read as the
			// same JSON.
			ss.logger().Debug("binary frame from signaling client")
		}
		// After GO_AWAY or a replacement the connection is going; what it
		// still sends is not routed.
		if !ss.ended.Load() {
			ss.handle(buf.Bytes())
		}
		if buf.Cap() <= maxPooledBuffer {
			readBuffers.Put(buf)
		}
	}
	ss.shutdown(closeClientGone)
	<-ss.done
	ss.svc.unregister(ss)
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
	if err != nil && !ss.ended.Load() {
		ss.logger().Info("signaling client did not answer ping: closing", "err", err)
		ss.shutdown(closePingTimeout)
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
	e := &envelope{channel: ss.channel, action: m.Action, payload: m.MessagePayload, recipient: m.RecipientClientID,
		from: ss, correlation: m.CorrelationID}
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
	ss.logger().Debug("signaling message refused", "err", err, "correlation_id", correlationID)
	if correlationID != "" {
		ss.send(statusFrame(correlationID, err))
	}
}
