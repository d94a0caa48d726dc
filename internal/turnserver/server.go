// Package turnserver is openkvs' built-in STUN/TURN server, the relay that
// GetIceServerConfig points WebRTC peers at.
//
// It wraps pion/turn with what KVS clients expect:
//
//   - time-limited credentials in the TURN REST API style ("EXPIRY:CLIENTID",
//     base64 HMAC-SHA1 password) minted by Credentials or MintCredential and
//     checked against an injectable clock; an expired credential opens no new
//     allocation but may keep refreshing the ones it opened;
//   - allocation caps per quota key (the access key, in openkvs) and in
//     total (486 Allocation Quota Reached), and caps on the permissions and
//     channel bindings of one allocation (508 Insufficient Capacity);
//   - a peer policy that keeps the relay from reaching loopback, private,
//     link-local and this host's own addresses (403 Forbidden) unless
//     allowed, by default only for a server that is itself on such an
//     address (one machine or a private network);
//   - TCP and TLS connections closed when they send no authenticated
//     request within 10 s, and capped while they have not;
//   - STUN Binding on the same sockets;
//   - ICEServers, the IceServerList entries of a GetIceServerConfig answer.
//
// Sockets and listeners are opened by the caller and handed in; every UDP
// socket gets its own read loop, so several sockets bound to one port with
// SO_REUSEPORT spread the load over cores.
package turnserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/turn/v4"

	"github.com/openkvs/openkvs/internal/pionlog"
)

// Defaults for Config fields left zero.
const (
	DefaultRealm                   = "openkvs"
	DefaultCredentialTTL           = 300 * time.Second
	DefaultMaxAllocationsPerClient = 1000
	DefaultMaxAllocations          = 10000
	DefaultSocketBufferBytes       = 1 << 20

	DefaultMaxPermissionsPerAllocation = 32
	DefaultMaxChannelsPerAllocation    = 32
	DefaultAuthTimeout                 = 10 * time.Second
	DefaultMaxUnauthenticatedConns     = 1000
)

// closeTimeout bounds how long Close waits for allocations to wind down.
const closeTimeout = 5 * time.Second

// Config configures a Server.
type Config struct {
	// Realm is the STUN realm. Default "openkvs".
	Realm string

	// Secret is the HMAC key of the time-limited credentials; at least 16
	// bytes. Required. Every node that mints or checks credentials for the
	// same TURN servers shares it.
	Secret []byte

	// UDPConns are the UDP sockets to serve STUN and TURN on. Each gets its
	// own read loop; several sockets sharing a port (SO_REUSEPORT) spread
	// the load. The Server takes ownership and closes them.
	UDPConns []net.PacketConn
	// TCPListeners accept STUN/TURN over TCP (RFC 6062 framing is not
	// needed: messages are length-delimited). Closed by the Server.
	TCPListeners []net.Listener
	// TLSListeners accept STUN/TURN over TLS ("turns:"); the caller wraps
	// them with crypto/tls. Closed by the Server.
	TLSListeners []net.Listener

	// RelayIP is the IPv4 address relay sockets bind to. Default: the IP of
	// the first UDP socket, else of the first TCP or TLS listener.
	RelayIP net.IP
	// PublicIP is the IPv4 address advertised to clients as the relayed
	// address; set it when the server sits behind NAT. Default: RelayIP.
	// Required when RelayIP is unspecified (0.0.0.0).
	PublicIP net.IP
	// RelayMinPort and RelayMaxPort restrict relay sockets to a port range
	// (for firewalls). Default 0, 0: ephemeral ports.
	RelayMinPort, RelayMaxPort int
	// AllowedPeers are the peer address ranges clients may relay to even
	// though they are loopback, private (RFC 1918, fc00::/7), link-local,
	// reserved or this host's own addresses, which are refused otherwise
	// (403 Forbidden), so that a public relay does not open the way into
	// the network it runs in. Nil (the default): when PublicIP is itself
	// loopback, private or link-local (a server for one machine or a
	// private network) all such ranges but this host's public addresses;
	// otherwise none. Non-nil and empty: none.
	AllowedPeers []netip.Prefix
	// MaxPermissionsPerAllocation and MaxChannelsPerAllocation cap the
	// peer IPs one allocation holds permissions for and its channel
	// bindings (508 Insufficient Capacity beyond). Default 32 each: a
	// WebRTC peer connection needs one per candidate of the remote peer.
	MaxPermissionsPerAllocation int
	MaxChannelsPerAllocation    int
	// AuthTimeout is how long a TCP or TLS connection may stay open
	// without an authenticated request before it is closed. Default 10 s.
	AuthTimeout time.Duration
	// MaxUnauthenticatedConns caps the TCP and TLS connections (per
	// listener) that have not sent an authenticated request yet; more are
	// closed at once. Default 1000.
	MaxUnauthenticatedConns int

	// Hosts are the host names or IP literals clients reach this server at;
	// ICEServers returns one entry per host, at most 5 (the KVS C SDK's
	// limit). Default: PublicIP.
	Hosts []string
	// CredentialTTL is how long the credentials returned by ICEServers stay
	// valid for new allocations, between 30 s and 24 h. Default 300 s, the
	// value KVS answers with.
	CredentialTTL time.Duration

	// QuotaKey maps a credential's client id (the part of the username
	// after the expiry) to the key MaxAllocationsPerClient counts by.
	// Default: the client id itself. openkvs mints client ids that start
	// with the caller's access key, and counts by it, so that callers
	// cannot open more quota by choosing new ClientIds.
	QuotaKey func(clientID string) string
	// MaxAllocationsPerClient caps the live allocations of one quota key.
	// Default 1000: one access key may serve many channels, each master
	// allocating for every viewer (up to 10) once per TURN URI and local
	// address, and ICE restarts overlap with the allocations they replace.
	// Negative is invalid; use a large value for "unlimited".
	MaxAllocationsPerClient int
	// MaxAllocations caps the live allocations of the whole server. Default
	// 10000. Each allocation holds one relay socket (a file descriptor).
	MaxAllocations int

	// SocketBufferBytes is the receive and send buffer size requested for
	// the UDP sockets and every relay socket (the kernel caps it at
	// net.core.rmem_max / wmem_max). Default 1 MiB; negative keeps the OS
	// defaults.
	SocketBufferBytes int

	// Now is the clock credentials are minted and checked with. Default
	// time.Now.
	Now func() time.Time
	// Logger receives the server's and pion/turn's messages. Default: discard.
	Logger *slog.Logger
}

