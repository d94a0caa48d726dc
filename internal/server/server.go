// Package server is openkvs' composition root: it builds every component
// from one config.Config in dependency order, mounts all APIs on one routing
// table, serves it on the HTTP and HTTPS listeners and shuts down in reverse.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/certs"
	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/controlplane"
)

// Options are the parts of a server that are not configuration.
type Options struct {
	// Logger receives the server's log. Defaults to slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Server is a running openkvs.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	now      func() time.Time
	registry *prometheus.Registry
	metrics  *metrics
	verifier *awsapi.Verifier
	store    catalog.Store
	control  *controlplane.Service
	creds    Credentials
	tls      *certs.Result
	ep       *endpoints
	handler  http.Handler

	// Hooks run after the control plane deleted a stream or channel.
	onStreamDeleted  []func(context.Context, *catalog.Stream)
	onChannelDeleted []func(context.Context, *catalog.Channel)
	// onShutdown runs when Shutdown begins, before the HTTP servers wait
	// for running requests (it ends long-lived streams such as PutMedia).
	onShutdown []func()

	mu        sync.Mutex
	httpLn    net.Listener
	tlsLn     net.Listener
	servers   []*http.Server
	closers   []func() error
	serveErrs chan error
}

// Credentials is the access key clients sign with.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// Generated reports that the key was created by this server (and is
	// kept in the data dir).
	Generated bool
}

// New builds a server from cfg: it opens the data dir, the metadata store
// and the TLS material and mounts every API, but listens on nothing yet.
func New(cfg config.Config, opts Options) (s *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s = &Server{cfg: cfg, log: opts.Logger, now: opts.Now, registry: prometheus.NewRegistry(), serveErrs: make(chan error, 2)}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	built := s // the named result is nil when an error is returned
	defer func() {
		if err != nil {
			built.closeAll()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = newMetrics(s.registry)

	keys, err := s.loadCredentials()
	if err != nil {
		return nil, err
	}
	s.verifier, err = awsapi.NewVerifier(awsapi.VerifierConfig{Credentials: keys, Now: s.now})
	if err != nil {
		return nil, fmt.Errorf("sigv4: %w", err)
	}

	if config.Enabled(cfg.TLSListen) {
		if err := s.loadTLS(); err != nil {
			return nil, err
		}
	}

	store, err := s.openCatalog()
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	s.store = store
	s.closers = append(s.closers, store.Close)

	ep, err := s.endpoints()
	if err != nil {
		return nil, err
	}
	s.control, err = controlplane.New(controlplane.Config{
		Store:     store,
		Region:    cfg.Region,
		AccountID: cfg.AccountID,
		Endpoints: ep,
		Now:       s.now,
		Logger:    s.log.With("component", "controlplane"),
		OnStreamDeleted: func(ctx context.Context, st *catalog.Stream) {
			for _, f := range s.onStreamDeleted {
				f(ctx, st)
			}
		},
		OnChannelDeleted: func(ctx context.Context, c *catalog.Channel) {
			for _, f := range s.onChannelDeleted {
				f(ctx, c)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}

	// Each half of KVS builds its components in its own file of this
	// package (signaling.go, media.go, console.go) and returns its operations.
	signalingOps, err := s.buildSignaling()
	if err != nil {
		return nil, err
	}
	mediaOps, err := s.buildMedia()
	if err != nil {
		return nil, err
	}
	consoleOps, err := s.buildConsole()
	if err != nil {
		return nil, err
	}
	s.handler = s.routes(s.control.Operations(), signalingOps, mediaOps, consoleOps)
	return s, nil
}

// routes builds the one routing table of every API.
func (s *Server) routes(groups ...[]awsapi.Operation) http.Handler {
	mux := http.NewServeMux()
	health := awsapi.Operation{Name: "Healthz", Pattern: "GET /healthz", Auth: awsapi.AuthNone,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("ok\n"))
		})}
	metricsOp := awsapi.Operation{Name: "Metrics", Pattern: "GET /metrics", Auth: awsapi.AuthNone,
		Handler: promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})}
	unknown := awsapi.Operation{Name: "Unknown", Pattern: "/", Auth: awsapi.AuthNone,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			awsapi.WriteError(w, r, awsapi.Errorf(awsapi.UnknownOperation, "no operation at %s %s", r.Method, r.URL.Path))
		})}
	all := []awsapi.Operation{health, metricsOp, unknown}
	for _, g := range groups {
		all = append(all, g...)
	}
	for _, op := range all {
		mux.Handle(op.Pattern, s.wrap(op))
	}
	return cors(mux)
}

