package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testserver"
)

// TestStalledBodyTimesOut sends a request naming a known access key whose
// body, read before its signature can be checked, stops arriving: the
// server gives up after --body-read-timeout and closes the connection.
func TestStalledBodyTimesOut(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Configure: func(c *config.Config) { c.BodyReadTimeout = 50 * time.Millisecond }})
	addr := srv.HTTPAddr().String()
	body := strings.Repeat("{}", 500)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/listStreams", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	testserver.SignAsProducer(req, time.Now())
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	head := "POST /listStreams HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	for k, vs := range req.Header {
		head += k + ": " + strings.Join(vs, ",") + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"+body[:10]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("x-amzn-ErrorType") != "InvalidArgumentException" || !resp.Close {
		t.Fatalf("stalled body: %s %s close=%v", resp.Status, resp.Header.Get("x-amzn-ErrorType"), resp.Close)
	}
}
