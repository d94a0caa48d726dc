package producer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/aws/smithy-go"

	"github.com/openkvs/openkvs/media/mkv"
)

// emptyPayloadHash is the SHA-256 of the empty string: the KVS producer
// SDKs sign the endless PutMedia body as empty (kvs-api.md §3.2).
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// APIError is a PutMedia request the service refused before streaming,
// with KVS' error type and HTTP status.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("PutMedia: HTTP %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// fatalCodes are the error types retrying cannot fix.
var fatalCodes = map[string]bool{
	"ResourceNotFoundException":           true,
	"NotAuthorizedException":              true,
	"AccessDeniedException":               true,
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
	"IncompleteSignatureException":        true,
	"MissingAuthenticationTokenException": true,
	"InvalidArgumentException":            true,
	"InvalidEndpointException":            true,
}

// isFatal reports whether err ends the producer.
func isFatal(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return fatalCodes[ae.Code]
	}
	var ack *AckError
	if errors.As(err, &ack) {
		return classify(ack.ID) == classFatal
	}
	var se smithy.APIError
	if errors.As(err, &se) {
		return fatalCodes[se.ErrorCode()]
	}
	return false
}

var (
	errStale       = errors.New("producer: no ack within StaleTimeout")
	errServerEnded = errors.New("producer: the service ended the PutMedia connection")
)

