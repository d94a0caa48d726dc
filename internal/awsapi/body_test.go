package awsapi

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unverifiedBodyServer serves a Verifier whose requests signed over their
// body (no x-amz-content-sha256) are read before the signature check. Each
// reservation of the unverified-body budget is sent on the returned
// channel.
func unverifiedBodyServer(t *testing.T, cfg VerifierConfig) (*Verifier, string, <-chan struct{}) {
	t.Helper()
	cfg.Credentials = testCreds
	v := newVerifier(t, cfg)
	reserved := make(chan struct{}, 64)
	v.testHookReserved = func() { reserved <- struct{}{} }
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		WriteJSON(w, map[string]int{"len": len(b)})
	})))
	t.Cleanup(srv.Close)
	return v, srv.Listener.Addr().String(), reserved
}

// bodyRequest opens a connection to addr and sends a request signed over
// body (its hash not sent, so the server must read the body to check the
// signature) with only the first n bytes of the body.
func bodyRequest(t *testing.T, addr string, at time.Time, body string, n int) net.Conn {
	t.Helper()
	req := signedRequest(t, at, body, sha256Hex([]byte(body)), false, int64(len(body)))
	var b strings.Builder
	b.WriteString("POST /putMedia HTTP/1.1\r\nHost: " + req.Host + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n")
	for k, vs := range req.Header {
		b.WriteString(k + ": " + strings.Join(vs, ",") + "\r\n")
	}
	b.WriteString("\r\n" + body[:n])
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readReply reads the response on conn: status, error type or length of
// the body the handler saw, and whether the server closes the connection.
func readReply(t *testing.T, conn net.Conn) (status int, errType string, n int, closing bool) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Type string `json:"__type"`
		Len  int    `json:"len"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out.Type, out.Len, resp.Close
}

// TestUnverifiedBodyBudget holds requests whose bodies never finish
// arriving: together they may hold no more than the budget, and requests
// beyond it are turned away at once, before their body is read.
func TestUnverifiedBodyBudget(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const size, slots = 1000, 3
	v, addr, reserved := unverifiedBodyServer(t, VerifierConfig{
		Now: fixedNow(now), MaxHashedBody: size, UnverifiedBodyBytes: slots * size, BodyReadTimeout: time.Hour,
	})
	body := strings.Repeat("b", size)

	var slow []net.Conn
	for range slots {
		slow = append(slow, bodyRequest(t, addr, now, body, 10))
		<-reserved
	}
	if got := v.budget.used.Load(); got != slots*size {
		t.Fatalf("budget holds %d bytes, want %d", got, slots*size)
	}
	for range 10 {
		c := bodyRequest(t, addr, now, body, size) // whole body, too late
		status, typ, _, closing := readReply(t, c)
		if status != http.StatusServiceUnavailable || typ != string(ClientLimitExceeded) || !closing {
			t.Fatalf("over the budget: %d %s close=%v; want 503 ClientLimitExceededException and close", status, typ, closing)
		}
	}
	if got := v.budget.used.Load(); got != slots*size {
		t.Fatalf("after refusals the budget holds %d bytes, want %d", got, slots*size)
	}

	// A slow body that finishes frees its share for the next request.
	if _, err := io.WriteString(slow[0], body[10:]); err != nil {
		t.Fatal(err)
	}
	if status, typ, n, _ := readReply(t, slow[0]); status != http.StatusOK || n != size {
		t.Fatalf("finished slow body: %d %s len %d", status, typ, n)
	}
	c := bodyRequest(t, addr, now, body, size)
	<-reserved
	if status, typ, n, _ := readReply(t, c); status != http.StatusOK || n != size {
		t.Fatalf("after a slot freed: %d %s len %d", status, typ, n)
	}
	if got := v.budget.used.Load(); got != (slots-1)*size {
		t.Fatalf("budget holds %d bytes, want %d", got, (slots-1)*size)
	}
}

// TestUnverifiedBodyTimeout checks that a body that stops arriving before
// its signature could be checked is given up after the read timeout, and
// its share of the budget returned.
func TestUnverifiedBodyTimeout(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v, addr, reserved := unverifiedBodyServer(t, VerifierConfig{Now: fixedNow(now), BodyReadTimeout: 50 * time.Millisecond})
	c := bodyRequest(t, addr, now, strings.Repeat("b", 1000), 10)
	<-reserved
	status, typ, _, closing := readReply(t, c)
	if status != http.StatusBadRequest || typ != string(InvalidArgument) || !closing {
		t.Fatalf("stalled body: %d %s close=%v; want 400 InvalidArgumentException and close", status, typ, closing)
	}
	if got := v.budget.used.Load(); got != 0 {
		t.Fatalf("budget holds %d bytes after the timeout", got)
	}
}