// Server is a running STUN/TURN server.
type Server struct {
	realm    string
	secret   []byte
	ttl      time.Duration
	now      func() time.Time
	log      *slog.Logger
	quota    *quota
	quotaKey func(string) string
	peers    *peerPolicy
	limits   *allocLimits
	hosts    []string
	udpPort  int // 0 when not served
	tcpPort  int
	tlsPort  int

	turn      *turn.Server
	listeners []*trackingListener

	closeOnce sync.Once
	closeErr  error
}

// Stats is a snapshot of a Server's load.
type Stats struct {
	// Allocations is the number of live allocations.
	Allocations int
	// Clients is the number of client ids holding allocations.
	Clients int
}

// New starts serving on the sockets and listeners in cfg.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		realm:    cfg.Realm,
		secret:   append([]byte(nil), cfg.Secret...),
		ttl:      cfg.CredentialTTL,
		now:      cfg.Now,
		log:      cfg.Logger,
		quota:    newQuota(cfg.Now, cfg.MaxAllocationsPerClient, cfg.MaxAllocations),
		quotaKey: cfg.QuotaKey,
		peers:    newPeerPolicy(cfg, hostAddrs()),
		limits:   newAllocLimits(cfg.Now, cfg.MaxPermissionsPerAllocation, cfg.MaxChannelsPerAllocation),
		hosts:    cfg.Hosts,
	}
	relay := &relayAllocator{
		bindIP:     cfg.RelayIP,
		publicIP:   cfg.PublicIP,
		minPort:    cfg.RelayMinPort,
		maxPort:    cfg.RelayMaxPort,
		bufferSize: max(cfg.SocketBufferBytes, 0),
		log:        cfg.Logger,
	}

	var pcs []turn.PacketConnConfig
	for _, c := range cfg.UDPConns {
		setBuffers(c, cfg.SocketBufferBytes, cfg.Logger)
		pcs = append(pcs, turn.PacketConnConfig{
			PacketConn:            &guardedPacketConn{PacketConn: c, s: s},
			RelayAddressGenerator: relay,
			PermissionHandler:     s.permitPeer,
		})
	}
	var lcs []turn.ListenerConfig
	for _, group := range [][]net.Listener{cfg.TCPListeners, cfg.TLSListeners} {
		for _, l := range group {
			tl := newTrackingListener(l, cfg.Logger)
			tl.inspect, tl.authTimeout, tl.maxUnauth = s.inspect, cfg.AuthTimeout, cfg.MaxUnauthenticatedConns
			s.listeners = append(s.listeners, tl)
			lcs = append(lcs, turn.ListenerConfig{
				Listener:              tl,
				RelayAddressGenerator: relay,
				PermissionHandler:     s.permitPeer,
			})
		}
	}
	s.udpPort = firstPort(cfg.UDPConns, nil)
	s.tcpPort = firstPort(nil, cfg.TCPListeners)
	s.tlsPort = firstPort(nil, cfg.TLSListeners)

	s.turn, err = turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: pcs,
		ListenerConfigs:   lcs,
		LoggerFactory:     pionlog.New(cfg.Logger),
		Realm:             cfg.Realm,
		AuthHandler:       s.authenticate,
		QuotaHandler:      s.admit,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: s.onAllocationCreated,
			OnAllocationDeleted: s.onAllocationDeleted,
			OnAllocationError:   s.onAllocationError,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("turnserver: start pion/turn: %w", err)
	}
	s.log.Info("TURN server started",
		"udp", len(cfg.UDPConns), "tcp", len(cfg.TCPListeners), "tls", len(cfg.TLSListeners),
		"relay_ip", cfg.RelayIP, "public_ip", cfg.PublicIP, "realm", cfg.Realm)
	return s, nil
}

