package signaling

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/coder/websocket"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/boltstore"
)

// Test credentials and the region the test clients sign for.
const (
	testKeyID  = "AKIASIGNALINGTEST001"
	testSecret = "signaling/test/secret/0123456789abcdefghij"
	testRegion = "us-west-2"
	testAcct   = "123456789012"
	// waitFor bounds every wait for an event.
	waitFor = 5 * time.Second
)

// fakeClock is the injected clock of the Service and the SigV4 verifier.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a signaling Service behind a real HTTP server on loopback,
// with the SigV4 verifier in front as in openkvs serve.
type harness struct {
	t     *testing.T
	svc   *Service
	clock *fakeClock
	store *boltstore.Store
	srv   *httptest.Server
	ws    string // ws://127.0.0.1:port
}

func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	store, err := boltstore.Open(boltstore.Config{Path: filepath.Join(t.TempDir(), "catalog.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newHarnessOn(t, store, clk, edit)
}

// newHarnessOn is newHarness on a given catalog and clock, which several
// harnesses (the nodes of a cluster) may share.
func newHarnessOn(t *testing.T, store *boltstore.Store, clk *fakeClock, edit func(*Config)) *harness {
	t.Helper()
	var logw io.Writer = io.Discard
	if os.Getenv("OPENKVS_TEST_LOG") != "" {
		logw = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{
		Store:         store,
		Now:           clk.Now,
		Logger:        log,
		SweepInterval: time.Hour, // the tests call sweep themselves
		// The tests connect many clients at one instant of the fake
		// clock; TestConnectRate sets the KVS limit back.
		ConnectRate: -1,
	}
	if edit != nil {
		edit(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := awsapi.NewVerifier(awsapi.VerifierConfig{Credentials: map[string]string{testKeyID: testSecret}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, op := range svc.Operations() {
		h := verifier.Middleware(op.Handler)
		mux.Handle(op.Pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(awsapi.NewRequestContext(r.Context(), op.Name, log)))
		}))
	}
	srv := httptest.NewServer(mux)
	h := &harness{t: t, svc: svc, clock: clk, store: store, srv: srv, ws: "ws://" + srv.Listener.Addr().String()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = svc.Close(ctx)
		srv.Close()
	})
	return h
}

// channel creates an active channel and returns its ARN.
func (h *harness) channel(name string, ttlSeconds int) string {
	h.t.Helper()
	arn := awsapi.NewARN(testRegion, testAcct, "channel", name, h.clock.Now())
	err := h.store.CreateChannel(context.Background(), &catalog.Channel{
		Name: name, ARN: arn, Type: "SINGLE_MASTER", Status: catalog.StatusActive,
		Version: "1", CreationTime: h.clock.Now(), MessageTTLSeconds: ttlSeconds,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return arn
}

// presignOpts vary a presigned URL.
type presignOpts struct {
	expires  time.Duration // default 299 s, as the JS SDK
	at       time.Time     // signing time; default the clock's now
	secret   string        // default testSecret
	token    string        // session token
	rawQuery string        // replaces the query built from arn and client
}

// presign returns the WebSocket URL for arn (and the viewer clientID, if
// any), presigned with aws-sdk-go-v2's SigV4 signer as the SDKs do it:
// host the only signed header, the session token in the signed query.
func (h *harness) presign(arn, clientID string, o presignOpts) string {
	h.t.Helper()
	if o.at.IsZero() {
		o.at = h.clock.Now()
	}
	u, err := presignURL(h.srv.Listener.Addr().String(), arn, clientID, o)
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// presignURL presigns ws://host/?X-Amz-ChannelARN=arn[&X-Amz-ClientId=id].
func presignURL(host, arn, clientID string, o presignOpts) (string, error) {
	if o.expires == 0 {
		o.expires = 299 * time.Second
	}
	if o.at.IsZero() {
		o.at = time.Now()
	}
	if o.secret == "" {
		o.secret = testSecret
	}
	q := url.Values{}
	q.Set("X-Amz-ChannelARN", arn)
	if clientID != "" {
		q.Set("X-Amz-ClientId", clientID)
	}
	q.Set("X-Amz-Expires", strconv.Itoa(int(o.expires/time.Second)))
	raw := q.Encode()
	if o.rawQuery != "" {
		raw = o.rawQuery
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+host+"/?"+raw, nil)
	if err != nil {
		return "", err
	}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: o.secret, SessionToken: o.token},
		req, awsapi.EmptyPayloadHash, "kinesisvideo", testRegion, o.at)
	if err != nil {
		return "", err
	}
	return "ws" + strings.TrimPrefix(signed, "http"), nil
}

// client is one raw WebSocket connection to the harness.
type client struct {
	t     *testing.T
	name  string
	conn  *websocket.Conn
	msgs  chan ServerMessage
	ended chan struct{}
	err   error // the read error, set before ended is closed
	pings chan struct{}
	seq   int
}

// dial connects as master (clientID "") or viewer and fails the test on
// a refusal.
func (h *harness) dial(arn, clientID string) *client {
	h.t.Helper()
	c, resp, err := h.tryDial(h.presign(arn, clientID, presignOpts{}))
	if err != nil {
		h.t.Fatalf("dial %q: %v (%s)", clientID, err, resp)
	}
	c.name = clientID
	if c.name == "" {
		c.name = "master"
	}
	return c
}

// dialResult is the HTTP answer to a refused upgrade.
type dialResult struct {
	status int
	code   string // x-amzn-ErrorType
	body   string
}

func (d dialResult) String() string { return fmt.Sprintf("%d %s %s", d.status, d.code, d.body) }

func (h *harness) tryDial(u string) (*client, dialResult, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c := &client{t: h.t, msgs: make(chan ServerMessage, 256), ended: make(chan struct{}), pings: make(chan struct{}, 16)}
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool {
			select {
			case c.pings <- struct{}{}:
			default:
			}
			return true
		},
	})
	if err != nil {
		var d dialResult
		if resp != nil {
			d.status = resp.StatusCode
			d.code = resp.Header.Get("x-amzn-ErrorType")
			b, _ := io.ReadAll(resp.Body)
			d.body = string(b)
		}
		return nil, d, err
	}
	conn.SetReadLimit(1 << 20)
	c.conn = conn
	go c.readLoop()
	h.t.Cleanup(func() { conn.CloseNow() })
	return c, dialResult{}, nil
}

func (c *client) readLoop() {
	defer close(c.ended)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		var m ServerMessage
		if err := json.Unmarshal(data, &m); err != nil {
			c.err = fmt.Errorf("server sent non-JSON %q: %w", data, err)
			return
		}
		c.msgs <- m
	}
}

// send writes one text frame.
func (c *client) send(v any) {
	c.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// msg builds a JS-SDK style (camel case) client message.
func msg(action, recipient, payload, correlation string) map[string]string {
	m := map[string]string{"action": action, "messagePayload": payload}
	if recipient != "" {
		m["recipientClientId"] = recipient
	}
	if correlation != "" {
		m["correlationId"] = correlation
	}
	return m
}

// b64 encodes a payload as the SDKs do.
func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// next returns the next message or fails after waitFor.
func (c *client) next() ServerMessage {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-c.ended:
		select {
		case m := <-c.msgs:
			return m
		default:
		}
		c.t.Fatalf("%s: connection ended waiting for a message: %v", c.name, c.err)
	case <-time.After(waitFor):
		c.t.Fatalf("%s: no message within %s", c.name, waitFor)
	}
	return ServerMessage{}
}

// expect returns the next message and checks its type.
func (c *client) expect(typ string) ServerMessage {
	c.t.Helper()
	m := c.next()
	if m.MessageType != typ {
		c.t.Fatalf("%s: got %s %+v, want %s", c.name, m.MessageType, m, typ)
	}
	return m
}

// expectStatus returns the next message, which must be a STATUS_RESPONSE
// for correlationID with errorType code.
func (c *client) expectStatus(correlationID string, code awsapi.Code) StatusResponse {
	c.t.Helper()
	m := c.expect(TypeStatusResponse)
	if m.StatusResponse == nil {
		c.t.Fatalf("%s: STATUS_RESPONSE without statusResponse", c.name)
	}
	sr := *m.StatusResponse
	if sr.CorrelationID != correlationID || sr.ErrorType != string(code) || sr.StatusCode != strconv.Itoa(code.Status()) {
		c.t.Fatalf("%s: status %+v, want correlationId %q errorType %s status %d", c.name, sr, correlationID, code, code.Status())
	}
	if sr.Description == "" {
		c.t.Fatalf("%s: status without description", c.name)
	}
	return sr
}

// sync proves that nothing else was delivered to c before now: it sends
// an invalid message with a fresh correlationId and requires its
// STATUS_RESPONSE to be the very next message. Messages are routed
// synchronously by the sender's reader, so everything another client had
// sent (and got routed) earlier is already queued ahead of it.
func (c *client) sync() {
	c.t.Helper()
	c.seq++
	id := fmt.Sprintf("sync-%s-%d", c.name, c.seq)
	c.send(msg("SYNC", "", b64("x"), id))
	c.expectStatus(id, awsapi.InvalidArgument)
}

// closed waits for the server to close c and returns the close status and
// reason.
func (c *client) closed() (websocket.StatusCode, string) {
	c.t.Helper()
	select {
	case <-c.ended:
	case <-time.After(waitFor):
		c.t.Fatalf("%s: still open after %s", c.name, waitFor)
	}
	var ce websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code, ce.Reason
	}
	return -1, fmt.Sprint(c.err)
}

// expectClosed waits for a close with code.
func (c *client) expectClosed(code websocket.StatusCode) string {
	c.t.Helper()
	got, reason := c.closed()
	if got != code {
		c.t.Fatalf("%s: closed with %v %q, want %v", c.name, got, reason, code)
	}
	return reason
}

// postJSON calls a signaling HTTPS operation, header-signed with
// aws-sdk-go-v2's SigV4 signer.
func (h *harness) postJSON(path string, body any) (int, string, []byte) {
	h.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(b)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret},
		req, hex.EncodeToString(sum[:]), "kinesisvideo", testRegion, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), out
}
