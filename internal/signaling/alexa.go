package signaling

import (
	"net/http"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// alexaWaiter is a SendAlexaOfferToMaster call waiting for the master's
// SDP answer.
type alexaWaiter struct {
	// answer receives the answer's payload (buffered: written once).
	answer chan string
	// gone is closed when the channel is deleted or the service closes.
	gone chan struct{}
	// node and id name the call on another node when this is the
	// channel owner's stub of it (answer is then unused).
	node string
	id   uint64
	// channel is the channel's ARN (set in a cluster).
	channel string
}

type sendAlexaOfferToMasterInput struct {
	ChannelARN     *string `json:"ChannelARN"`
	SenderClientID *string `json:"SenderClientId"`
	MessagePayload *string `json:"MessagePayload"`
}

type sendAlexaOfferToMasterOutput struct {
	Answer string `json:"Answer"`
}

// serveSendAlexaOfferToMaster serves SendAlexaOfferToMaster: the offer goes
// to the channel's master as an SDP_OFFER from SenderClientId (queued for
// the channel's message TTL if the master is not connected) and the call
// returns the master's SDP answer, or fails after Config.AlexaTimeout.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_signaling_SendAlexaOfferToMaster.html
func (s *Service) serveSendAlexaOfferToMaster(w http.ResponseWriter, r *http.Request) {
	var in sendAlexaOfferToMasterInput
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	switch {
	case in.ChannelARN == nil || *in.ChannelARN == "":
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "ChannelARN is required."))
		return
	case in.SenderClientID == nil || !idPattern.MatchString(*in.SenderClientID):
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "SenderClientId is required: 1 to 256 characters of [a-zA-Z0-9_.-]."))
		return
	case in.MessagePayload == nil || *in.MessagePayload == "" || len(*in.MessagePayload) > 10000 || !validBase64(*in.MessagePayload):
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "MessagePayload is required: 1 to 10000 characters of base64."))
		return
	}
	ch, err := s.channel(r.Context(), *in.ChannelARN)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	sender, payload := *in.SenderClientID, *in.MessagePayload
	if s.cluster != nil && s.cluster.owner(ch.ARN) != s.cluster.self {
		s.cluster.sendAlexaOffer(w, r, ch, sender, payload)
		return
	}

	waiter := &alexaWaiter{answer: make(chan string, 1), gone: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.ClientLimitExceeded, "The signaling service is shutting down; try again."))
		return
	}
	cs := s.channelLocked(ch.ARN, time.Duration(ch.MessageTTLSeconds)*time.Second)
	if !cs.alexaLimit.allow(s.now()) {
		s.mu.Unlock()
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.ClientLimitExceeded, "Too many SendAlexaOfferToMaster calls on this channel; slow down."))
		return
	}
	if cs.alexa[sender] != nil {
		s.mu.Unlock()
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.ClientLimitExceeded, "An offer from %s is already waiting for the master's answer.", sender))
		return
	}
	cs.alexa[sender] = waiter
	s.mu.Unlock()

	remove := func() {
		s.mu.Lock()
		if cs := s.channels[ch.ARN]; cs != nil && cs.alexa[sender] == waiter {
			delete(cs.alexa, sender)
			if cs.empty() {
				delete(s.channels, ch.ARN)
			}
		}
		s.mu.Unlock()
	}
	frame := (&ServerMessage{SenderClientID: sender, MessageType: ActionSDPOffer, MessagePayload: payload}).encode()
	e := &envelope{channel: ch.ARN, ttl: time.Duration(ch.MessageTTLSeconds) * time.Second, toMaster: true,
		sender: sender, action: ActionSDPOffer, payload: payload, frame: frame}
	if merr := s.delivery.deliver(e); merr != nil {
		remove()
		awsapi.WriteError(w, r, &awsapi.Error{Code: merr.Code, Message: merr.Description})
		return
	}

	s.awaitAlexaAnswer(w, r, waiter, remove)
}

// awaitAlexaAnswer answers a SendAlexaOfferToMaster call with the master's
// answer, or fails it when the channel goes or after Config.AlexaTimeout;
// giveUp withdraws the call when it ends without an answer.
func (s *Service) awaitAlexaAnswer(w http.ResponseWriter, r *http.Request, waiter *alexaWaiter, giveUp func()) {
	timer := time.NewTimer(s.cfg.AlexaTimeout)
	defer timer.Stop()
	select {
	case ans := <-waiter.answer:
		awsapi.WriteJSON(w, sendAlexaOfferToMasterOutput{Answer: ans})
	case <-waiter.gone:
		awsapi.WriteError(w, r, errChannelNotFound())
	case <-timer.C:
		giveUp()
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.ResourceNotFound, "The master of the channel did not answer within %s.", s.cfg.AlexaTimeout))
	case <-r.Context().Done():
		giveUp()
	}
}
