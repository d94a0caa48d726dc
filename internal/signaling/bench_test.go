package signaling

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// memStore is a ChannelStore in a map: the benchmarks measure signaling,
// not the catalog.
type memStore struct {
	mu sync.Mutex
	m  map[string]*catalog.Channel
}

func (s *memStore) GetChannel(_ context.Context, name string) (*catalog.Channel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[name]; ok {
		return c, nil
	}
	return nil, catalog.ErrNotFound
}

// benchServer serves a Service with real time and the SigV4 verifier in
// front, on loopback.
type benchServer struct {
	svc   *Service
	store *memStore
	srv   *httptest.Server
	tls   bool
}

func newBenchServer(b *testing.B, edit func(*Config)) *benchServer {
	return newBenchServerTLS(b, false, edit)
}

// newBenchServerTLS is newBenchServer, serving wss:// when useTLS is set.
func newBenchServerTLS(b *testing.B, useTLS bool, edit func(*Config)) *benchServer {
	return newBenchServerOn(b, &memStore{m: make(map[string]*catalog.Channel)}, useTLS, edit)
}

// newBenchServerOn is newBenchServerTLS on a given store, which the nodes
// of a cluster share.
func newBenchServerOn(b *testing.B, store *memStore, useTLS bool, edit func(*Config)) *benchServer {
	b.Helper()
	// The benchmarks connect thousands of clients a second.
	cfg := Config{Store: store, ConnectRate: -1, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if edit != nil {
		edit(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	verifier, err := awsapi.NewVerifier(awsapi.VerifierConfig{Credentials: map[string]string{testKeyID: testSecret}})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, op := range svc.Operations() {
		mux.Handle(op.Pattern, verifier.Middleware(op.Handler))
	}
	srv := httptest.NewUnstartedServer(mux)
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	bs := &benchServer{svc: svc, store: store, srv: srv, tls: useTLS}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = svc.Close(ctx)
		bs.srv.Close()
	})
	return bs
}

func (bs *benchServer) channel(name string) string {
	arn := awsapi.NewARN(testRegion, testAcct, "channel", name, time.Unix(1700000000, 0))
	bs.store.mu.Lock()
	bs.store.m[name] = &catalog.Channel{Name: name, ARN: arn, Status: catalog.StatusActive, MessageTTLSeconds: 60}
	bs.store.mu.Unlock()
	return arn
}

func (bs *benchServer) presign(b *testing.B, arn, clientID string) string {
	u, err := presignURL(bs.srv.Listener.Addr().String(), arn, clientID, presignOpts{})
	if err != nil {
		b.Fatal(err)
	}
	if bs.tls {
		u = "wss" + strings.TrimPrefix(u, "ws")
	}
	return u
}

// rss returns the process' resident set size in bytes.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// cpuTime is the process' user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// goMem is what the Go runtime holds for the heap and goroutine stacks.
func goMem() (total, stack uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse + ms.MSpanInuse + ms.MCacheInuse, ms.StackInuse
}

const benchChildEnv = "OPENKVS_SIGNALING_BENCH_CLIENTS"

// TestBenchClientProcess is the client side of BenchmarkIdleConnections,
// run in a child process so that its sockets and memory do not count: it
// dials every URL in the file named by $OPENKVS_SIGNALING_BENCH_CLIENTS,
// prints "ready N", and holds the connections until stdin closes.
func TestBenchClientProcess(t *testing.T) {
	path := os.Getenv(benchChildEnv)
	if path == "" {
		t.Skip("only run by BenchmarkIdleConnections")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	urls := strings.Fields(string(data))
	conns := make([]*websocket.Conn, len(urls))
	var opts *websocket.DialOptions
	if ca := os.Getenv(benchChildEnv + "_CA"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		opts = &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, _, err := websocket.Dial(ctx, urls[i], opts)
				cancel()
				if err != nil {
					select {
					case errs <- fmt.Errorf("dial %d: %w", i, err):
					default:
					}
					continue
				}
				// Answer the server's pings and notice its close.
				c.CloseRead(context.Background())
				conns[i] = c
			}
		})
	}
	for i := range urls {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		fmt.Println("error", err)
		os.Exit(1)
	default:
	}
	fmt.Println("ready", len(conns))
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.CloseNow()
	}
}