func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Secret) == 0 {
		return cfg, ErrNoSecret
	}
	if len(cfg.Secret) < 16 {
		return cfg, ErrShortSecret
	}
	if len(cfg.UDPConns)+len(cfg.TCPListeners)+len(cfg.TLSListeners) == 0 {
		return cfg, ErrNoListeners
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.CredentialTTL == 0:
		cfg.CredentialTTL = DefaultCredentialTTL
	case cfg.CredentialTTL < 30*time.Second || cfg.CredentialTTL > 24*time.Hour:
		return cfg, ErrCredentialTTL
	}
	if cfg.MaxAllocationsPerClient < 0 || cfg.MaxAllocations < 0 || cfg.MaxPermissionsPerAllocation < 0 ||
		cfg.MaxChannelsPerAllocation < 0 || cfg.MaxUnauthenticatedConns < 0 || cfg.AuthTimeout < 0 {
		return cfg, ErrNegativeLimit
	}
	if cfg.QuotaKey == nil {
		cfg.QuotaKey = func(id string) string { return id }
	}
	for _, d := range []struct {
		field *int
		value int
	}{
		{&cfg.MaxPermissionsPerAllocation, DefaultMaxPermissionsPerAllocation},
		{&cfg.MaxChannelsPerAllocation, DefaultMaxChannelsPerAllocation},
		{&cfg.MaxUnauthenticatedConns, DefaultMaxUnauthenticatedConns},
		{&cfg.MaxAllocationsPerClient, DefaultMaxAllocationsPerClient},
		{&cfg.MaxAllocations, DefaultMaxAllocations},
		{&cfg.SocketBufferBytes, DefaultSocketBufferBytes},
	} {
		if *d.field == 0 {
			*d.field = d.value
		}
	}
	if cfg.AuthTimeout == 0 {
		cfg.AuthTimeout = DefaultAuthTimeout
	}
	if cfg.RelayMinPort != 0 || cfg.RelayMaxPort != 0 {
		if cfg.RelayMinPort < 1 || cfg.RelayMinPort > cfg.RelayMaxPort || cfg.RelayMaxPort > 65535 {
			return cfg, ErrRelayPortRange
		}
	}

	if cfg.RelayIP == nil {
		cfg.RelayIP = listenerIP(cfg)
	}
	if cfg.RelayIP.IsUnspecified() {
		cfg.RelayIP = net.IPv4zero
	}
	if cfg.PublicIP == nil {
		if cfg.RelayIP.IsUnspecified() {
			return cfg, ErrPublicIPRequired
		}
		cfg.PublicIP = cfg.RelayIP
	}
	// pion/turn v4 relays over "udp4" only.
	if cfg.RelayIP.To4() == nil || cfg.PublicIP.To4() == nil {
		return cfg, ErrRelayNotIPv4
	}
	cfg.RelayIP, cfg.PublicIP = cfg.RelayIP.To4(), cfg.PublicIP.To4()

	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []string{cfg.PublicIP.String()}
	}
	if len(cfg.Hosts) > MaxICEServers {
		return cfg, ErrTooManyHosts
	}
	cfg.Hosts = append([]string(nil), cfg.Hosts...)
	return cfg, nil
}

// listenerIP is the IP of the first socket or listener in cfg.
func listenerIP(cfg Config) net.IP {
	var a net.Addr
	switch {
	case len(cfg.UDPConns) > 0:
		a = cfg.UDPConns[0].LocalAddr()
	case len(cfg.TCPListeners) > 0:
		a = cfg.TCPListeners[0].Addr()
	default:
		a = cfg.TLSListeners[0].Addr()
	}
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.IP
	case *net.TCPAddr:
		return a.IP
	}
	return net.IPv4zero
}

