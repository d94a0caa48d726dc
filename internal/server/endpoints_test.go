package server

import (
	"crypto/tls"
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
	}{
		{"plain request", endpoints{tlsPort: 8443}, "127.0.0.1:8080", false, "http://127.0.0.1:8080", "wss://127.0.0.1:8443", "https://127.0.0.1:8443"},
		{"tls request", endpoints{tlsPort: 8443}, "localhost:8443", true, "https://localhost:8443", "wss://localhost:8443", "https://localhost:8443"},
		{"port 443 carries no port", endpoints{tlsPort: 443}, "kvs.local", true, "https://kvs.local", "wss://kvs.local", "https://kvs.local"},
		{"ipv6 on 443", endpoints{tlsPort: 443}, "[::1]", true, "https://[::1]", "wss://[::1]", "https://[::1]"},
		{"ipv6 other port", endpoints{tlsPort: 8443}, "[::1]:8080", false, "http://[::1]:8080", "wss://[::1]:8443", "https://[::1]:8443"},
		{"tls off", endpoints{}, "127.0.0.1:8080", false, "http://127.0.0.1:8080", "ws://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"public url", endpoints{tlsPort: 8443, public: mustURL("https://kvs.example.com")}, "127.0.0.1:8080", false, "https://kvs.example.com", "wss://kvs.example.com", "https://kvs.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/getDataEndpoint", nil)
			r.Host = tt.host
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

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
