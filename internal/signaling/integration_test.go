package signaling_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/coder/websocket"
	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/signaling"
	"github.com/openkvs/openkvs/internal/testserver"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// endpoints creates a channel with the real kinesisvideo client and returns
// its ARN and the WSS and HTTPS endpoints GetSignalingChannelEndpoint gives
// for role.
func endpoints(t *testing.T, kv *kinesisvideo.Client, name string) (arn, wss, https string) {
	t.Helper()
	ctx := context.Background()
	out, err := kv.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := kv.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{
		ChannelARN: out.ChannelARN,
		SingleMasterChannelEndpointConfiguration: &kvtypes.SingleMasterChannelEndpointConfiguration{
			Protocols: []kvtypes.ChannelProtocol{kvtypes.ChannelProtocolWss, kvtypes.ChannelProtocolHttps},
			Role:      kvtypes.ChannelRoleMaster,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ep.ResourceEndpointList {
		switch e.Protocol {
		case kvtypes.ChannelProtocolWss:
			wss = *e.ResourceEndpoint
		case kvtypes.ChannelProtocolHttps:
			https = *e.ResourceEndpoint
		}
	}
	if !strings.HasPrefix(wss, "wss://") || !strings.HasPrefix(https, "https://") {
		t.Fatalf("endpoints %q %q", wss, https)
	}
	return *out.ChannelARN, wss, https
}

// dial presigns the WSS endpoint as the SDKs do and connects over TLS.
func dial(t *testing.T, s *testserver.Server, now time.Time, wss, arn, clientID string) *websocket.Conn {
	t.Helper()
	c, _, err := tryDial(t, s, now, wss, arn, clientID)
	if err != nil {
		t.Fatalf("dial %q: %v", clientID, err)
	}
	return c
}

// tryDial is dial that returns the refusal: the HTTP response (body
// unread) and the error.
func tryDial(t *testing.T, s *testserver.Server, now time.Time, wss, arn, clientID string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	q := url.Values{"X-Amz-ChannelARN": {arn}, "X-Amz-Expires": {"604800"}}
	if clientID != "" {
		q.Set("X-Amz-ClientId", clientID)
	}
	req, _ := http.NewRequest(http.MethodGet, "https"+strings.TrimPrefix(wss, "wss")+"/?"+q.Encode(), nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: testserver.AccessKeyID, SecretAccessKey: testserver.SecretAccessKey, SessionToken: testserver.SessionToken},
		req, awsapi.EmptyPayloadHash, "kinesisvideo", testserver.Region, now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(signed, "https"), &websocket.DialOptions{HTTPClient: s.HTTPClient()})
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, resp, nil
}

func read(t *testing.T, c *websocket.Conn) signaling.ServerMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m signaling.ServerMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func write(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// TestServeSignaling runs signaling inside a whole openkvs: endpoints from
// GetSignalingChannelEndpoint, a presigned wss:// URL with a 7-day expiry
// and a session token, an offer and answer, and DeleteSignalingChannel
// through the SDK ending the channel's connections with GO_AWAY.
func TestServeSignaling(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	kv := kinesisvideo.NewFromConfig(s.AWSConfig(s.HTTPSURL))
	arn, wss, _ := endpoints(t, kv, "serve-demo")
	otherARN, otherWSS, _ := endpoints(t, kv, "serve-other")

	master := dial(t, s, time.Now(), wss, arn, "")
	viewer := dial(t, s, time.Now(), wss, arn, "viewer-1")
	other := dial(t, s, time.Now(), otherWSS, otherARN, "")

	write(t, viewer, `{"action":"SDP_OFFER","messagePayload":"eyJ0eXBlIjoib2ZmZXIifQ=="}`)
	if m := read(t, master); m.MessageType != "SDP_OFFER" || m.SenderClientID != "viewer-1" {
		t.Fatalf("master got %+v", m)
	}
	write(t, master, `{"action":"SDP_ANSWER","recipientClientId":"viewer-1","messagePayload":"eyJ0eXBlIjoiYW5zd2VyIn0="}`)
	if m := read(t, viewer); m.MessageType != "SDP_ANSWER" || m.MessagePayload != "eyJ0eXBlIjoiYW5zd2VyIn0=" {
		t.Fatalf("viewer got %+v", m)
	}

	if _, err := kv.DeleteSignalingChannel(context.Background(), &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{master, viewer} {
		if m := read(t, c); m.MessageType != "GO_AWAY" {
			t.Fatalf("got %+v, want GO_AWAY", m)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := c.Read(ctx)
		cancel()
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("after GO_AWAY: %v", err)
		}
	}
	// The other channel is untouched: its master still gets a reply to a
	// refused message.
	write(t, other, `{"action":"NOPE","messagePayload":"eA==","correlationId":"c"}`)
	if m := read(t, other); m.MessageType != "STATUS_RESPONSE" || m.StatusResponse.CorrelationID != "c" {
		t.Fatalf("other channel got %+v", m)
	}
}

// iceServers calls GetIceServerConfig on the HTTPS endpoint, signed with
// the SigV4 signer at now.
func iceServers(t *testing.T, s *testserver.Server, https, arn, clientID string, now time.Time) []signaling.IceServer {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"ChannelARN": arn, "ClientId": clientID, "Service": "TURN"})
	req, _ := http.NewRequest(http.MethodPost, https+"/v1/get-ice-server-config", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testserver.AccessKeyID, SecretAccessKey: testserver.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "kinesisvideo", testserver.Region, now); err != nil {
		t.Fatal(err)
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GetIceServerConfig: %d %s", resp.StatusCode, b)
	}
	var out struct{ IceServerList []signaling.IceServer }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out.IceServerList
}

// turnClient opens a pion/turn client to addr over transport "udp" or
// "tcp" with the given credential.
func turnClient(t *testing.T, transport, addr, username, password string) *turn.Client {
	t.Helper()
	var conn net.PacketConn
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case "tcp":
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	}
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, RTO: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		conn.Close()
	})
	return cl
}

