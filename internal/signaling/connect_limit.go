package signaling

import (
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// connectLimit is the rate limit on new connections to one channel: KVS
// counts ConnectAsMaster and ConnectAsViewer apart, each Config.ConnectRate
// a second. It lives in Service.connects rather than in channelState
// because a channel's state goes when its last client leaves: a client
// that connects and drops again would otherwise start from a full bucket
// every time. The sweeper drops it once both buckets have refilled.
type connectLimit struct {
	master, viewer bucket
}

// allowConnectLocked takes a connection token of channel arn for the
// master or a viewer, or returns the ClientLimitExceededException to
// answer. A refused attempt takes no token. s.mu must be held.
func (s *Service) allowConnectLocked(arn string, master bool, now time.Time) *awsapi.Error {
	if s.cfg.ConnectRate < 0 {
		return nil
	}
	cl := s.connects[arn]
	if cl == nil {
		cl = &connectLimit{master: newBucket(s.cfg.ConnectRate, now), viewer: newBucket(s.cfg.ConnectRate, now)}
		s.connects[arn] = cl
	}
	b, op := &cl.viewer, "ConnectAsViewer"
	if master {
		b, op = &cl.master, "ConnectAsMaster"
	}
	if !b.allow(now) {
		return awsapi.Errorf(awsapi.ClientLimitExceeded, "More than %d %s calls per second on this channel; retry with backoff.", s.cfg.ConnectRate, op)
	}
	return nil
}

// sweepConnectsLocked drops the connection rate limits that have refilled:
// the map holds only channels connected to within about a second. s.mu
// must be held.
func (s *Service) sweepConnectsLocked(now time.Time) {
	for arn, cl := range s.connects {
		if cl.master.full(now) && cl.viewer.full(now) {
			delete(s.connects, arn)
		}
	}
}
