package turnserver

import (
	"context"
	"fmt"
	"net"
)

// ListenUDP opens n UDP sockets on the same address for Config.UDPConns.
// Where the platform has SO_REUSEPORT (Linux, the BSDs, macOS) all n share
// the port and the kernel spreads clients over them by 4-tuple hash, so each
// socket's read loop can run on its own core; elsewhere, or when n <= 1, it
// opens a single socket. A port of 0 picks a free port for the first socket
// and binds the others to it.
func ListenUDP(ctx context.Context, network, address string, n int) ([]net.PacketConn, error) {
	if n < 1 || !reusePortSupported {
		n = 1
	}
	lc := net.ListenConfig{}
	if n > 1 {
		lc.Control = setReusePort
	}
	first, err := lc.ListenPacket(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("turnserver: listen %s %s: %w", network, address, err)
	}
	conns := []net.PacketConn{first}
	// Bind the siblings to the port the first one got.
	addr := first.LocalAddr().String()
	for len(conns) < n {
		c, err := lc.ListenPacket(ctx, network, addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("turnserver: listen %s %s (socket %d of %d): %w", network, addr, len(conns)+1, n, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}