// TestIceServerConfigTURN: the credentials GetIceServerConfig hands out let
// a real pion/turn client allocate a relay on openkvs' TURN listener, over
// UDP and TCP, and relay a datagram; our own stun: URI is listed and
// answers Binding; once the credential's TTL has passed (by the server's
// injected clock) a new allocation is refused.
func TestIceServerConfigTURN(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := testserver.Start(t, testserver.Options{Now: clk.Now})
	kv := kinesisvideo.NewFromConfig(s.AWSConfig(s.HTTPSURL))
	arn, _, https := endpoints(t, kv, "turn-demo")

	list := iceServers(t, s, https, arn, "viewer-1", clk.Now())
	if len(list) == 0 || len(list) > signaling.MaxICEServers {
		t.Fatalf("%d ICE servers", len(list))
	}
	byScheme := map[string]string{}
	for _, e := range list {
		if len(e.Uris) == 0 || len(e.Uris) > signaling.MaxURIsPerICEServer || e.Ttl != 300 {
			t.Fatalf("entry %+v", e)
		}
		for _, u := range e.Uris {
			scheme, rest, _ := strings.Cut(u, ":")
			hostport, query, _ := strings.Cut(rest, "?")
			key := scheme
			if query != "" {
				key += "?" + query
			}
			byScheme[key] = hostport
		}
	}
	udpAddr, tcpAddr, stunAddr := byScheme["turn?transport=udp"], byScheme["turn?transport=tcp"], byScheme["stun"]
	if udpAddr == "" || tcpAddr == "" || stunAddr == "" {
		t.Fatalf("URIs %v", byScheme)
	}
	user, pass := list[0].Username, list[0].Password

	// STUN Binding on our stun: URI.
	stunClient := turnClient(t, "udp", stunAddr, "", "")
	mapped, err := stunClient.SendBindingRequest()
	if err != nil || !strings.HasPrefix(mapped.String(), "127.0.0.1:") {
		t.Fatalf("binding: %v %v", mapped, err)
	}

	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	for _, tc := range []struct{ transport, addr string }{{"tcp", tcpAddr}, {"udp", udpAddr}} {
		t.Run(tc.transport, func(t *testing.T) {
			cl := turnClient(t, tc.transport, tc.addr, user, pass)
			relay, err := cl.Allocate()
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			defer relay.Close()
			// Two round trips: the first write creates the permission, the
			// second may go over a channel binding.
			for i := range 2 {
				out := fmt.Sprintf("hello %s %d", tc.transport, i)
				if _, err := relay.WriteTo([]byte(out), peer.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 64)
				_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, from, err := peer.ReadFrom(buf)
				if err != nil || string(buf[:n]) != out || from.String() != relay.LocalAddr().String() {
					t.Fatalf("peer got %q from %v (relay %v): %v", buf[:n], from, relay.LocalAddr(), err)
				}
				if _, err := peer.WriteTo([]byte("back "+out), from); err != nil {
					t.Fatal(err)
				}
				_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _, err = relay.ReadFrom(buf)
				if err != nil || string(buf[:n]) != "back "+out {
					t.Fatalf("relay got %q: %v", buf[:n], err)
				}
			}
		})
	}

	// A wrong password and, after the TTL, the right one are refused.
	if _, err := turnClient(t, "udp", udpAddr, user, "wrong").Allocate(); err == nil {
		t.Fatal("allocated with a wrong password")
	}
	// The same credential allocated above; only the clock moved.
	clk.Add(301 * time.Second)
	_, err = turnClient(t, "udp", udpAddr, user, pass).Allocate()
	if err == nil {
		t.Fatal("allocated with an expired credential")
	}
	var te *stun.TurnError
	if !errors.As(err, &te) {
		t.Fatalf("expired credential: %v, want a TURN error response", err)
	}
}