// BenchmarkIdleConnections holds $OPENKVS_BENCH_CONNS (default 19,900: the
// machine's hard limit is 20,000 open files per process) idle signaling
// WebSockets, a master and 10 viewers per channel, and reports the
// server's memory per connection: Go heap and stacks (go-B/conn) and
// resident set (rss-B/conn), over plain ws:// and over wss:// (TLS, as the
// SDKs connect). The clients run in a child process. Run with
// -benchtime=1x.
func BenchmarkIdleConnections(b *testing.B) {
	for _, scheme := range []string{"ws", "wss"} {
		b.Run(scheme, func(b *testing.B) { benchIdle(b, scheme == "wss") })
	}
}

func benchIdle(b *testing.B, useTLS bool) {
	n := 19900
	if v := os.Getenv("OPENKVS_BENCH_CONNS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(n)+64 {
		b.Skipf("RLIMIT_NOFILE is %d; %d connections need %d (raise ulimit -n or set OPENKVS_BENCH_CONNS)", lim.Cur, n, n+64)
	}
	if os.Getenv("OPENKVS_BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 512
	}
	for range b.N {
		bs := newBenchServerTLS(b, useTLS, nil)
		var urls []string
		for i := 0; len(urls) < n; i++ {
			arn := bs.channel(fmt.Sprintf("idle-%d", i))
			urls = append(urls, bs.presign(b, arn, ""))
			for v := 0; v < DefaultMaxViewers && len(urls) < n; v++ {
				urls = append(urls, bs.presign(b, arn, fmt.Sprintf("viewer-%d", v)))
			}
		}
		list := filepath.Join(b.TempDir(), "urls")
		if err := os.WriteFile(list, []byte(strings.Join(urls, "\n")), 0o600); err != nil {
			b.Fatal(err)
		}
		beforeGo, beforeStack := goMem()
		beforeRSS := rss()

		cmd := exec.Command(os.Args[0], "-test.run=^TestBenchClientProcess$", "-test.v")
		cmd.Env = append(os.Environ(), benchChildEnv+"="+list)
		if useTLS {
			ca := filepath.Join(b.TempDir(), "ca.pem")
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bs.srv.Certificate().Raw})
			if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
				b.Fatal(err)
			}
			cmd.Env = append(cmd.Env, benchChildEnv+"_CA="+ca)
		}
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		ready := false
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "error") {
				b.Fatal(line)
			}
			if strings.HasPrefix(line, "ready") {
				ready = true
				break
			}
		}
		if !ready {
			b.Fatal("client process ended before it was ready")
		}
		dialTime := time.Since(start)
		st := bs.svc.Stats()
		if st.Masters+st.Viewers != n {
			b.Fatalf("server holds %+v, want %d connections", st, n)
		}
		afterGo, afterStack := goMem()
		afterRSS := rss()
		if path := os.Getenv("OPENKVS_BENCH_HEAPPROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		b.ReportMetric(float64(n), "conns")
		b.ReportMetric(float64(afterGo-beforeGo)/float64(n), "go-B/conn")
		b.ReportMetric(float64(afterStack-beforeStack)/float64(n), "stack-B/conn")
		b.ReportMetric(float64(afterRSS-beforeRSS)/float64(n), "rss-B/conn")
		b.ReportMetric(float64(n)/dialTime.Seconds(), "conns/s")
		stdin.Close()
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		_ = cmd.Wait()
	}
}

// member returns the string value of "name" in a server frame (the bench
// clients skip encoding/json so as to leave the CPU to the server).
func member(frame []byte, name string) []byte {
	key := `"` + name + `":"`
	i := bytes.Index(frame, []byte(key))
	if i < 0 {
		return nil
	}
	v := frame[i+len(key):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return nil
	}
	return v[:j]
}

// BenchmarkOfferAnswerRoundTrip measures offer → master → answer through
// the server at a steady $OPENKVS_BENCH_RATE round trips a second (default
// 2,000) spread over 10 channels of a master and 10 viewers, and reports
// the p50 and p99 round-trip time. Each round trip carries a 4 KB
// (base64) offer and answer, the size of a real SDP. Rate limits are
// lifted (a master answering 10 viewers is over KVS' 5 SDP/s); everything
// else is the default. Clients run in-process; cpu-µs/rt is the CPU time
// of the whole process (server and clients) per round trip.
func BenchmarkOfferAnswerRoundTrip(b *testing.B) {
	bs := newBenchServer(b, func(c *Config) { c.SDPRate, c.ICERate = -1, -1 })
	benchRoundTrip(b, bs, bs)
}

