package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/certs"
	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/signaling"
	"github.com/openkvs/openkvs/internal/turnserver"
)

// turnSecretFile keeps the TURN credential secret in the data dir, so that
// credentials handed out before a restart stay valid after it.
const turnSecretFile = "turn-secret"

// buildSignaling builds the signaling half of KVS (WebSocket signaling,
// GetIceServerConfig, SendAlexaOfferToMaster, STUN/TURN) and returns its
// operations.
func (s *Server) buildSignaling() ([]awsapi.Operation, error) {
	var ice func(string) []signaling.IceServer
	if s.cfg.TURN.Enabled {
		ts, err := s.startTURN()
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, ts.Close)
		ice = func(clientID string) []signaling.IceServer {
			list := ts.ICEServers(clientID)
			out := make([]signaling.IceServer, len(list))
			for i, e := range list {
				out[i] = signaling.IceServer{Uris: e.URIs, Username: e.Username, Password: e.Password, Ttl: e.TTL}
			}
			return out
		}
	}
	lim := s.cfg.Signaling
	svc, err := signaling.New(signaling.Config{
		Store:                 s.store,
		ICEServers:            ice,
		MaxViewers:            lim.MaxViewers,
		ConnectRate:           lim.ConnectRate,
		MaxMessageBytes:       lim.MaxMessageBytes,
		SDPRate:               lim.SDPRate,
		ICERate:               lim.ICERate,
		IdleTimeout:           lim.IdleTimeout,
		MaxConnectionDuration: lim.MaxConnectionDuration,
		Bus:                   s.peerBus(),
		Now:                   s.now,
		Logger:                s.log.With("component", "signaling"),
	})
	if err != nil {
		return nil, fmt.Errorf("signaling: %w", err)
	}
	// Closed before the TURN server (closers run in reverse): clients get
	// GO_AWAY while their relays still work.
	s.closers = append(s.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		return svc.Close(ctx)
	})
	s.onChannelDeleted = append(s.onChannelDeleted, svc.ChannelDeleted)
	return svc.Operations(), nil
}

// startTURN opens the STUN/TURN sockets of cfg.TURN (UDP and TCP on one
// port, TLS when the server has a certificate) and starts the TURN server.
func (s *Server) startTURN() (*turnserver.Server, error) {
	secret, err := s.turnSecret()
	if err != nil {
		return nil, err
	}
	cfg := turnserver.Config{
		Secret:   secret,
		QuotaKey: signaling.QuotaKey,
		Now:      s.now,
		Logger:   s.log.With("component", "turn"),
	}
	if len(s.cfg.TURN.AllowPeers) > 0 {
		allowed, err := config.ParsePrefixes(s.cfg.TURN.AllowPeers)
		if err != nil {
			return nil, fmt.Errorf("turn: %w", err)
		}
		cfg.AllowedPeers = allowed
	}
	if ip := s.cfg.TURN.PublicIP; ip != "" {
		cfg.PublicIP = net.ParseIP(ip)
	}
	closeAll := func() {
		for _, c := range cfg.UDPConns {
			c.Close()
		}
		for _, l := range append(cfg.TCPListeners, cfg.TLSListeners...) {
			l.Close()
		}
	}
	if config.Enabled(s.cfg.TURN.Listen) {
		udp, tcp, err := listenUDPAndTCP(s.cfg.TURN.Listen)
		if err != nil {
			return nil, err
		}
		cfg.UDPConns, cfg.TCPListeners = []net.PacketConn{udp}, []net.Listener{tcp}
	}
	if config.Enabled(s.cfg.TURN.TLSListen) && s.tls != nil {
		l, err := tls.Listen("tcp4", s.cfg.TURN.TLSListen, &tls.Config{
			Certificates: []tls.Certificate{s.tls.Certificate},
			MinVersion:   tls.VersionTLS12,
		})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("turn: listen tls %s: %w", s.cfg.TURN.TLSListen, err)
		}
		cfg.TLSListeners = []net.Listener{l}
	}
	if len(cfg.UDPConns)+len(cfg.TLSListeners) == 0 {
		return nil, errors.New("turn: enabled but every TURN listener is off")
	}
	ts, err := turnserver.New(cfg)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("turn: %w", err)
	}
	return ts, nil
}

// listenUDPAndTCP opens a UDP socket and a TCP listener on addr; with port
// 0, both on one kernel-chosen port. The TCP port is chosen first, because
// TCP ports are the scarce ones (every outgoing connection holds one) and a
// UDP socket on the same number is almost always free.
func listenUDPAndTCP(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("turn: listen %q: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		tcp, err := net.Listen("tcp4", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("turn: listen tcp %s: %w", addr, err)
		}
		got := net.JoinHostPort(host, strconv.Itoa(tcp.Addr().(*net.TCPAddr).Port))
		udp, err := net.ListenPacket("udp4", got)
		if err == nil {
			return udp, tcp, nil
		}
		tcp.Close()
		if port != "0" || attempt == 49 {
			return nil, nil, fmt.Errorf("turn: listen udp %s: %w", got, err)
		}
	}
}

// turnSecret returns the TURN credential secret kept in the data dir,
// creating it on first start.
//
// A configured secret (--turn-secret, shared by a cluster's nodes) takes
// its place and leaves the data dir alone.
func (s *Server) turnSecret() ([]byte, error) {
	if s.cfg.TURN.Secret != "" {
		return []byte(s.cfg.TURN.Secret), nil
	}
	path := filepath.Join(s.cfg.DataDir, turnSecretFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) < 16 {
			return nil, fmt.Errorf("turn secret %s: want at least 32 hex digits", path)
		}
		return secret, nil
	case errors.Is(err, os.ErrNotExist):
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		if err := certs.WriteFileAtomic(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("turn secret: %w", err)
		}
		return secret, nil
	default:
		return nil, fmt.Errorf("turn secret: %w", err)
	}
}
