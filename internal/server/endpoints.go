package server

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// endpoints tells clients where this server is, as they reached it. It
// implements controlplane.EndpointResolver.
type endpoints struct {
	// public, when set, replaces every derived URL's scheme and host.
	public *url.URL
	// tlsPort is the HTTPS/WSS listener's port, 0 when TLS is off.
	tlsPort int
}

// DataEndpoint answers GetDataEndpoint: the scheme and address the client
// used for this request, so plain-HTTP clients stay on plain HTTP.
func (e *endpoints) DataEndpoint(r *http.Request) string {
	if e.public != nil {
		return e.public.Scheme + "://" + e.public.Host
	}
	return scheme(r) + "://" + clientHost(r)
}

// SignalingEndpoints answers GetSignalingChannelEndpoint. The WebRTC SDKs
// accept only wss://, so with TLS on both URLs point at the TLS listener;
// on port 443 the URLs carry no port, as the KVS WebRTC C SDK requires.
func (e *endpoints) SignalingEndpoints(r *http.Request) (wss, https string) {
	if e.public != nil {
		ws := "wss"
		if e.public.Scheme == "http" {
			ws = "ws"
		}
		return ws + "://" + e.public.Host, e.public.Scheme + "://" + e.public.Host
	}
	if e.tlsPort == 0 {
		h := clientHost(r)
		return "ws://" + h, "http://" + h
	}
	h := e.tlsHost(r)
	return "wss://" + h, "https://" + h
}

// tlsHost is the host the client used, with the TLS listener's port.
func (e *endpoints) tlsHost(r *http.Request) string {
	host := bareHost(r.Host)
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if host == "" {
		host = "localhost"
	}
	if e.tlsPort == 443 {
		if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(e.tlsPort))
}

// clientHost is the host the client addressed, with the port of the
// listener that took the request when the Host header names none: the KVS
// C producer sends "Host: 127.0.0.1" to an endpoint on port 8443, and the
// endpoint handed back must still reach that port. The scheme's default
// port (80, 443) is left out, as clients do.
func clientHost(r *http.Request) string {
	host := r.Host
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	switch {
	case !ok:
		return host
	case host == "":
		return local.String()
	case scheme(r) == "https" && local.Port == 443, scheme(r) == "http" && local.Port == 80:
		return host
	}
	return net.JoinHostPort(bareHost(host), strconv.Itoa(local.Port))
}

// bareHost strips the brackets of an IPv6 literal host without a port.
func bareHost(host string) string {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host[1 : len(host)-1]
	}
	return host
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
