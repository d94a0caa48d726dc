package signaling

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/openkvs/openkvs/internal/awsapi"
)

type getIceServerConfigInput struct {
	ChannelARN *string `json:"ChannelARN"`
	ClientID   *string `json:"ClientId"`
	Service    *string `json:"Service"`
	Username   *string `json:"Username"`
}

type getIceServerConfigOutput struct {
	IceServerList []IceServer `json:"IceServerList"`
}

// serveGetIceServerConfig serves GetIceServerConfig: the TURN servers (and
// openkvs' STUN server, which KVS leaves out) with a time-limited
// credential, at most 5 entries of at most 4 URIs.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_signaling_GetIceServerConfig.html
func (s *Service) serveGetIceServerConfig(w http.ResponseWriter, r *http.Request) {
	var in getIceServerConfigInput
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	if in.ChannelARN == nil || *in.ChannelARN == "" {
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "ChannelARN is required."))
		return
	}
	clientID := ""
	if in.ClientID != nil {
		clientID = *in.ClientID
		if !idPattern.MatchString(clientID) {
			awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "ClientId must be 1 to 256 characters of [a-zA-Z0-9_.-]."))
			return
		}
	}
	if in.Service != nil && *in.Service != "TURN" {
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "Service must be TURN, not %q.", truncate(*in.Service, 64)))
		return
	}
	ch, err := s.channel(r.Context(), *in.ChannelARN)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	out := getIceServerConfigOutput{IceServerList: []IceServer{}}
	if s.cfg.ICEServers != nil {
		accessKey := "anonymous"
		if id := awsapi.IdentityFrom(r.Context()); id != nil {
			accessKey = id.AccessKeyID
		}
		out.IceServerList = clampICEServers(s.cfg.ICEServers(credentialID(accessKey, ch.Name, clientID)))
	}
	awsapi.WriteJSON(w, out)
}

// credentialID is the client id a TURN credential is minted for:
// "ACCESSKEY:CHANNEL.CLIENTID". The TURN server counts allocation quotas by
// the access key (the part before the first colon; access key ids have
// none), which the caller cannot vary as it can its ClientId; the rest
// names the session in the TURN server's log. A long rest is hashed to keep
// the STUN username short.
func credentialID(accessKey, channel, clientID string) string {
	if clientID == "" {
		clientID = "MASTER"
	}
	rest := channel + "." + clientID
	if len(rest) > 128 {
		sum := sha256.Sum256([]byte(rest))
		rest = hex.EncodeToString(sum[:16])
	}
	return accessKey + ":" + rest
}

// QuotaKey returns the part of a credential client id made by
// GetIceServerConfig that the TURN server counts allocations by: the
// caller's access key.
func QuotaKey(credentialID string) string {
	key, _, _ := strings.Cut(credentialID, ":")
	return key
}

// clampICEServers cuts list to the KVS C SDK's limits.
func clampICEServers(list []IceServer) []IceServer {
	if list == nil {
		return []IceServer{}
	}
	if len(list) > MaxICEServers {
		list = list[:MaxICEServers]
	}
	for i := range list {
		if len(list[i].Uris) > MaxURIsPerICEServer {
			list[i].Uris = list[i].Uris[:MaxURIsPerICEServer]
		}
	}
	return list
}
