package playback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
	"unicode/utf8"
)

// A session token is the only credential of the unsigned HLS and DASH
// resource requests (kvs-api.md §3.5). It carries everything a request
// needs to know about its session, so the server keeps no session state:
//
//	version(1) kind(1) mode(1) selector(1) container(1) discontinuity(1)
//	flags(1) maxResults(uvarint) created(varint ns) expires(varint ns)
//	start(varint ns) end(varint ns) anchor.Millis(uvarint)
//	anchor.Seq(uvarint) base(varint ms) lag(varint ms)
//	streamCreated(varint ms) streamLen(uvarint) stream
//
// followed by the first 16 bytes of HMAC-SHA256(key, all of the above),
// the whole base64url-encoded without padding (URL-safe, RFC 4648 §5).

// sessionKind tells HLS from DASH sessions.
type sessionKind uint8

const (
	kindHLS sessionKind = iota + 1
	kindDASH
)

// playbackMode is the session's PlaybackMode.
type playbackMode uint8

const (
	modeLive playbackMode = iota + 1
	modeLiveReplay
	modeOnDemand
)

// container is the HLS ContainerFormat (DASH is always fMP4).
type container uint8

const (
	containerFMP4 container = iota + 1
	containerTS
)

// discontinuity is the HLS DiscontinuityMode.
type discontinuity uint8

const (
	discontinuityAlways discontinuity = iota + 1
	discontinuityNever
	discontinuityOnGap
)

// Token flag bits.
const (
	flagDisplayTimestamp = 1 << iota // DisplayFragmentTimestamp ALWAYS
	flagDisplayNumber                // DASH DisplayFragmentNumber ALWAYS
	flagHasEnd                       // the range has an EndTimestamp
)

const (
	tokenVersion = 2
	tokenMACLen  = 16
	// maxTokenLen bounds what decodeToken accepts (a stream name is at
	// most 256 bytes, so real tokens are far shorter).
	maxTokenLen = 1024
)

// session is what a session token says.
type session struct {
	Kind          sessionKind
	Mode          playbackMode
	Selector      selectorKind
	Container     container
	Discontinuity discontinuity
	Flags         uint8
	MaxResults    int
	Created       time.Time
	Expires       time.Time
	Start, End    time.Time
	// Anchor is, for LIVE sessions, the fragment the session's media
	// sequence numbers count from (exclusive).
	Anchor struct{ Millis, Seq uint64 }
	// Base is the producer time at which the session's media time is
	// zero (whole milliseconds): fMP4 decode times and DASH segment
	// times count from it, so that players whose clock starts at the
	// first timestamp they see (GStreamer) do not wait for decades of
	// epoch time to pass.
	Base time.Time
	// Lag is, for LIVE DASH sessions, how long after its producer time a
	// fragment has reached the server: the manifest's
	// availabilityStartTime is Base+Lag, so that a player computes a
	// segment available when the server has it.
	Lag time.Duration
	// StreamCreated is the CreationTime of the stream (whole
	// milliseconds): a stream deleted and created again under the same
	// name is another stream, which the session's URLs must not play.
	StreamCreated time.Time
	Stream        string
}

// selectorKind is the FragmentSelectorType of a session or clip.
type selectorKind uint8

const (
	selectorServer selectorKind = iota + 1
	selectorProducer
)

var errBadToken = errors.New("malformed session token")

// encodeToken signs s with key and returns the URL-safe token.
func encodeToken(key []byte, s *session) string {
	b := make([]byte, 0, 64+len(s.Stream))
	b = append(b, tokenVersion, byte(s.Kind), byte(s.Mode), byte(s.Selector), byte(s.Container), byte(s.Discontinuity), s.Flags)
	b = binary.AppendUvarint(b, uint64(max(s.MaxResults, 0)))
	for _, t := range []time.Time{s.Created, s.Expires, s.Start, s.End} {
		b = binary.AppendVarint(b, unixNano(t))
	}
	b = binary.AppendUvarint(b, s.Anchor.Millis)
	b = binary.AppendUvarint(b, s.Anchor.Seq)
	b = binary.AppendVarint(b, unixMilli(s.Base))
	b = binary.AppendVarint(b, s.Lag.Milliseconds())
	b = binary.AppendVarint(b, unixMilli(s.StreamCreated))
	b = binary.AppendUvarint(b, uint64(len(s.Stream)))
	b = append(b, s.Stream...)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	b = m.Sum(b)[:len(b)+tokenMACLen]
	return base64.RawURLEncoding.EncodeToString(b)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMilli(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// decodeToken verifies tok's signature with key and decodes it. It does
// not check expiry.
func decodeToken(key []byte, tok string) (*session, error) {
	if len(tok) == 0 || len(tok) > maxTokenLen {
		return nil, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 7+tokenMACLen {
		return nil, errBadToken
	}
	body, mac := b[:len(b)-tokenMACLen], b[len(b)-tokenMACLen:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:tokenMACLen], mac) {
		return nil, errBadToken
	}
	if body[0] != tokenVersion {
		return nil, errBadToken
	}
	s := &session{
		Kind: sessionKind(body[1]), Mode: playbackMode(body[2]), Selector: selectorKind(body[3]),
		Container: container(body[4]), Discontinuity: discontinuity(body[5]), Flags: body[6],
	}
	r := body[7:]
	uv := func() uint64 {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			err = errBadToken
			return 0
		}
		r = r[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(r)
		if n <= 0 {
			err = errBadToken
			return 0
		}
		r = r[n:]
		return v
	}
	maxResults := uv()
	created, expires, start, end := sv(), sv(), sv(), sv()
	s.Anchor.Millis, s.Anchor.Seq = uv(), uv()
	base, lag, streamCreated := sv(), sv(), sv()
	n := uv()
	if err != nil || n != uint64(len(r)) || maxResults > maxFragmentResults {
		return nil, errBadToken
	}
	s.MaxResults = int(maxResults)
	s.Created, s.Expires, s.Start, s.End = fromUnixNano(created), fromUnixNano(expires), fromUnixNano(start), fromUnixNano(end)
	s.Base, s.Lag = fromUnixMilli(base), time.Duration(lag)*time.Millisecond
	s.StreamCreated = fromUnixMilli(streamCreated)
	s.Stream = string(r)
	if !s.valid() {
		return nil, errBadToken
	}
	return s, nil
}

// valid checks the enumerations of a decoded session.
func (s *session) valid() bool {
	return (s.Kind == kindHLS || s.Kind == kindDASH) &&
		s.Mode >= modeLive && s.Mode <= modeOnDemand &&
		(s.Selector == selectorServer || s.Selector == selectorProducer) &&
		(s.Container == containerFMP4 || s.Container == containerTS) &&
		s.Discontinuity >= discontinuityAlways && s.Discontinuity <= discontinuityOnGap &&
		s.MaxResults >= 1 && s.Stream != "" && utf8.ValidString(s.Stream)
}