// Handler returns the routing table (for tests that serve it themselves).
func (s *Server) Handler() http.Handler { return s.handler }

// Credentials returns the first configured (or the generated) access key.
func (s *Server) Credentials() Credentials { return s.creds }

// CAPath returns the PEM file of the CA that signed the served certificate,
// or "" when the user brought their own certificate or TLS is off.
func (s *Server) CAPath() string {
	if s.tls == nil {
		return ""
	}
	return s.tls.CAPath
}

// Start opens the listeners and serves in the background. Serving errors
// are reported by Wait.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Open both listeners before serving either: the endpoints handed out
	// on one name the other's port.
	if config.Enabled(s.cfg.Listen) {
		ln, err := net.Listen("tcp", s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
		}
		s.httpLn = ln
	}
	if config.Enabled(s.cfg.TLSListen) {
		ln, err := net.Listen("tcp", s.cfg.TLSListen)
		if err != nil {
			if s.httpLn != nil {
				s.httpLn.Close()
				s.httpLn = nil
			}
			return fmt.Errorf("listen %s: %w", s.cfg.TLSListen, err)
		}
		s.tlsLn = ln
		s.ep.tlsPort = ln.Addr().(*net.TCPAddr).Port
	}
	if s.httpLn != nil {
		s.serve(s.httpLn)
	}
	if s.tlsLn != nil {
		tcfg := &tls.Config{
			Certificates: []tls.Certificate{s.tls.Certificate},
			MinVersion:   tls.VersionTLS12,
			// Offer h2 to those who ask; the KVS C SDKs (libcurl,
			// libwebsockets) negotiate http/1.1 or nothing.
			NextProtos: []string{"h2", "http/1.1"},
		}
		s.serve(tls.NewListener(s.tlsLn, tcfg))
	}
	return nil
}

func (s *Server) serve(ln net.Listener) {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.servers = append(s.servers, hs)
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErrs <- err
		}
	}()
}

// Wait blocks until ctx is done or a listener fails.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.serveErrs:
		return err
	}
}

// HTTPAddr returns the plain HTTP listener's address, or nil.
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// TLSAddr returns the HTTPS listener's address, or nil.
func (s *Server) TLSAddr() net.Addr {
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// Shutdown stops accepting requests, waits for running ones up to ctx's
// deadline, then closes every component in reverse order of creation.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	for _, f := range s.onShutdown {
		f()
	}
	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = hs.Close()
		}
	}
	errs = append(errs, s.closeAll())
	return errors.Join(errs...)
}

func (s *Server) closeAll() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}

func (s *Server) loadTLS() error {
	if s.cfg.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		s.tls = &certs.Result{Certificate: pair}
		return nil
	}
	res, err := certs.Ensure(certs.Config{Dir: filepath.Join(s.cfg.DataDir, "tls"), Hosts: s.cfg.TLSHosts, Now: s.now})
	if err != nil {
		return err
	}
	s.tls = res
	return nil
}

func (s *Server) endpoints() (*endpoints, error) {
	ep := &endpoints{}
	if s.cfg.PublicURL != "" {
		u, err := url.Parse(s.cfg.PublicURL)
		if err != nil {
			return nil, fmt.Errorf("public url: %w", err)
		}
		ep.public = u
	}
	if config.Enabled(s.cfg.TLSListen) {
		_, port, _ := net.SplitHostPort(s.cfg.TLSListen)
		ep.tlsPort, _ = strconv.Atoi(port)
	}
	s.ep = ep
	return ep, nil
}
