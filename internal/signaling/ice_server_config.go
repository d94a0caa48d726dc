package signaling

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

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
		out.IceServerList = clampICEServers(s.cfg.ICEServers(credentialID(ch.Name, clientID)))
	}
	awsapi.WriteJSON(w, out)
}

// credentialID is the client id a TURN credential is minted for: the
// channel and the caller's id, so that allocation quotas are per channel
// client. Long ones are hashed to keep the STUN username short.
func credentialID(channel, clientID string) string {
	if clientID == "" {
		clientID = "MASTER"
	}
	id := channel + "." + clientID
	if len(id) > 128 {
		sum := sha256.Sum256([]byte(id))
		id = hex.EncodeToString(sum[:16])
	}
	return id
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
