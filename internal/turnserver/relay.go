package turnserver

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
)

// relayAllocator opens the relay sockets of allocations. It implements
// turn.RelayAddressGenerator.
type relayAllocator struct {
	bindIP     net.IP // address the relay sockets bind to
	publicIP   net.IP // address advertised in XOR-RELAYED-ADDRESS
	minPort    int    // 0: ephemeral ports
	maxPort    int
	bufferSize int // SO_RCVBUF/SO_SNDBUF; 0 keeps the OS default
	log        *slog.Logger
}

// Validate implements turn.RelayAddressGenerator.
func (r *relayAllocator) Validate() error {
	if r.bindIP == nil || r.publicIP == nil {
		return ErrPublicIPRequired
	}
	return nil
}

// AllocatePacketConn implements turn.RelayAddressGenerator. requestedPort is
// non-zero only for EVEN-PORT requests.
func (r *relayAllocator) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	var (
		conn *net.UDPConn
		err  error
	)
	switch {
	case requestedPort != 0 || r.minPort == 0:
		conn, err = net.ListenUDP(network, &net.UDPAddr{IP: r.bindIP, Port: requestedPort})
	default:
		conn, err = r.listenInRange(network)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open relay socket: %w", err)
	}
	if r.bufferSize > 0 {
		// The kernel caps these at net.core.[rw]mem_max; failure is not fatal.
		if err := conn.SetReadBuffer(r.bufferSize); err != nil {
			r.log.Debug("set relay read buffer", "err", err)
		}
		if err := conn.SetWriteBuffer(r.bufferSize); err != nil {
			r.log.Debug("set relay write buffer", "err", err)
		}
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	return conn, &net.UDPAddr{IP: r.publicIP, Port: port}, nil
}

// listenInRange binds to a free port in [minPort, maxPort], starting at a
// random one so that concurrent allocations rarely collide.
func (r *relayAllocator) listenInRange(network string) (*net.UDPConn, error) {
	n := r.maxPort - r.minPort + 1
	start := rand.IntN(n)
	var lastErr error = errNoRelayPort
	for i := range n {
		port := r.minPort + (start+i)%n
		conn, err := net.ListenUDP(network, &net.UDPAddr{IP: r.bindIP, Port: port})
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("%w [%d, %d]: %w", errNoRelayPort, r.minPort, r.maxPort, lastErr)
}

// AllocateConn implements turn.RelayAddressGenerator. TCP relaying to peers
// (RFC 6062) is not offered; WebRTC clients only ask for UDP relays.
func (r *relayAllocator) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, errTCPRelayNotServed
}
