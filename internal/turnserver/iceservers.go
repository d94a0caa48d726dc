package turnserver

import (
	"net"
	"strconv"
)

// Limits of the KVS C SDK on a GetIceServerConfig answer: it fails on more
// URIs per entry or more entries than these.
const (
	MaxURIsPerICEServer = 4
	MaxICEServers       = 5
)

// ICEServer is one entry of a GetIceServerConfig IceServerList, with the
// JSON names of the wire format.
type ICEServer struct {
	// URIs are stun:, turn: and turns: URIs (RFC 7064, RFC 7065).
	URIs []string `json:"Uris"`
	// Username and Password are the time-limited credential.
	Username string `json:"Username"`
	Password string `json:"Password"`
	// TTL is how long the credential is valid, in seconds.
	TTL int `json:"Ttl"`
}

// ICEServers returns the IceServerList for clientID: one entry per
// configured host, all sharing one fresh credential valid for the
// configured CredentialTTL. Each entry lists, as far as the server listens
// on them, "stun:H:P" and "turn:H:P?transport=udp" (UDP) and
// "turns:H:P?transport=tcp" (TLS), like KVS' turn: over UDP and turns: over
// TCP. Plain "turn:H:P?transport=tcp" is listed only when there is no TLS
// listener: the KVS WebRTC C SDK opens TLS for every TCP TURN URI, so a
// plain TCP one would stall its candidate gathering until its timeout.
//
// KVS itself leaves STUN out of GetIceServerConfig (its SDKs hard-code an
// AWS STUN host); openkvs includes it so that clients which take their ICE
// servers from the answer alone also find a STUN server.
func (s *Server) ICEServers(clientID string) []ICEServer {
	username, password, _ := s.Credentials(clientID, s.ttl)
	ttl := int(s.ttl.Seconds())
	out := make([]ICEServer, 0, len(s.hosts))
	for _, h := range s.hosts {
		uris := make([]string, 0, MaxURIsPerICEServer)
		if s.udpPort != 0 {
			hp := net.JoinHostPort(h, strconv.Itoa(s.udpPort))
			uris = append(uris, "stun:"+hp, "turn:"+hp+"?transport=udp")
		}
		if s.tcpPort != 0 && s.tlsPort == 0 {
			uris = append(uris, "turn:"+net.JoinHostPort(h, strconv.Itoa(s.tcpPort))+"?transport=tcp")
		}
		if s.tlsPort != 0 {
			uris = append(uris, "turns:"+net.JoinHostPort(h, strconv.Itoa(s.tlsPort))+"?transport=tcp")
		}
		out = append(out, ICEServer{URIs: uris, Username: username, Password: password, TTL: ttl})
	}
	return out
}