func firstPort(pcs []net.PacketConn, ls []net.Listener) int {
	var a net.Addr
	switch {
	case len(pcs) > 0:
		a = pcs[0].LocalAddr()
	case len(ls) > 0:
		a = ls[0].Addr()
	default:
		return 0
	}
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.Port
	case *net.TCPAddr:
		return a.Port
	}
	return 0
}

// setBuffers asks for larger socket buffers on c when it supports them.
func setBuffers(c net.PacketConn, size int, log *slog.Logger) {
	if size <= 0 {
		return
	}
	type buffered interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	}
	b, ok := c.(buffered)
	if !ok {
		return
	}
	if err := b.SetReadBuffer(size); err != nil {
		log.Debug("set UDP read buffer", "err", err)
	}
	if err := b.SetWriteBuffer(size); err != nil {
		log.Debug("set UDP write buffer", "err", err)
	}
}

// Close stops serving: it closes the sockets, listeners and accepted
// connections, then waits (up to 5 s) for the allocations to be torn down.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.turn.Close()
		// pion/turn leaves accepted TCP/TLS connections open; close them so
		// their allocations go too.
		for _, l := range s.listeners {
			l.closeConns()
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if werr := s.quota.waitLive(ctx, 0); werr != nil {
			s.log.Warn("TURN server closed with allocations still live", "err", werr)
		}
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("turnserver: close: %w", err)
		}
	})
	return s.closeErr
}

// Stats returns the current load.
func (s *Server) Stats() Stats {
	a, c := s.quota.counts()
	return Stats{Allocations: a, Clients: c}
}

// Credentials mints a credential for clientID valid for new allocations
// during ttl from now (by the Server's clock).
func (s *Server) Credentials(clientID string, ttl time.Duration) (username, password string, expires time.Time) {
	expires = time.Unix(s.now().Add(ttl).Unix(), 0)
	username, password = MintCredential(s.secret, clientID, expires)
	return username, password, expires
}

// authenticate is pion's AuthHandler: it returns the long-term key of
// username if the credential is ours and not expired. An expired credential
// is still accepted from a client address that holds an allocation opened
// with it, so that Refresh, CreatePermission and ChannelBind keep working
// for the life of the session.
func (s *Server) authenticate(username, realm string, src net.Addr) ([]byte, bool) {
	if realm != s.realm {
		s.log.Debug("TURN auth: wrong realm", "realm", realm, "src", src)
		return nil, false
	}
	expires, _, err := ParseUsername(username)
	if err != nil {
		s.log.Debug("TURN auth: malformed username", "username", username, "src", src)
		return nil, false
	}
	if s.now().After(expires) && !s.quota.owns(src, username) {
		s.log.Debug("TURN auth: credential expired", "username", username, "src", src, "expired", expires)
		return nil, false
	}
	return turn.GenerateAuthKey(username, realm, sign(s.secret, username)), true
}

// admit is pion's QuotaHandler; it runs after authentication.
func (s *Server) admit(username, _ string, src net.Addr) bool {
	_, clientID, _ := ParseUsername(username)
	if !s.quota.admit(s.quotaKey(clientID), src) {
		s.log.Info("TURN allocation refused: quota reached", "client", clientID, "src", src)
		return false
	}
	return true
}

func (s *Server) onAllocationCreated(src, _ net.Addr, _, username, _ string, relay net.Addr, _ int) {
	_, clientID, _ := ParseUsername(username)
	s.quota.created(s.quotaKey(clientID), username, src)
	s.log.Debug("TURN allocation created", "client", clientID, "src", src, "relay", relay)
}

func (s *Server) onAllocationDeleted(src, dst net.Addr, _, username, _ string) {
	_, clientID, _ := ParseUsername(username)
	s.limits.drop(allocKey(src, dst)) // before the quota, which Close and tests wait on
	s.quota.deleted(s.quotaKey(clientID), username, src)
	s.log.Debug("TURN allocation deleted", "client", clientID, "src", src)
}

func (s *Server) onAllocationError(src, _ net.Addr, _, msg string) {
	s.quota.failed(src)
	s.log.Debug("TURN request failed", "src", src, "err", msg)
}

// permitPeer is pion's PermissionHandler for CreatePermission and
// ChannelBind. Server.inspect has already answered requests it refuses
// with 403; this is the second line.
func (s *Server) permitPeer(_ net.Addr, peer net.IP) bool {
	return s.peers.permit(peer)
}
