package server

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
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
	return scheme(r) + "://" + r.Host
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
		return "ws://" + r.Host, "http://" + r.Host
	}
	h := e.tlsHost(r)
	return "wss://" + h, "https://" + h
}

// tlsHost is the host the client used, with the TLS listener's port.
func (e *endpoints) tlsHost(r *http.Request) string {
	host := r.Host
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

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
