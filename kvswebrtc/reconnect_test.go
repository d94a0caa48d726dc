package kvswebrtc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/coder/websocket"
)

// wsServer is a bare WebSocket server on loopback that hands each
// connection to the test, to drive the client's reactions to what a
// signaling service may do (RECONNECT_ICE_SERVER, a dropped connection,
// keep-alive pings) without openkvs in between.
type wsServer struct {
	*httptest.Server
	conns  chan *websocket.Conn
	pings  chan struct{}
	urls   chan string
	frames chan []byte
}

func newWSServer(t *testing.T) *wsServer {
	s := &wsServer{conns: make(chan *websocket.Conn, 8), pings: make(chan struct{}, 64), urls: make(chan string, 8), frames: make(chan []byte, 64)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OnPingReceived: func(context.Context, []byte) bool {
			select {
			case s.pings <- struct{}{}:
			default:
			}
			return true
		}})
		if err != nil {
			return
		}
		s.urls <- r.URL.String()
		s.conns <- c
		// Read until the connection ends, so that pings are answered.
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			select {
			case s.frames <- data:
			default:
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *wsServer) client(t *testing.T, edit func(*SignalingConfig)) *SignalingClient {
	cfg := SignalingConfig{
		Channel:     &Channel{Name: "c", ARN: "arn:aws:kinesisvideo:us-west-2:123456789012:channel/c/1", Role: RoleViewer, WSSEndpoint: "ws" + strings.TrimPrefix(s.URL, "http"), HTTPSEndpoint: s.URL},
		ClientID:    "v1",
		Region:      "us-west-2",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "TOKEN"),
		Logger:      testLogger(t),
		MinBackoff:  time.Millisecond,
		MaxBackoff:  10 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	sc, err := NewSignalingClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func (s *wsServer) accept(t *testing.T) *websocket.Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-timeoutCh(t):
		t.Fatal("no connection")
		return nil
	}
}

// TestReconnectICEServer: RECONNECT_ICE_SERVER is delivered, then the
// client reconnects at once with a freshly signed URL.
func TestReconnectICEServer(t *testing.T) {
	s := newWSServer(t)
	disc := make(chan bool, 4)
	sc := s.client(t, func(c *SignalingConfig) { c.OnDisconnect = func(g bool) { disc <- g } })
	goRun(t, sc.Run)
	c := s.accept(t)
	if u := <-s.urls; !strings.Contains(u, "X-Amz-ClientId=v1") || !strings.Contains(u, "X-Amz-Security-Token=TOKEN") || !strings.Contains(u, "X-Amz-Signature=") {
		t.Errorf("connection URL %s", u)
	}
	if err := c.Write(context.Background(), websocket.MessageText, []byte(`{"messageType":"RECONNECT_ICE_SERVER"}`)); err != nil {
		t.Fatal(err)
	}
	recvType(t, sc, ReconnectICEServer)
	if g := <-disc; !g {
		t.Error("RECONNECT_ICE_SERVER counted as a dropped connection")
	}
	s.accept(t)
}

// TestReconnectAfterDrop: a connection that breaks without GO_AWAY is
// re-established, and Send waits for it.
func TestReconnectAfterDrop(t *testing.T) {
	s := newWSServer(t)
	disc := make(chan bool, 4)
	sc := s.client(t, func(c *SignalingConfig) { c.OnDisconnect = func(g bool) { disc <- g } })
	goRun(t, sc.Run)
	c := s.accept(t)
	c.CloseNow()
	if g := <-disc; g {
		t.Error("a dropped connection counted as GO_AWAY")
	}
	sent := make(chan error, 1)
	go func() {
		sent <- sc.Send(context.Background(), OutgoingMessage{Action: SDPOffer, Payload: []byte(`{"type":"offer","sdp":"x"}`)})
	}()
	s.accept(t)
	if err := <-sent; err != nil {
		t.Fatalf("Send after reconnect: %v", err)
	}
	select {
	case f := <-s.frames:
		if !strings.Contains(string(f), `"action":"SDP_OFFER"`) {
			t.Errorf("frame %s", f)
		}
	case <-timeoutCh(t):
		t.Fatal("offer not received after the reconnection")
	}
}

// TestKeepAlivePings: the client pings at PingInterval.
func TestKeepAlivePings(t *testing.T) {
	s := newWSServer(t)
	sc := s.client(t, func(c *SignalingConfig) { c.PingInterval = 5 * time.Millisecond })
	goRun(t, sc.Run)
	s.accept(t)
	for range 3 {
		select {
		case <-s.pings:
		case <-timeoutCh(t):
			t.Fatal("no ping")
		}
	}
}
