package awsapi

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"
)

// producerSign signs a request the way the KVS C producer does for
// PutMedia: every header it lists is signed (lower-cased, sorted, values
// trimmed), the path is used as written and the streaming body counts as
// empty. It is written from the SigV4 description, independently of the
// verifier, and checked against a published test vector below.
func producerSign(method, path, query string, headers [][2]string, akid, secret, region, service string, at time.Time) string {
	amzDate := at.UTC().Format("20060102T150405Z")
	date := amzDate[:8]
	type kv struct{ k, v string }
	var hs []kv
	for _, h := range headers {
		hs = append(hs, kv{strings.ToLower(h[0]), strings.TrimSpace(h[1])})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].k < hs[j].k })
	var canon, names strings.Builder
	for i, h := range hs {
		canon.WriteString(h.k + ":" + h.v + "\n")
		if i > 0 {
			names.WriteString(";")
		}
		names.WriteString(h.k)
	}
	empty := sha256.Sum256(nil)
	creq := method + "\n" + path + "\n" + query + "\n" + canon.String() + "\n" + names.String() + "\n" + hex.EncodeToString(empty[:])
	creqHash := sha256.Sum256([]byte(creq))
	scope := date + "/" + region + "/" + service + "/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creqHash[:])
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	k := mac(mac(mac(mac([]byte("AWS4"+secret), date), region), service), "aws4_request")
	return fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", akid, scope, names.String(), hex.EncodeToString(mac(k, sts)))
}

func TestProducerSignMatchesSuite(t *testing.T) {
	got := producerSign("GET", "/", "", [][2]string{{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
		"AKIDEXAMPLE", suiteCreds["AKIDEXAMPLE"], "us-east-1", "service", suiteTime)
	if !strings.HasSuffix(got, "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") {
		t.Fatalf("test signer disagrees with the get-vanilla vector: %s", got)
	}
}

// TestPutMediaRawProducer sends a KVS-producer-style PutMedia over a raw TCP
// connection to a real loopback server: chunked body, signed over
// connection, host, transfer-encoding, user-agent, x-amz-date and the
// x-amzn-* headers, with an unsigned session token.
func TestPutMediaRawProducer(t *testing.T) {
	now := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Now: fixedNow(now)})
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		id := IdentityFrom(r.Context())
		WriteJSON(w, map[string]any{"len": len(body), "body": string(body), "token": id.SessionToken, "stream": r.Header.Get("x-amzn-stream-name")})
	})))
	defer srv.Close()
	host := srv.Listener.Addr().String()

	chunks := []string{"\x1a\x45\xdf\xa3EBML-header", "cluster-1-frames", "cluster-2-frames"}
	wantBody := strings.Join(chunks, "")

	type header = [2]string
	base := func() []header {
		return []header{
			{"Host", host},
			{"Connection", "keep-alive"},
			{"Transfer-Encoding", "chunked"},
			{"User-Agent", "AWS-SDK-KVS-CPP-CLIENT/3.4.1 GCC/11.4.0 Linux/6.5.0 x86_64"},
			{"X-Amz-Date", now.Format("20060102T150405Z")},
			{"x-amzn-stream-name", "cam-1"},
			{"x-amzn-fragment-timecode-type", "ABSOLUTE"},
			{"x-amzn-producer-start-timestamp", "1709287200.000"},
			{"x-amzn-fragment-acknowledgment-required", "1"},
		}
	}
	send := func(t *testing.T, signed, sent []header) (int, map[string]any) {
		t.Helper()
		authz := producerSign("POST", "/putMedia", "", signed, testAKID, testSecret, "us-west-2", "kinesisvideo", now)
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var b strings.Builder
		b.WriteString("POST /putMedia HTTP/1.1\r\n")
		for _, h := range sent {
			b.WriteString(h[0] + ": " + h[1] + "\r\n")
		}
		b.WriteString("Authorization: " + authz + "\r\n")
		b.WriteString("X-Amz-Security-Token: producer-session-token\r\n\r\n")
		for _, c := range chunks {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(c), c)
		}
		b.WriteString("0\r\n\r\n")
		if _, err := io.WriteString(conn, b.String()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}

	t.Run("accepted", func(t *testing.T) {
		status, out := send(t, base(), base())
		if status != http.StatusOK {
			t.Fatalf("status %d: %v", status, out)
		}
		if out["body"] != wantBody || out["token"] != "producer-session-token" || out["stream"] != "cam-1" {
			t.Errorf("handler saw %v", out)
		}
	})

	// Each signed header matters, including the ones net/http takes out
	// of r.Header.
	for _, tt := range []struct {
		name   string
		header string
		value  string
	}{
		{"connection changed", "Connection", "Keep-Alive, TE"},
		{"stream changed", "x-amzn-stream-name", "cam-2"},
		{"user agent changed", "User-Agent", "curl/8.0"},
		{"host changed", "Host", "localhost:" + host[strings.LastIndexByte(host, ':')+1:]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sent := base()
			for i := range sent {
				if sent[i][0] == tt.header {
					sent[i][1] = tt.value
				}
			}
			status, out := send(t, base(), sent)
			if status != http.StatusForbidden || out["__type"] != string(InvalidSignature) {
				t.Errorf("status %d, body %v; want 403 InvalidSignatureException", status, out)
			}
		})
	}

	t.Run("transfer-encoding is part of the signature", func(t *testing.T) {
		signed := base()
		for i := range signed {
			if signed[i][0] == "Transfer-Encoding" {
				signed[i][1] = "identity"
			}
		}
		status, out := send(t, signed, base())
		if status != http.StatusForbidden || out["__type"] != string(InvalidSignature) {
			t.Errorf("status %d, body %v; want 403 InvalidSignatureException", status, out)
		}
	})
}

// TestStreamingAuthErrorNotBlocked checks that a chunked request with a bad
// signature is answered at once, before (and without) its body: a PutMedia
// producer that waits for the response must not hang.
func TestStreamingAuthErrorNotBlocked(t *testing.T) {
	now := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Now: fixedNow(now)})
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("handler reached with a bad signature")
	})))
	defer srv.Close()
	host := srv.Listener.Addr().String()
	headers := [][2]string{{"Host", host}, {"Transfer-Encoding", "chunked"}, {"X-Amz-Date", now.Format("20060102T150405Z")}}
	authz := producerSign("POST", "/putMedia", "", headers, testAKID, "wrong-secret", "us-west-2", "kinesisvideo", now)
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "POST /putMedia HTTP/1.1\r\n"
	for _, h := range headers {
		req += h[0] + ": " + h[1] + "\r\n"
	}
	// A first chunk of 1 MiB announced, then silence.
	req += "Authorization: " + authz + "\r\n\r\n" + fmt.Sprintf("%x\r\n", 1<<20) + strings.Repeat("x", 1000)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response before the body ended: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !resp.Close {
		t.Fatalf("status %d, close %v; want 403 and Connection: close", resp.StatusCode, resp.Close)
	}
}
