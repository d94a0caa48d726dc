package signaling

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// Query parameters of the WebSocket URL besides the SigV4 ones.
const (
	paramChannelARN = "X-Amz-ChannelARN"
	paramClientID   = "X-Amz-ClientId"
)

// serveConnect serves ConnectAsMaster and ConnectAsViewer: the WebSocket
// upgrade on the root path. The URL carries X-Amz-ChannelARN and, for a
// viewer, X-Amz-ClientId; the server's SigV4 middleware has already
// verified the presigned query. Refusals before the upgrade are AWS JSON
// errors: 400 InvalidArgumentException, 404 ResourceNotFoundException, 400
// ClientLimitExceededException.
// https://docs.aws.amazon.com/kinesisvideostreams-webrtc-dg/latest/devguide/kvswebrtc-websocket-apis-1.html
// https://docs.aws.amazon.com/kinesisvideostreams-webrtc-dg/latest/devguide/kvswebrtc-websocket-apis-2.html
func (s *Service) serveConnect(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	arn := queryValue(q, paramChannelARN)
	clientIDs, viewer := queryValues(q, paramClientID)
	if arn == "" {
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "The query parameter %s is required.", paramChannelARN))
		return
	}
	clientID := ""
	if viewer {
		// A copy: the query's substring would keep the whole request
		// line alive as long as the connection.
		clientID = strings.Clone(clientIDs[0])
		if err := validateClientID(clientID); err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
	}
	ch, err := s.channel(r.Context(), arn)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	if !hasToken(r.Header, "Connection", "upgrade") || !hasToken(r.Header, "Upgrade", "websocket") {
		// Checked before register: a plain GET must not replace the
		// channel's master or take a viewer's queued messages.
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "The signaling endpoint accepts WebSocket upgrades only."))
		return
	}
	// Register before the upgrade so that a refusal is an HTTP error and
	// the client's handshake completes only once it can be reached.
	ss := s.newSession(ch.ARN, clientID, !viewer)
	if err := s.register(ss, time.Duration(ch.MessageTTLSeconds)*time.Second); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	conn, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{
		// Any web page may connect: the credential is the presigned URL,
		// never a cookie, so there is nothing for another origin to ride
		// on. (The KVS WebRTC test page connects from its own origin.)
		InsecureSkipVerify: true,
		OnPingReceived: func(context.Context, []byte) bool {
			ss.touch()
			return true
		},
	})
	if err != nil {
		// Accept has answered the client.
		awsapi.SetErrorCode(r.Context(), awsapi.InvalidArgument)
		ss.shutdown(closeClientGone)
		s.unregister(ss)
		s.sessions.Done()
		return
	}
	conn.SetReadLimit(int64(s.cfg.MaxFrameBytes))
	s.attach(ss, conn)
	ss.logger().Debug("signaling client connected")
	// The handler returns so that net/http's goroutine, its stack and the
	// request go; the connection lives on in one goroutine of its own.
	go func() {
		defer s.sessions.Done() // added by register
		ss.run()
		ss.logger().Debug("signaling client disconnected")
	}()
}

// Buffer sizes of a hijacked signaling connection. Signaling frames are
// small and an idle connection should cost little: net/http's 4 KiB
// reader and writer are replaced by these (larger reads and writes
// bypass them).
const (
	connReadBuffer  = 512
	connWriteBuffer = 512
)

// smallBuffers hands websocket.Accept a hijacked connection with smaller
// buffers than net/http's.
type smallBuffers struct{ http.ResponseWriter }

// Hijack implements http.Hijacker.
func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	// Bytes the client sent after its request are already in net/http's
	// reader: they must be in the new reader's buffer (websocket.Accept
	// keeps what is buffered and reads the rest from conn).
	br := bufio.NewReaderSize(&burstReader{r: conn}, connReadBuffer)
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), &burstReader{r: conn}), max(n, connReadBuffer))
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, connWriteBuffer)), nil
}

// burstReader reads from r into a pooled buffer of burstSize and hands it
// out in the small pieces asked for: a frame larger than the connection's
// read buffer takes one read system call instead of two, and an idle
// connection holds no buffer (it goes back to the pool once drained).
type burstReader struct {
	r    io.Reader
	buf  *[]byte // pooled; nil when drained
	rest []byte  // unread part of *buf
}

// burstSize holds any signaling frame within the default limits.
const burstSize = 16 << 10

var burstBuffers = sync.Pool{New: func() any { b := make([]byte, burstSize); return &b }}

// Read implements io.Reader. websocket.Conn reads from one goroutine.
func (b *burstReader) Read(p []byte) (int, error) {
	if len(b.rest) == 0 {
		if len(p) >= burstSize {
			return b.r.Read(p)
		}
		buf := burstBuffers.Get().(*[]byte)
		n, err := b.r.Read(*buf)
		if n == 0 {
			burstBuffers.Put(buf)
			return 0, err
		}
		b.buf, b.rest = buf, (*buf)[:n]
	}
	n := copy(p, b.rest)
	b.rest = b.rest[n:]
	if len(b.rest) == 0 {
		burstBuffers.Put(b.buf)
		b.buf, b.rest = nil, nil
	}
	return n, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// channel returns the active channel with ARN arn, or the AWS error to
// answer.
func (s *Service) channel(ctx context.Context, arn string) (*catalog.Channel, error) {
	a, err := awsapi.ParseARN(arn)
	if err != nil || a.Type != "channel" {
		return nil, awsapi.Errorf(awsapi.InvalidArgument, "%q is not a signaling channel ARN.", truncate(arn, 1024))
	}
	c, err := s.store.GetChannel(ctx, a.Name)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return nil, errChannelNotFound()
	case err != nil:
		return nil, fmt.Errorf("signaling: get channel %q: %w", a.Name, err)
	case c.ARN != arn || c.Status == catalog.StatusDeleting:
		return nil, errChannelNotFound()
	}
	return c, nil
}

func errChannelNotFound() error {
	return awsapi.Errorf(awsapi.ResourceNotFound, "The requested channel is not found or not active.")
}

// validateClientID checks a viewer's client id: 1 to 256 characters of
// [a-zA-Z0-9_.-], not starting with "AWS_" (reserved by KVS).
func validateClientID(id string) error {
	if !idPattern.MatchString(id) {
		return awsapi.Errorf(awsapi.InvalidArgument, "%s must be 1 to 256 characters of [a-zA-Z0-9_.-]; got %q.", paramClientID, truncate(id, 300))
	}
	if strings.HasPrefix(id, "AWS_") {
		return awsapi.Errorf(awsapi.InvalidArgument, "%s must not start with AWS_.", paramClientID)
	}
	return nil
}

// hasToken reports whether the comma-separated header name lists token,
// without regard to case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// queryValues returns the values of a query parameter, matching its name
// without regard to case.
func queryValues(q url.Values, name string) ([]string, bool) {
	if v, ok := q[name]; ok {
		return v, true
	}
	for k, v := range q {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func queryValue(q url.Values, name string) string {
	v, _ := queryValues(q, name)
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
