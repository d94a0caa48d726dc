package kvswebrtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/pion/webrtc/v4"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testinfra"
	"github.com/openkvs/openkvs/internal/testserver"
)

// recvType waits for the next message of type typ, skipping others.
func recvType(t *testing.T, sc *SignalingClient, typ MessageType) Message {
	t.Helper()
	return recvMatch(t, sc, string(typ), func(m Message) bool { return m.Type == typ })
}

// recvMatch waits for the next message that match accepts, skipping
// others; what names it in failures.
func recvMatch(t *testing.T, sc *SignalingClient, what string, match func(Message) bool) Message {
	t.Helper()
	timeout := time.After(testWait)
	for {
		select {
		case m, ok := <-sc.Messages():
			if !ok {
				t.Fatalf("signaling client ended waiting for %s", what)
			}
			if match(m) {
				return m
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestSignalingRoundTrip sends an offer, an answer and candidates between
// a master and a viewer client through openkvs, and checks what arrives:
// types, payloads, the viewer's id as sender on the master's side.
func TestSignalingRoundTrip(t *testing.T) {
	r := newRig(t, testserver.Options{})
	master := r.signaling(RoleMaster, "", nil)
	viewer := r.signaling(RoleViewer, "viewer-a", nil)
	goRun(t, master.Run)
	goRun(t, viewer.Run)
	ctx := context.Background()
	offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}
	if err := viewer.SendSessionDescription(ctx, "", offer); err != nil {
		t.Fatal(err)
	}
	got := recvType(t, master, SDPOffer)
	if got.SenderClientID != "viewer-a" {
		t.Errorf("offer from %q, want viewer-a", got.SenderClientID)
	}
	sd, err := got.SessionDescription()
	if err != nil || sd != offer {
		t.Errorf("offer %+v, %v; want %+v", sd, err, offer)
	}
	answer := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\n"}
	if err := master.SendSessionDescription(ctx, "viewer-a", answer); err != nil {
		t.Fatal(err)
	}
	a := recvType(t, viewer, SDPAnswer)
	if sd, err := a.SessionDescription(); err != nil || sd != answer {
		t.Errorf("answer %+v, %v; want %+v", sd, err, answer)
	}
	// More candidates than KVS allows per second: Send paces them, so
	// the service refuses none (it would drop them silently).
	const n = 30
	for i := range n {
		c := webrtc.ICECandidateInit{Candidate: fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", i, 5000+i)}
		if err := viewer.Send(ctx, OutgoingMessage{Action: ICECandidate, Payload: candidatePayload(c), CorrelationID: fmt.Sprint("c", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		m := recvType(t, master, ICECandidate)
		c, err := m.ICECandidateInit()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("candidate:%d ", i); len(c.Candidate) < len(want) || c.Candidate[:len(want)] != want {
			t.Fatalf("candidate %d is %q", i, c.Candidate)
		}
	}
}

// TestSignalingReconnect restarts the server under a connected master:
// the master gets GO_AWAY, reconnects to the new server (same address,
// same data dir, so the channel is still there) and receives a viewer's
// offer sent after the restart.
func TestSignalingReconnect(t *testing.T) {
	r := newRig(t, testserver.Options{})
	connects := make(chan int, 8)
	goAways := make(chan bool, 8)
	master := r.signaling(RoleMaster, "", func(c *SignalingConfig) {
		c.OnConnect = func(n int) { connects <- n }
		c.OnDisconnect = func(goAway bool) { goAways <- goAway }
		// No rediscovery here: a GetSignalingChannelEndpoint that reaches
		// the restarting server while its Start is still running races
		// with Start's write of the TLS port (internal/server).
		c.ControlPlane = nil
	})
	goRun(t, master.Run)
	if n := <-connects; n != 1 {
		t.Fatalf("first connection counted %d", n)
	}
	httpAddr, tlsAddr := r.srv.HTTPAddr().String(), r.srv.TLSAddr().String()
	r.srv.Stop(t)
	if !<-goAways {
		t.Error("connection ended without GO_AWAY on server shutdown")
	}
	srv2 := testserver.Start(t, testserver.Options{DataDir: r.srv.DataDir, Configure: func(c *config.Config) {
		c.Listen, c.TLSListen = httpAddr, tlsAddr
	}})
	select {
	case n := <-connects:
		if n != 2 {
			t.Fatalf("reconnection counted %d", n)
		}
	case <-timeoutCh(t):
		t.Fatal("master did not reconnect")
	}
	r2 := &rig{t: t, srv: srv2, kvs: srv2.KVS(), arn: r.arn}
	viewer := r2.signaling(RoleViewer, "late-viewer", nil)
	goRun(t, viewer.Run)
	offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "v=0\r\n"}
	if err := viewer.SendSessionDescription(context.Background(), "", offer); err != nil {
		t.Fatal(err)
	}
	if m := recvType(t, master, SDPOffer); m.SenderClientID != "late-viewer" {
		t.Errorf("offer from %q", m.SenderClientID)
	}
}

// TestSignalingRefused checks that a connection the service refuses
// (deleted channel) ends Run with the service's error.
func TestSignalingRefused(t *testing.T) {
	r := newRig(t, testserver.Options{})
	sc := r.signaling(RoleViewer, "v1", nil)
	ctx := context.Background()
	d, err := r.kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: aws.String(r.arn)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.kvs.DeleteSignalingChannel(ctx, &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: aws.String(r.arn), CurrentVersion: d.ChannelInfo.Version}); err != nil {
		t.Fatal(err)
	}
	err = sc.Run(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound || ae.Type != "ResourceNotFoundException" {
		t.Fatalf("Run = %v, want a 404 ResourceNotFoundException", err)
	}
	if err := sc.Send(ctx, OutgoingMessage{Action: SDPOffer, Payload: []byte("{}")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Run = %v, want ErrClosed", err)
	}
}

// TestICEServers checks GetIceServerConfig through the client: openkvs'
// STUN and TURN URIs with a credential, and the cache.
func TestICEServers(t *testing.T) {
	r := newRig(t, testserver.Options{})
	sc := r.signaling(RoleViewer, "v1", nil)
	ctx := context.Background()
	list, err := sc.ICEServers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 || len(list[0].URIs) == 0 || list[0].Username == "" || list[0].Password == "" || list[0].TTL <= 0 {
		t.Fatalf("ICE servers %+v", list)
	}
	var udp, tcp bool
	for _, u := range list[0].URIs {
		udp = udp || strings.HasPrefix(u, "turn:127.0.0.1:") && strings.HasSuffix(u, "?transport=udp")
		tcp = tcp || strings.HasPrefix(u, "turn:127.0.0.1:") && strings.HasSuffix(u, "?transport=tcp")
	}
	if !udp || !tcp {
		t.Errorf("URIs %v lack UDP or TCP TURN", list[0].URIs)
	}
	again, err := sc.ICEServers(ctx)
	if err != nil || again[0].Password != list[0].Password {
		t.Errorf("second call not cached: %v", err)
	}
}

func timeoutCh(t *testing.T) <-chan struct{} {
	ch := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

// TestSignalingChannelDeleted deletes the channel under a connected
// master: the service sends GO_AWAY and closes, the reconnection finds
// the channel gone, and Run ends with the 404.
func TestSignalingChannelDeleted(t *testing.T) {
	r := newRig(t, testserver.Options{})
	connected := make(chan int, 1)
	goAway := make(chan bool, 1)
	sc := r.signaling(RoleMaster, "", func(c *SignalingConfig) {
		c.OnConnect = func(n int) { connected <- n }
		c.OnDisconnect = func(g bool) { goAway <- g }
	})
	done := make(chan error, 1)
	go func() { done <- sc.Run(context.Background()) }()
	<-connected
	ctx := context.Background()
	d, err := r.kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: aws.String(r.arn)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.kvs.DeleteSignalingChannel(ctx, &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: aws.String(r.arn), CurrentVersion: d.ChannelInfo.Version}); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-goAway:
		if !g {
			t.Error("deletion closed the connection without GO_AWAY")
		}
	case <-timeoutCh(t):
		t.Fatal("connection not closed on channel deletion")
	}
	select {
	case err := <-done:
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
			t.Errorf("Run = %v, want the 404 of the deleted channel", err)
		}
	case <-timeoutCh(t):
		t.Fatal("Run did not end after the channel was deleted")
	}
}

func TestParseAPIError(t *testing.T) {
	tests := []struct {
		header, body string
		wantType     string
		wantMsg      string
	}{
		{header: "ResourceNotFoundException:http://internal.amazon.com/", body: `{"message":"no channel"}`, wantType: "ResourceNotFoundException", wantMsg: "no channel"},
		{body: `{"__type":"com.amazonaws.kinesisvideo#ClientLimitExceededException","Message":"slow down"}`, wantType: "ClientLimitExceededException", wantMsg: "slow down"},
		{body: "Forbidden", wantMsg: "Forbidden"},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: 400, Header: http.Header{}}
		if tt.header != "" {
			resp.Header.Set("X-Amzn-Errortype", tt.header)
		}
		e := parseAPIError(resp, []byte(tt.body))
		if e.Type != tt.wantType || e.Message != tt.wantMsg || e.StatusCode != 400 {
			t.Errorf("parseAPIError(%q, %q) = %+v", tt.header, tt.body, e)
		}
	}
}

// TestSignalingReplaced connects a second viewer with the same client id:
// the first one's Run ends with ErrReplaced instead of reconnecting (and
// pushing the second one out), and the second one gets the master's
// messages.
func TestSignalingReplaced(t *testing.T) {
	r := newRig(t, testserver.Options{})
	master := r.signaling(RoleMaster, "", nil)
	goRun(t, master.Run)
	connected := make(chan int, 1)
	first := r.signaling(RoleViewer, "dup", func(c *SignalingConfig) { c.OnConnect = func(n int) { connected <- n } })
	done := make(chan error, 1)
	go func() { done <- first.Run(context.Background()) }()
	<-connected
	second := r.signaling(RoleViewer, "dup", nil)
	goRun(t, second.Run)
	select {
	case err := <-done:
		if !errors.Is(err, ErrReplaced) {
			t.Fatalf("first viewer's Run = %v, want ErrReplaced", err)
		}
	case <-timeoutCh(t):
		t.Fatal("first viewer not replaced")
	}
	answer := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: "v=0\r\n"}
	if err := master.SendSessionDescription(context.Background(), "dup", answer); err != nil {
		t.Fatal(err)
	}
	recvType(t, second, SDPAnswer)
}

// TestSignalingConnectThrottled checks that a first connection refused with
// ClientLimitExceededException (KVS allows few connects a second per
// channel) is retried until it gets through. The server runs on a clock ten
// times faster than real time, so its rate limit refills in 100 ms.
func TestSignalingConnectThrottled(t *testing.T) {
	start := time.Now()
	fast := func() time.Time { return start.Add(10 * time.Since(start)) }
	r := newRig(t, testserver.Options{Now: fast, Configure: func(c *config.Config) { c.Signaling.ConnectRate = 1 }})
	connected := func(sc **SignalingClient, id string, logs io.Writer) <-chan struct{} {
		ch := make(chan struct{})
		var once sync.Once
		*sc = r.signaling(RoleViewer, id, func(cfg *SignalingConfig) {
			cfg.OnConnect = func(int) { once.Do(func() { close(ch) }) }
			if logs != nil {
				cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
			}
		})
		return ch
	}
	var v1, v2 *SignalingClient
	up1 := connected(&v1, "v1", nil)
	goRun(t, v1.Run)
	waitFor(t, "v1 connected", up1)

	var logs testinfra.Buffer
	up2 := connected(&v2, "v2", &logs)
	goRun(t, v2.Run)
	waitFor(t, "v2 connected after being throttled", up2)
	if !strings.Contains(logs.String(), "ClientLimitExceededException") {
		t.Fatalf("v2 was never throttled; its log:\n%s", logs.String())
	}
}
