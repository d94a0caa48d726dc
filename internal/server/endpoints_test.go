package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name              string
		ep                endpoints
		host              string
		tls               bool
		data, wss, httpsU string
		// local is the address of the listener that took the request.
		local *net.TCPAddr
	}{
		{"plain request", endpoints{tlsPort: 8443}, "127.0.0.1:8080", false, "http://127.0.0.1:8080", "wss://127.0.0.1:8443", "https://127.0.0.1:8443", nil},
		{"tls request", endpoints{tlsPort: 8443}, "localhost:8443", true, "https://localhost:8443", "wss://localhost:8443", "https://localhost:8443", nil},
		{"port 443 carries no port", endpoints{tlsPort: 443}, "kvs.local", true, "https://kvs.local", "wss://kvs.local", "https://kvs.local", nil},
		{"ipv6 on 443", endpoints{tlsPort: 443}, "[::1]", true, "https://[::1]", "wss://[::1]", "https://[::1]", nil},
		{"ipv6 other port", endpoints{tlsPort: 8443}, "[::1]:8080", false, "http://[::1]:8080", "wss://[::1]:8443", "https://[::1]:8443", nil},
		{"tls off", endpoints{}, "127.0.0.1:8080", false, "http://127.0.0.1:8080", "ws://127.0.0.1:8080", "http://127.0.0.1:8080", nil},
		{"public url", endpoints{tlsPort: 8443, public: mustURL("https://kvs.example.com")}, "127.0.0.1:8080", false, "https://kvs.example.com", "wss://kvs.example.com", "https://kvs.example.com", nil},
		// The KVS C producer signs "Host: 127.0.0.1" for an endpoint on 8443.
		{"host without port over tls", endpoints{tlsPort: 8443}, "127.0.0.1", true, "https://127.0.0.1:8443", "wss://127.0.0.1:8443", "https://127.0.0.1:8443", tcpAddr("127.0.0.1:8443")},
		{"host without port over http", endpoints{tlsPort: 8443}, "localhost", false, "http://localhost:8080", "wss://localhost:8443", "https://localhost:8443", tcpAddr("127.0.0.1:8080")},
		{"ipv6 host without port", endpoints{tlsPort: 8443}, "[::1]", true, "https://[::1]:8443", "wss://[::1]:8443", "https://[::1]:8443", tcpAddr("[::1]:8443")},
		{"host without port, tls off", endpoints{}, "127.0.0.1", false, "http://127.0.0.1:8080", "ws://127.0.0.1:8080", "http://127.0.0.1:8080", tcpAddr("127.0.0.1:8080")},
		{"no host at all", endpoints{}, "", false, "http://127.0.0.1:8080", "ws://127.0.0.1:8080", "http://127.0.0.1:8080", tcpAddr("127.0.0.1:8080")},
		{"default port stays implicit", endpoints{tlsPort: 443}, "kvs.local", true, "https://kvs.local", "wss://kvs.local", "https://kvs.local", tcpAddr("10.0.0.1:443")},
		{"http on 80 stays implicit", endpoints{}, "kvs.local", false, "http://kvs.local", "ws://kvs.local", "http://kvs.local", tcpAddr("10.0.0.1:80")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/getDataEndpoint", nil)
			r.Host = tt.host
			if tt.local != nil {
				r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, tt.local))
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := tt.ep.DataEndpoint(r); got != tt.data {
				t.Errorf("data = %s, want %s", got, tt.data)
			}
			wss, https := tt.ep.SignalingEndpoints(r)
			if wss != tt.wss || https != tt.httpsU {
				t.Errorf("signaling = %s %s, want %s %s", wss, https, tt.wss, tt.httpsU)
			}
		})
	}
}

func tcpAddr(s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