// run connects whenever there is something to send and reconnects, with
// backoff, until the producer is closed and its buffer is empty.
func (p *Producer) run(ctx context.Context) {
	defer func() {
		close(p.done)
		p.wake()
	}()
	attempt := 0
	described := false
	for {
		p.mu.Lock()
		for len(p.frags) == 0 && !p.closing && p.err == nil && ctx.Err() == nil {
			p.cond.Wait()
		}
		stop := ctx.Err() != nil || p.err != nil || (p.closing && len(p.frags) == 0)
		p.mu.Unlock()
		if stop {
			return
		}
		if !described && p.kvs != nil && !p.cfg.AckOnReceived {
			described = p.describe(ctx)
		}
		// Fragments a lost connection may have stored are looked up
		// first; while that cannot be done, nothing is resent.
		var err error
		if !p.cfg.ResendUnchecked {
			err = p.checkStored(ctx)
			p.mu.Lock()
			drained := p.closing && len(p.frags) == 0
			p.mu.Unlock()
			if drained {
				return
			}
		}
		progress := false
		if err == nil {
			var ep string
			if ep, err = p.endpoint(ctx); err == nil {
				progress, err = p.session(ctx, ep)
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && isFatal(err) {
			p.log.Error("producer: giving up", "err", err)
			p.fail(err)
			return
		}
		if progress {
			attempt = 0
		}
		if err != nil {
			p.log.Info("producer: connection ended; reconnecting", "err", err, "attempt", attempt)
			p.forgetEndpoint()
			p.nextControl()
			if cb := p.cfg.OnError; cb != nil {
				cb(err)
			}
		} else if progress {
			continue
		}
		d := p.backoff(attempt)
		attempt++
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is the delay before reconnection attempt n: exponential from
// MinBackoff to MaxBackoff, with up to 50 % jitter.
func (p *Producer) backoff(n int) time.Duration {
	d := p.cfg.MinBackoff << min(n, 20)
	if d <= 0 || d > p.cfg.MaxBackoff {
		d = p.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// endpoint returns the PUT_MEDIA data endpoint.
func (p *Producer) endpoint(ctx context.Context) (string, error) {
	if p.cfg.DataEndpoint != "" {
		return p.cfg.DataEndpoint, nil
	}
	p.mu.Lock()
	ep, at := p.epURL, p.epAt
	p.mu.Unlock()
	if ep != "" && p.cfg.Now().Sub(at) < p.cfg.EndpointTTL {
		return ep, nil
	}
	in := &kinesisvideo.GetDataEndpointInput{APIName: types.APINamePutMedia}
	if p.cfg.StreamARN != "" {
		in.StreamARN = aws.String(p.cfg.StreamARN)
	} else {
		in.StreamName = aws.String(p.cfg.StreamName)
	}
	out, err := p.kvs.GetDataEndpoint(ctx, in, p.onControl)
	if err != nil {
		return "", fmt.Errorf("GetDataEndpoint: %w", err)
	}
	ep = aws.ToString(out.DataEndpoint)
	if ep == "" {
		return "", errors.New("GetDataEndpoint: empty DataEndpoint")
	}
	p.mu.Lock()
	p.epURL, p.epAt = ep, p.cfg.Now()
	p.mu.Unlock()
	return ep, nil
}

// describe calls DescribeStream to learn whether the stream keeps data:
// with retention 0 the service never sends PERSISTED, so RECEIVED is
// final. It reports whether it got an answer.
func (p *Producer) describe(ctx context.Context) bool {
	in := &kinesisvideo.DescribeStreamInput{}
	if p.cfg.StreamARN != "" {
		in.StreamARN = aws.String(p.cfg.StreamARN)
	} else {
		in.StreamName = aws.String(p.cfg.StreamName)
	}
	out, err := p.kvs.DescribeStream(ctx, in, p.onControl)
	if err != nil {
		p.log.Debug("producer: DescribeStream failed", "err", err)
		return false
	}
	if out.StreamInfo != nil && aws.ToInt32(out.StreamInfo.DataRetentionInHours) == 0 {
		p.log.Info("producer: stream has no retention; RECEIVED acks are final")
		p.mu.Lock()
		p.ackOnReceived = true
		p.mu.Unlock()
	}
	return true
}

// onControl points a control-plane call at the ControlEndpoints entry in
// use (AWS.BaseEndpoint when there are none).
func (p *Producer) onControl(o *kinesisvideo.Options) {
	if n := len(p.cfg.ControlEndpoints); n > 0 {
		p.mu.Lock()
		i := p.ctrl
		p.mu.Unlock()
		o.BaseEndpoint = aws.String(p.cfg.ControlEndpoints[i%n])
	}
}

// nextControl moves on to the next of ControlEndpoints.
func (p *Producer) nextControl() {
	if len(p.cfg.ControlEndpoints) > 1 {
		p.mu.Lock()
		p.ctrl = (p.ctrl + 1) % len(p.cfg.ControlEndpoints)
		p.mu.Unlock()
	}
}

func (p *Producer) forgetEndpoint() {
	p.mu.Lock()
	p.epURL = ""
	p.mu.Unlock()
}

// session is one PutMedia request. It is also the request body: Read
// serves the stream header and then the buffered fragments, oldest not
// yet PERSISTED first, waiting for new frames as they come.
type session struct {
	p      *Producer
	id     uint64
	hdr    []byte
	hdrOff int
	cur    uint64 // seq of the fragment being sent
	off    int    // bytes of it sent
	done   bool
}

var errSessionDone = errors.New("producer: session ended")

// Read implements io.Reader for the request body.
func (s *session) Read(b []byte) (int, error) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if s.done {
			return 0, errSessionDone
		}
		if s.hdrOff < len(s.hdr) {
			n := copy(b, s.hdr[s.hdrOff:])
			s.hdrOff += n
			p.stats.BytesSent += int64(n)
			return n, nil
		}
		f := p.fragmentFrom(s.cur)
		if f != nil {
			if f.seq != s.cur {
				s.cur, s.off = f.seq, 0
			}
			if s.off < len(f.data) {
				n := copy(b, f.data[s.off:])
				s.off += n
				f.sentBy = s.id
				p.stats.BytesSent += int64(n)
				return n, nil
			}
			if f.complete {
				s.cur, s.off = f.seq+1, 0
				continue
			}
		} else if p.closing {
			return 0, io.EOF
		}
		p.cond.Wait()
	}
}

// Close implements io.Closer; the HTTP transport calls it when it is done
// with the body.
func (s *session) Close() error {
	s.p.mu.Lock()
	s.done = true
	s.p.cond.Broadcast()
	s.p.mu.Unlock()
	return nil
}

// fragmentFrom returns the first fragment at or after seq that still has
// to be sent: not persisted, not dropped.
func (p *Producer) fragmentFrom(seq uint64) *fragment {
	for _, f := range p.frags {
		if f.seq >= seq && f.state == statePending {
			return f
		}
	}
	return nil
}

// session runs one PutMedia request until the service ends it, it goes
// stale, or ctx ends. progress reports whether any fragment was received.
func (p *Producer) session(ctx context.Context, endpoint string) (progress bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	p.mu.Lock()
	p.nextSess++
	s := &session{p: p, id: p.nextSess, hdr: p.header}
	p.sess = s
	p.stats.Connections++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		s.done = true
		if p.sess == s {
			p.sess = nil
		}
		p.cond.Broadcast()
		p.mu.Unlock()
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/putMedia", s)
	if err != nil {
		return false, &APIError{Code: "InvalidEndpointException", Message: err.Error()}
	}
	req.ContentLength = -1 // chunked
	if p.cfg.StreamARN != "" {
		req.Header.Set("x-amzn-stream-arn", p.cfg.StreamARN)
	} else {
		req.Header.Set("x-amzn-stream-name", p.cfg.StreamName)
	}
	req.Header.Set("x-amzn-fragment-timecode-type", "ABSOLUTE")
	req.Header.Set("x-amzn-producer-start-timestamp", mkv.FormatTimestamp(p.cfg.StartTime))
	req.Header.Set("x-amzn-fragment-acknowledgment-required", "1")
	req.Header.Set("User-Agent", p.cfg.UserAgent)
	creds, err := p.cfg.AWS.Credentials.Retrieve(ctx)
	if err != nil {
		return false, fmt.Errorf("credentials: %w", err)
	}
	if err := p.signer.SignHTTP(ctx, creds, req, emptyPayloadHash, "kinesisvideo", p.cfg.AWS.Region, p.cfg.Now()); err != nil {
		return false, fmt.Errorf("sign PutMedia: %w", err)
	}
	stale := time.AfterFunc(p.cfg.StaleTimeout, func() { cancel(errStale) })
	defer stale.Stop()
	resp, err := p.client.Do(req)
	if err != nil {
		if c := context.Cause(ctx); c != nil && ctx.Err() != nil {
			err = c
		}
		return false, fmt.Errorf("PutMedia: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, readAPIError(resp)
	}
	p.log.Debug("producer: connected", "endpoint", endpoint, "session", s.id)

	stale.Reset(p.cfg.StaleTimeout)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1024), maxAckLine+1)
	for sc.Scan() {
		stale.Reset(p.cfg.StaleTimeout)
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		a, err := parseAck(line)
		if err != nil {
			p.log.Warn("producer: ignoring ack", "err", err)
			continue
		}
		got, end, err := p.handleAck(s, a)
		progress = progress || got
		if err != nil {
			return progress, err
		}
		if end {
			return progress, nil
		}
	}
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return progress, err
	}
	if err := sc.Err(); err != nil {
		return progress, fmt.Errorf("PutMedia acks: %w", err)
	}
	// The service ended the response: fine once everything is persisted
	// (after the producer's EOF), else a reason to reconnect.
	p.mu.Lock()
	left := len(p.frags)
	p.mu.Unlock()
	if left > 0 {
		return progress, errServerEnded
	}
	return progress, nil
}

// handleAck applies one ack. got reports a fragment received or
// persisted; end asks to end the session (after an ERROR the service
// closes it); err is fatal or asks to reconnect.
func (p *Producer) handleAck(s *session, a Ack) (got, end bool, err error) {
	p.mu.Lock()
	defer p.unlockAndFire()
	if cb := p.cfg.OnAck; cb != nil {
		p.queued = append(p.queued, func() { cb(a) })
	}
	var f *fragment
	if a.HasTimecode {
		for i := len(p.frags) - 1; i >= 0; i-- {
			if p.frags[i].tc == a.FragmentTimecode && p.frags[i].state == statePending {
				f = p.frags[i]
				break
			}
		}
	}
	switch a.EventType {
	case EventReceived:
		if f != nil && p.ackOnReceived {
			p.persist(f)
		}
		return true, false, nil
	case EventPersisted:
		if f != nil {
			p.persist(f)
		}
		return true, false, nil
	case EventError:
		p.stats.ErrorAcks++
		ae := &AckError{ID: a.ErrorID, Code: a.ErrorCode, FragmentTimecode: a.FragmentTimecode}
		p.log.Warn("producer: error ack", "id", a.ErrorID, "code", a.ErrorCode, "fragment", a.FragmentTimecode)
		switch classify(a.ErrorID) {
		case classFatal:
			return false, true, ae
		case classDrop:
			if f != nil {
				p.drop(f, Drop{Reason: DropRejected, Err: ae})
			}
		case classRetry:
			if f != nil {
				f.errors++
				if f.errors >= p.cfg.MaxFragmentErrors {
					p.drop(f, Drop{Reason: DropRejected, Err: ae})
				}
			}
		}
		return false, true, ae
	}
	return false, false, nil
}

// persist marks a fragment durable and frees it.
func (p *Producer) persist(f *fragment) {
	f.state = statePersisted
	p.bytes -= int64(len(f.data))
	f.data = nil
	p.stats.FragmentsPersisted++
	if !f.doneAt.IsZero() {
		p.stats.LastAckLatency = p.cfg.Now().Sub(f.doneAt)
	}
	p.trim()
}

// readAPIError reads KVS' JSON error body and x-amzn-ErrorType header.
func readAPIError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{StatusCode: resp.StatusCode}
	var v struct {
		Type     string `json:"__type"`
		Message  string
		MessageL string `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		e.Code, e.Message = v.Type, v.Message
		if e.Message == "" {
			e.Message = v.MessageL
		}
	}
	if t := resp.Header.Get("x-amzn-ErrorType"); t != "" {
		e.Code = t
	}
	if i := strings.IndexByte(e.Code, ':'); i >= 0 {
		e.Code = e.Code[:i]
	}
	if i := strings.LastIndexByte(e.Code, '#'); i >= 0 {
		e.Code = e.Code[i+1:]
	}
	if e.Code == "" {
		e.Code = http.StatusText(resp.StatusCode)
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}
