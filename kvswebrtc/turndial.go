package kvswebrtc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/pion/stun/v3"
)

// turnDialTimeout bounds the TCP connect and the TLS handshake to a TURN
// server.
const turnDialTimeout = 5 * time.Second

// turnDialer opens the TCP connections of TURN-over-TCP and TURN-over-TLS
// allocations for pion's ICE agent (its proxy dialer). pion verifies a
// turns: server against the system roots only; the dialer uses the roots
// the signaling client's HTTP client trusts instead, so that a client that
// trusts the openkvs CA for HTTPS also reaches its TURN TLS listener. It
// knows which addresses are TLS from the ICE servers registered with it.
type turnDialer struct {
	tls *tls.Config // base client config; nil: the system roots

	mu       sync.Mutex
	tlsHosts map[string]string // "host:port" of a turns: URI -> TLS server name
}

func newTURNDialer(hc aws.HTTPClient) *turnDialer {
	var conf *tls.Config
	if t := httpTransport(hc); t != nil && t.TLSClientConfig != nil {
		conf = t.TLSClientConfig.Clone()
		conf.NextProtos = nil
	}
	return &turnDialer{tls: conf, tlsHosts: make(map[string]string)}
}

// register notes the turns: URIs over TCP of servers.
func (d *turnDialer) register(servers []ICEServer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range servers {
		for _, raw := range s.URIs {
			u, err := stun.ParseURI(raw)
			if err != nil || u.Scheme != stun.SchemeTypeTURNS || u.Proto != stun.ProtoTypeTCP {
				continue
			}
			d.tlsHosts[net.JoinHostPort(u.Host, fmt.Sprint(u.Port))] = u.Host
		}
	}
}

// Dial implements proxy.Dialer: TLS to the address of a registered turns:
// URI, plain TCP to any other.
func (d *turnDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), turnDialTimeout)
	defer cancel()
	d.mu.Lock()
	serverName, isTLS := d.tlsHosts[addr]
	d.mu.Unlock()
	var nd net.Dialer
	if !isTLS {
		return nd.DialContext(ctx, network, addr)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if d.tls != nil {
		conf = d.tls.Clone()
	}
	conf.ServerName = strings.Trim(serverName, "[]")
	td := tls.Dialer{NetDialer: &nd, Config: conf}
	c, err := td.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("kvswebrtc: TURN over TLS to %s: %w", addr, err)
	}
	return c, nil
}

// httpTransport returns the *http.Transport under hc, or nil.
func httpTransport(hc aws.HTTPClient) *http.Transport {
	switch v := hc.(type) {
	case interface{ GetTransport() *http.Transport }:
		return v.GetTransport()
	case *http.Client:
		if t, ok := v.Transport.(*http.Transport); ok {
			return t
		}
	}
	return nil
}
