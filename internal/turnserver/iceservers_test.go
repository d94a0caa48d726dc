package turnserver

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

func TestICEServers(t *testing.T) {
	tests := []struct {
		name                      string
		hosts                     []string
		udpPort, tcpPort, tlsPort int
		want                      [][]string
	}{
		{
			// TCP goes as TLS only: the KVS WebRTC C SDK wraps every
			// TCP TURN URI in TLS, so a plain one stalls its gathering.
			name: "udp tcp tls", hosts: []string{"turn.example.com"}, udpPort: 3478, tcpPort: 3478, tlsPort: 5349,
			want: [][]string{{
				"stun:turn.example.com:3478",
				"turn:turn.example.com:3478?transport=udp",
				"turns:turn.example.com:5349?transport=tcp",
			}},
		},
		{
			name: "udp tcp, no tls", hosts: []string{"turn.example.com"}, udpPort: 3478, tcpPort: 3478,
			want: [][]string{{
				"stun:turn.example.com:3478",
				"turn:turn.example.com:3478?transport=udp",
				"turn:turn.example.com:3478?transport=tcp",
			}},
		},
		{
			name: "udp only, two hosts", hosts: []string{"192.0.2.1", "2001:db8::1"}, udpPort: 3478,
			want: [][]string{
				{"stun:192.0.2.1:3478", "turn:192.0.2.1:3478?transport=udp"},
				{"stun:[2001:db8::1]:3478", "turn:[2001:db8::1]:3478?transport=udp"},
			},
		},
		{
			name: "tls only", hosts: []string{"h"}, tlsPort: 443,
			want: [][]string{{"turns:h:443?transport=tcp"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			s := &Server{
				secret: testSecret, now: clock.Now, ttl: DefaultCredentialTTL, hosts: tt.hosts,
				udpPort: tt.udpPort, tcpPort: tt.tcpPort, tlsPort: tt.tlsPort,
			}
			got := s.ICEServers("viewer-7")
			if len(got) != len(tt.want) || len(got) > MaxICEServers {
				t.Fatalf("%d entries, want %d", len(got), len(tt.want))
			}
			for i, e := range got {
				if strings.Join(e.URIs, " ") != strings.Join(tt.want[i], " ") {
					t.Errorf("entry %d URIs = %q, want %q", i, e.URIs, tt.want[i])
				}
				if len(e.URIs) > MaxURIsPerICEServer {
					t.Errorf("entry %d has %d URIs", i, len(e.URIs))
				}
				if e.TTL != 300 {
					t.Errorf("entry %d TTL = %d, want 300", i, e.TTL)
				}
				exp, id, err := ParseUsername(e.Username)
				if err != nil || id != "viewer-7" || !exp.Equal(clock.Now().Add(300*time.Second)) {
					t.Errorf("entry %d username %q: %v %q %v", i, e.Username, exp, id, err)
				}
				if e.Password != sign(testSecret, e.Username) {
					t.Errorf("entry %d password does not match", i)
				}
			}
		})
	}
}

func TestICEServerJSON(t *testing.T) {
	b, err := json.Marshal(ICEServer{URIs: []string{"turn:h:1?transport=udp"}, Username: "1:c", Password: "p", TTL: 300})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Uris":["turn:h:1?transport=udp"],"Username":"1:c","Password":"p","Ttl":300}`
	if string(b) != want {
		t.Fatalf("JSON = %s, want %s", b, want)
	}
}

func TestICEServersFromRunningServer(t *testing.T) {
	ts := startServer(t)
	got := ts.ICEServers("c")
	if len(got) != 1 || len(got[0].URIs) != 3 {
		t.Fatalf("ICEServers = %+v, want one entry with 3 URIs", got)
	}
	host, port, _ := net.SplitHostPort(ts.udpAddr)
	if want := "stun:" + net.JoinHostPort(host, port); got[0].URIs[0] != want {
		t.Fatalf("first URI = %q, want %q", got[0].URIs[0], want)
	}
	// The credential it hands out opens an allocation.
	cl, _ := newClient(t, ts, "udp", got[0].Username, got[0].Password)
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("Allocate with ICEServers credential: %v", err)
	}
	relay.Close()
}