// TestIceServerConfigPeerPolicy: a TURN server that advertises a public
// address (--public-ip) refuses relaying to this host's loopback with 403
// Forbidden, unless --turn-allow-peer lists it; the credential is minted
// for the caller's access key, which the TURN server counts quotas by.
func TestIceServerConfigPeerPolicy(t *testing.T) {
	peer := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	for _, tc := range []struct {
		name  string
		allow []string
		code  stun.ErrorCode // 0: permitted
	}{
		{"default", nil, stun.CodeForbidden},
		{"allowed", []string{"127.0.0.0/8"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testserver.Start(t, testserver.Options{Configure: func(c *config.Config) {
				c.TURN.PublicIP = "203.0.113.5"
				c.TURN.AllowPeers = tc.allow
			}})
			kv := kinesisvideo.NewFromConfig(s.AWSConfig(s.HTTPSURL))
			arn, _, https := endpoints(t, kv, "peer-policy")
			list := iceServers(t, s, https, arn, "viewer-1", time.Now())
			if !strings.Contains(list[0].Username, ":"+testserver.AccessKeyID+":") {
				t.Errorf("username %q not minted for the access key", list[0].Username)
			}
			var udpAddr string
			for _, u := range list[0].Uris {
				if rest, ok := strings.CutPrefix(u, "turn:"); ok && strings.HasSuffix(rest, "?transport=udp") {
					udpAddr = strings.TrimSuffix(rest, "?transport=udp")
				}
			}
			// The URIs name the public IP; the socket is on loopback.
			_, port, _ := net.SplitHostPort(udpAddr)
			cl := turnClient(t, "udp", net.JoinHostPort("127.0.0.1", port), list[0].Username, list[0].Password)
			relay, err := cl.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			err = cl.CreatePermission(peer)
			var te *stun.TurnError
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("CreatePermission: %v", err)
			case tc.code != 0 && (!errors.As(err, &te) || te.ErrorCodeAttr.Code != tc.code):
				t.Fatalf("CreatePermission = %v, want error %d", err, tc.code)
			}
		})
	}
}