// benchRoundTrip runs BenchmarkOfferAnswerRoundTrip with the masters
// connected to masters and the viewers to viewers (the same server, or
// two nodes of a cluster).
func benchRoundTrip(b *testing.B, masters, viewers *benchServer) {
	rate := 2000
	if v := os.Getenv("OPENKVS_BENCH_RATE"); v != "" {
		rate, _ = strconv.Atoi(v)
	}
	bs := masters
	dial := func(u string) *websocket.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, u, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		return c
	}
	type viewer struct {
		conn *websocket.Conn
		out  chan []byte
	}
	var viewerConns []*viewer
	var wg sync.WaitGroup
	var conns []*websocket.Conn
	for ch := range 10 {
		arn := bs.channel(fmt.Sprintf("rtt-%d", ch))
		master := dial(bs.presign(b, arn, ""))
		conns = append(conns, master)
		wg.Go(func() { // the master answers every offer with its payload
			var out []byte
			for {
				_, data, err := master.Read(context.Background())
				if err != nil {
					return
				}
				sender, payload := member(data, "senderClientId"), member(data, "messagePayload")
				if sender == nil || payload == nil {
					continue
				}
				out = append(out[:0], `{"action":"SDP_ANSWER","recipientClientId":"`...)
				out = append(out, sender...)
				out = append(out, `","messagePayload":"`...)
				out = append(out, payload...)
				out = append(out, `"}`...)
				if master.Write(context.Background(), websocket.MessageText, out) != nil {
					return
				}
			}
		})
		for v := range DefaultMaxViewers {
			viewerConns = append(viewerConns, &viewer{conn: dial(viewers.presign(b, arn, fmt.Sprintf("v%d", v)))})
		}
	}

	pad := strings.Repeat("a=candidate:0 1 udp 2122260223 127.0.0.1 50000 typ host\r\n", 52)
	var mu sync.Mutex
	sent := make(map[int]time.Time, b.N)
	rtts := make([]time.Duration, 0, b.N)
	done := make(chan struct{})
	for _, v := range viewerConns {
		conns = append(conns, v.conn)
		wg.Go(func() {
			for {
				_, data, err := v.conn.Read(context.Background())
				if err != nil {
					return
				}
				now := time.Now()
				payload := member(data, "messagePayload")
				if len(payload) < 24 {
					continue
				}
				head, _ := base64.StdEncoding.DecodeString(string(payload[:24]))
				seq, _ := strconv.Atoi(strings.TrimSpace(string(head[:16])))
				mu.Lock()
				rtts = append(rtts, now.Sub(sent[seq]))
				if len(rtts) == b.N {
					close(done)
				}
				mu.Unlock()
			}
		})
	}

	// An offer frame is a template with the sequence number written into
	// its first 24 base64 characters (18 bytes: the rest encodes the
	// same whatever the number).
	head := `{"action":"SDP_OFFER","messagePayload":"`
	tmpl := []byte(head + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%16d  %s", 0, pad)) + `"}`)
	for _, v := range viewerConns {
		v.out = make(chan []byte, 1024)
		wg.Go(func() {
			for f := range v.out {
				if v.conn.Write(context.Background(), websocket.MessageText, f) != nil {
					return
				}
			}
		})
	}
	interval := time.Second / time.Duration(rate)
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	// Every millisecond, send the offers that are due: a steady rate even
	// when ticks are late.
	for seq := 0; seq < b.N; {
		<-tick.C
		due := min(b.N, int(time.Since(start)/interval)+1)
		for ; seq < due; seq++ {
			v := viewerConns[seq%len(viewerConns)]
			frame := bytes.Clone(tmpl)
			base64.StdEncoding.Encode(frame[len(head):len(head)+24], fmt.Appendf(nil, "%16d  ", seq))
			mu.Lock()
			sent[seq] = time.Now()
			mu.Unlock()
			v.out <- frame
		}
	}
	elapsed := time.Since(start)
	tick.Stop()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatalf("only %d of %d answers", len(rtts), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/rt")
	slices.Sort(rtts)
	pct := func(p float64) float64 { return float64(rtts[int(p*float64(len(rtts)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "offers/s")
	for _, v := range viewerConns {
		close(v.out)
	}
	for _, c := range conns {
		c.CloseNow()
	}
	wg.Wait()
}

// BenchmarkDecodeMessage decodes a C-SDK style offer of 4 KB of base64.
func BenchmarkDecodeMessage(b *testing.B) {
	payload := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a=candidate:0 1 udp 2122260223 127.0.0.1 50000 typ host\r\n", 52)))
	frame := []byte(`{"action":"SDP_OFFER","RecipientClientId":"","MessagePayload":"` + payload + `","CorrelationId":"c-1"}`)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMessage(frame, 0); err != nil {
			b.Fatal(err)
		}
	}
}
