package signaling

import (
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/bus/localbus"
)

// FuzzClusterMessage feeds arbitrary bytes to a node as messages from
// other nodes, on its node subjects and on the membership subject: a
// malformed message is ignored (or refused) and breaks nothing.
func FuzzClusterMessage(f *testing.F) {
	lb := localbus.New(localbus.Config{})
	defer lb.Close()
	svc, err := New(Config{Store: &memStore{}, Bus: lb, NodeID: "fuzz", SweepInterval: time.Hour, PeerTimeout: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	defer svc.Close(f.Context())
	c := svc.cluster
	remote := &session{svc: svc, channel: "arn:aws:kinesisvideo:us-west-2:123456789012:channel/x/1", clientID: "v1",
		connectedAt: time.Unix(1700000000, 0), cl: &sessionCluster{id: 7, ttl: time.Minute}}
	for _, op := range []byte{opRegister, opPresent, opUnregister} {
		f.Add(c.encodeSession(op, remote))
	}
	deliver := append([]byte{opDeliver}, appendStr(nil, remote.channel)...)
	deliver = appendBool(append(deliver, 60), true)
	for _, s := range []string{"", "v1", ActionSDPOffer, "eA==", "fuzz"} {
		deliver = appendStr(deliver, s)
	}
	f.Add(deliver)
	f.Add([]byte{opFrame, 7, '{', '}'})
	f.Add([]byte{opClose, 7, 200})
	f.Add(append([]byte{opAlexaAnswer, 3}, appendStr(nil, "eA==")...))
	f.Add(append([]byte{nodeHello}, appendStr(nil, "other")...))
	f.Add(append(append([]byte{nodeDeleted}, appendStr(nil, "other")...), appendStr(nil, remote.channel)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		c.handleNode(&bus.Msg{Subject: "x", Data: data, Reply: "_INBOX.fuzz"})
		c.handleNodes(&bus.Msg{Subject: nodesSubject, Data: data})
	})
}
