package playback

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// SessionConfig configures HLS and DASH streaming sessions, GetClip and
// GetImages.
type SessionConfig struct {
	// Key signs session tokens (HMAC-SHA256). When empty, KeyFile is
	// used, and without a KeyFile a random key is made at start-up (the
	// session URLs handed out then stop working at a restart).
	Key []byte
	// KeyFile, when Key is empty, is a file holding the key: it is read,
	// or created with a fresh random key when it does not exist. The
	// server keeps it in its data dir. Defaults to none.
	KeyFile string
	// BaseURL returns the scheme and host ("https://host:port") the
	// session URLs returned for r point at: the data endpoint the client
	// used. Defaults to r's own scheme and Host.
	BaseURL func(r *http.Request) string
	// LiveWindow is how recent the newest fragment must be for a LIVE
	// session to start. Defaults to 30 seconds, as KVS.
	LiveWindow time.Duration
	// SegmentCacheBytes bounds the cache of remuxed HLS/DASH segments
	// that the players of one stream share. Defaults to 64 MiB.
	SegmentCacheBytes int64
	// LiveSegmentWait is how long a LIVE DASH request for the segment
	// that follows the newest one waits for it to arrive. Defaults to 3
	// seconds.
	LiveSegmentWait time.Duration
}

// Session limits from the archived-media API reference.
const (
	minExpires            = 300
	maxExpires            = 43200
	defaultExpires        = 300
	maxFragmentResults    = 5000
	defaultLiveResults    = 5
	defaultOnDemandResult = 1000
	maxSessionRange       = 24 * time.Hour
)

// sessions serves the streaming-session operations. It is built by
// sessionOperations from the Service's Config.
type sessions struct {
	svc      *Service
	key      []byte
	headers  headerCache
	live     liveCache
	segments *segmentCache
	baseURL  func(r *http.Request) string
	window   time.Duration
	liveHold time.Duration
}

// sessionOperations returns GetHLSStreamingSessionURL,
// GetDASHStreamingSessionURL, their playlist and segment resources,
// GetClip and GetImages.
func (s *Service) sessionOperations() []awsapi.Operation {
	h, err := newSessions(s)
	if err != nil {
		// Without a key no session can be signed; answer every call with
		// the reason rather than failing the whole server.
		s.log.Error("streaming sessions disabled", "err", err)
		fail := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { awsapi.WriteError(w, r, err) })
		return []awsapi.Operation{
			{Name: "GetHLSStreamingSessionURL", Pattern: "POST /getHLSStreamingSessionURL", Handler: fail},
			{Name: "GetDASHStreamingSessionURL", Pattern: "POST /getDASHStreamingSessionURL", Handler: fail},
		}
	}
	none := func(name, pattern string, f http.HandlerFunc) awsapi.Operation {
		return awsapi.Operation{Name: name, Pattern: pattern, Handler: f, Auth: awsapi.AuthNone}
	}
	return []awsapi.Operation{
		{Name: "GetHLSStreamingSessionURL", Pattern: "POST /getHLSStreamingSessionURL", Handler: http.HandlerFunc(h.getHLSStreamingSessionURL)},
		none("GetHLSMasterPlaylist", "GET /hls/v1/getHLSMasterPlaylist.m3u8", h.getHLSMasterPlaylist),
		none("GetHLSMediaPlaylist", "GET /hls/v1/getHLSMediaPlaylist.m3u8", h.getHLSMediaPlaylist),
		none("GetMP4InitFragment", "GET /hls/v1/getMP4InitFragment.mp4", h.getMP4InitFragment(kindHLS)),
		none("GetMP4MediaFragment", "GET /hls/v1/getMP4MediaFragment.mp4", h.getMP4MediaFragment(kindHLS)),
		none("GetTSFragment", "GET /hls/v1/getTSFragment.ts", h.getTSFragment),
		{Name: "GetDASHStreamingSessionURL", Pattern: "POST /getDASHStreamingSessionURL", Handler: http.HandlerFunc(h.getDASHStreamingSessionURL)},
		none("GetDASHManifest", "GET /dash/v1/getDASHManifest.mpd", h.getDASHManifest),
		none("GetMP4InitFragment", "GET /dash/v1/getMP4InitFragment.mp4", h.getMP4InitFragment(kindDASH)),
		none("GetMP4MediaFragment", "GET /dash/v1/getMP4MediaFragment.mp4", h.getMP4MediaFragment(kindDASH)),
		{Name: "GetClip", Pattern: "POST /getClip", Handler: http.HandlerFunc(h.getClip)},
	}
}

func newSessions(s *Service) (*sessions, error) {
	cfg := s.cfg.Sessions
	key, err := sessionKey(cfg)
	if err != nil {
		return nil, err
	}
	h := &sessions{svc: s, key: key, baseURL: cfg.BaseURL, window: cfg.LiveWindow, segments: newSegmentCache(cfg.SegmentCacheBytes)}
	if cfg.SegmentCacheBytes <= 0 {
		h.segments = newSegmentCache(defaultSegmentCacheBytes)
	}
	if h.baseURL == nil {
		h.baseURL = requestBaseURL
	}
	if h.window <= 0 {
		h.window = 30 * time.Second
	}
	h.liveHold = cfg.LiveSegmentWait
	if h.liveHold <= 0 {
		h.liveHold = defaultLiveHold
	}
	return h, nil
}

// sessionKey returns the configured key, the key in KeyFile (creating
// it) or a fresh random key.
func sessionKey(cfg SessionConfig) ([]byte, error) {
	if len(cfg.Key) > 0 {
		return cfg.Key, nil
	}
	if cfg.KeyFile == "" {
		return randomKey(), nil
	}
	b, err := os.ReadFile(cfg.KeyFile)
	if err == nil && len(b) >= 16 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("session key: %w", err)
	}
	key := randomKey()
	if err := os.MkdirAll(filepath.Dir(cfg.KeyFile), 0o700); err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	tmp := cfg.KeyFile + ".tmp"
	if err := os.WriteFile(tmp, key, 0o600); err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	if err := os.Rename(tmp, cfg.KeyFile); err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	return key, nil
}

func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// requestBaseURL is the scheme and host r was sent to.
func requestBaseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func (h *sessions) now() time.Time { return h.svc.cfg.Now() }

// fragmentSelector is the HLS/DASH/Clip FragmentSelector on the wire.
type fragmentSelector struct {
	FragmentSelectorType *string `json:"FragmentSelectorType"`
	TimestampRange       *struct {
		StartTimestamp *awsapi.Timestamp `json:"StartTimestamp"`
		EndTimestamp   *awsapi.Timestamp `json:"EndTimestamp"`
	} `json:"TimestampRange"`
}

// parseSelector validates a fragment selector named what ("HLSFragmentSelector").
func parseSelector(what string, fs *fragmentSelector, required bool) (kind selectorKind, start, end time.Time, err error) {
	kind = selectorServer
	if fs == nil {
		return kind, start, end, nil
	}
	if t := fs.FragmentSelectorType; t != nil {
		switch *t {
		case "SERVER_TIMESTAMP":
		case "PRODUCER_TIMESTAMP":
			kind = selectorProducer
		default:
			return 0, start, end, awsapi.Errorf(awsapi.InvalidArgument, "%s.FragmentSelectorType %q is not one of PRODUCER_TIMESTAMP, SERVER_TIMESTAMP.", what, clip(*t))
		}
	} else if required {
		return 0, start, end, awsapi.Errorf(awsapi.InvalidArgument, "%s.FragmentSelectorType is required.", what)
	}
	if tr := fs.TimestampRange; tr != nil {
		if tr.StartTimestamp != nil {
			start = tr.StartTimestamp.Time
		}
		if tr.EndTimestamp != nil {
			end = tr.EndTimestamp.Time
		}
	}
	return kind, start, end, nil
}

func (k selectorKind) archive() archive.TimeKind {
	if k == selectorProducer {
		return archive.ProducerTime
	}
	return archive.ServerTime
}

// fragmentTime is f's timestamp as the session selects it.
func (s *session) fragmentTime(f *archive.Fragment) time.Time {
	if s.Selector == selectorProducer {
		return f.ProducerTime
	}
	return f.ServerTime()
}

// sessionFromRequest checks the SessionToken of a resource request. A
// missing, forged or other-kind token is a NotAuthorizedException, an
// expired one too (the API reference: "the token has expired"), with the
// 403 status the reference gives for it. A session whose stream was
// deleted (or deleted and created again) is a ResourceNotFoundException.
func (h *sessions) sessionFromRequest(r *http.Request, kind sessionKind) (*session, error) {
	tok := r.URL.Query().Get("SessionToken")
	if tok == "" {
		return nil, &awsapi.Error{Code: awsapi.MissingAuthenticationToken, Message: "The SessionToken query parameter is required."}
	}
	s, err := decodeToken(h.key, tok)
	if err != nil || s.Kind != kind {
		return nil, &awsapi.Error{Code: awsapi.NotAuthorized, Message: "The session token is not valid.", StatusCode: http.StatusForbidden}
	}
	if !h.now().Before(s.Expires) {
		return nil, &awsapi.Error{Code: awsapi.NotAuthorized, Message: "The session token has expired.", StatusCode: http.StatusForbidden}
	}
	// The session's stream must still be the one it was made for, not
	// deleted, nor deleted and created again under the same name.
	st, err := h.svc.cfg.Streams.GetStream(r.Context(), s.Stream)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && (st.Status == catalog.StatusDeleting || st.CreationTime.UnixMilli() != s.StreamCreated.UnixMilli())) {
		return nil, awsapi.Errorf(awsapi.ResourceNotFound, "The stream %s of this streaming session was deleted.", s.Stream)
	}
	if err != nil {
		return nil, fmt.Errorf("get stream %q: %w", s.Stream, err)
	}
	return s, nil
}

// checkRetention answers streams without retention as KVS does.
func checkRetention(st *catalog.Stream) error {
	if st.DataRetentionInHours <= 0 {
		return awsapi.Errorf(awsapi.NoDataRetention, "The stream %s does not retain data (DataRetentionInHours is 0).", st.Name)
	}
	return nil
}

// parseExpires validates Expires (seconds).
func parseExpires(v *int64) (time.Duration, error) {
	if v == nil {
		return defaultExpires * time.Second, nil
	}
	if *v < minExpires || *v > maxExpires {
		return 0, awsapi.Errorf(awsapi.InvalidArgument, "Expires %d is not between %d and %d seconds.", *v, minExpires, maxExpires)
	}
	return time.Duration(*v) * time.Second, nil
}

// parseMode validates PlaybackMode.
func parseMode(v *string) (playbackMode, error) {
	if v == nil {
		return modeLive, nil
	}
	switch *v {
	case "LIVE":
		return modeLive, nil
	case "LIVE_REPLAY":
		return modeLiveReplay, nil
	case "ON_DEMAND":
		return modeOnDemand, nil
	}
	return 0, awsapi.Errorf(awsapi.InvalidArgument, "PlaybackMode %q is not one of LIVE, LIVE_REPLAY, ON_DEMAND.", clip(*v))
}

// parseMaxResults validates MaxMediaPlaylistFragmentResults or
// MaxManifestFragmentResults.
func parseMaxResults(what string, v *int64, mode playbackMode) (int, error) {
	if v == nil {
		if mode == modeOnDemand {
			return defaultOnDemandResult, nil
		}
		return defaultLiveResults, nil
	}
	if *v < 1 || *v > maxFragmentResults {
		return 0, awsapi.Errorf(awsapi.InvalidArgument, "%s %d is not between 1 and %d.", what, *v, maxFragmentResults)
	}
	return int(*v), nil
}

// newSession validates what HLS and DASH requests share and finds the
// fragments the session starts with, so that a session with nothing to play
// is refused with ResourceNotFoundException as KVS does.
func (h *sessions) newSession(ctx context.Context, kind sessionKind, ref mediaStreamRef, mode playbackMode, what string, fs *fragmentSelector, expires time.Duration, maxResults int) (*session, *mediaHeader, error) {
	sel, start, end, err := parseSelector(what, fs, false)
	if err != nil {
		return nil, nil, err
	}
	now := h.now()
	s := &session{Kind: kind, Mode: mode, Selector: sel, Container: containerFMP4, MaxResults: maxResults, Created: now, Expires: now.Add(expires)}
	switch mode {
	case modeLive:
		if fs != nil && fs.TimestampRange != nil {
			return nil, nil, awsapi.Errorf(awsapi.InvalidArgument, "%s.TimestampRange must not be set when PlaybackMode is LIVE.", what)
		}
	case modeLiveReplay, modeOnDemand:
		if start.IsZero() {
			return nil, nil, awsapi.Errorf(awsapi.InvalidArgument, "%s.TimestampRange.StartTimestamp is required when PlaybackMode is %s.", what, mode)
		}
		if mode == modeOnDemand && end.IsZero() {
			return nil, nil, awsapi.Errorf(awsapi.InvalidArgument, "%s.TimestampRange.EndTimestamp is required when PlaybackMode is ON_DEMAND.", what)
		}
		if !end.IsZero() {
			if !end.After(start) {
				return nil, nil, awsapi.Errorf(awsapi.InvalidArgument, "%s.TimestampRange.EndTimestamp must be later than StartTimestamp.", what)
			}
			if end.Sub(start) > maxSessionRange {
				return nil, nil, awsapi.Errorf(awsapi.InvalidArgument, "%s.TimestampRange must not span more than 24 hours.", what)
			}
			s.Flags |= flagHasEnd
		}
		s.Start, s.End = start, end
	}
	st, err := h.svc.resolveStream(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRetention(st); err != nil {
		return nil, nil, err
	}
	s.Stream = st.Name
	s.StreamCreated = st.CreationTime.Truncate(time.Millisecond)
	first, err := h.firstFragment(s)
	if err != nil {
		return nil, nil, err
	}
	mh, err := h.headers.get(first.Header)
	if err != nil {
		return nil, nil, err
	}
	return s, mh, nil
}

func (m playbackMode) String() string {
	switch m {
	case modeLive:
		return "LIVE"
	case modeLiveReplay:
		return "LIVE_REPLAY"
	case modeOnDemand:
		return "ON_DEMAND"
	}
	return "?"
}

// firstFragment returns a fragment the session will play, or the
// ResourceNotFoundException KVS gives for a session with none. For LIVE it
// also sets the session's anchor.
func (h *sessions) firstFragment(s *session) (*archive.Fragment, error) {
	a := h.svc.cfg.Archive
	switch s.Mode {
	case modeLive:
		f, err := a.Latest(s.Stream)
		if err != nil {
			return nil, fmt.Errorf("latest fragment: %w", err)
		}
		if f == nil || s.Created.Sub(f.ServerTime()) > h.window {
			return nil, awsapi.Errorf(awsapi.ResourceNotFound, "No fragments found in the stream %s for the last %v.", s.Stream, h.window)
		}
		// Media sequence numbers count the fragments received after
		// the anchor: a little before the newest fragment, so the first
		// playlist has history to fill its window.
		anchor := f.Number.Millis - uint64(max(2*h.window, time.Minute).Milliseconds())
		s.Anchor.Millis, s.Anchor.Seq = anchor, 0
		first, err := h.liveStart(s)
		if err != nil {
			return nil, err
		}
		s.Base = first.ProducerTime.Truncate(time.Millisecond)
		s.Lag = f.ServerTime().Sub(f.ProducerTime).Round(time.Millisecond)
		return f, nil
	default:
		fs, _, err := h.list(s, archive.Number{}, 1)
		if err != nil {
			return nil, err
		}
		if len(fs) == 0 {
			return nil, awsapi.Errorf(awsapi.ResourceNotFound, "No fragments found in the stream %s for the requested time range.", s.Stream)
		}
		s.Base = fs[0].ProducerTime.Truncate(time.Millisecond)
		return fs[0], nil
	}
}

// liveStart returns the fragment a new LIVE session's first playlist or
// manifest starts with: the MaxResults-th newest after the anchor.
func (h *sessions) liveStart(s *session) (*archive.Fragment, error) {
	ring := make([]*archive.Fragment, s.MaxResults)
	n := 0
	last := archive.Number{Millis: s.Anchor.Millis, Seq: s.Anchor.Seq}
	for {
		f, _, err := h.svc.cfg.Archive.Next(s.Stream, last)
		if err != nil {
			return nil, fmt.Errorf("next fragment: %w", err)
		}
		if f == nil {
			break
		}
		ring[n%len(ring)] = f
		n++
		last = f.Number
	}
	if n == 0 {
		return nil, awsapi.Errorf(awsapi.ResourceNotFound, "No fragments found in the stream %s for the last %v.", s.Stream, h.window)
	}
	if n < len(ring) {
		return ring[0], nil
	}
	return ring[n%len(ring)], nil
}

// list returns up to limit fragments of an ON_DEMAND or LIVE_REPLAY
// session's range after fragment n, and whether more follow.
func (h *sessions) list(s *session, n archive.Number, limit int) ([]*archive.Fragment, bool, error) {
	end := s.End
	if end.IsZero() {
		end = time.Unix(1<<40, 0)
	}
	fs, more, err := h.svc.cfg.Archive.List(s.Stream, s.Selector.archive(), s.Start, end, n, limit)
	if err != nil {
		return nil, false, fmt.Errorf("list fragments: %w", err)
	}
	return fs, more, nil
}

// window is the list of fragments a playlist or manifest shows now.
type window struct {
	frags []*archive.Fragment
	// seq is the media sequence number of frags[0].
	seq int
	// discSeq counts the discontinuities before frags[0] and at its
	// start (HLS EXT-X-DISCONTINUITY-SEQUENCE, RFC 8216 §4.3.3.3).
	discSeq int
	// longest is the longest fragment duration the session has shown,
	// so that a live EXT-X-TARGETDURATION does not shrink (§4.3.3.1).
	longest time.Duration
	// complete: no fragment will be added (HLS EXT-X-ENDLIST, DASH
	// static).
	complete bool
}

// playlistWindow returns the fragments a session's playlist lists now.
func (h *sessions) playlistWindow(s *session, token string) (window, error) {
	switch s.Mode {
	case modeOnDemand:
		fs, _, err := h.list(s, archive.Number{}, s.MaxResults)
		return window{frags: fs, complete: true}, err
	case modeLiveReplay:
		return h.replayWindow(s)
	default:
		return h.live.window(h.svc.cfg.Archive, s, token)
	}
}

// replayWindow is LIVE_REPLAY: MaxResults fragments from the start, then
// one more each time the duration of the last one has elapsed since the
// session was created; the newest MaxResults are shown.
func (h *sessions) replayWindow(s *session) (window, error) {
	elapsed := h.now().Sub(s.Created)
	var all []*archive.Fragment
	var after archive.Number
	var played time.Duration
	complete := false
	for {
		fs, more, err := h.list(s, after, 256)
		if err != nil {
			return window{}, err
		}
		stop := false
		for _, f := range fs {
			if len(all) >= s.MaxResults {
				if played > elapsed {
					stop = true
					break
				}
				played += all[len(all)-1].Duration
				if played > elapsed {
					stop = true
					break
				}
			}
			all = append(all, f)
		}
		if stop {
			break
		}
		if !more {
			complete = s.Flags&flagHasEnd != 0 && !h.now().Before(s.End)
			break
		}
		after = fs[len(fs)-1].Number
	}
	seq := max(len(all)-s.MaxResults, 0)
	disc := 0
	var longest time.Duration
	for _, f := range all {
		longest = max(longest, f.Duration)
	}
	for i := 1; i <= seq; i++ {
		if s.discontinuous(all[i-1], all[i]) {
			disc++
		}
	}
	return window{frags: all[seq:], seq: seq, discSeq: disc, longest: longest, complete: complete}, nil
}

// liveCache remembers, per LIVE session token, how far the session's
// fragments have been counted, so that each playlist reload only walks the
// fragments that arrived since the last one.
type liveCache struct {
	mu sync.Mutex
	m  map[string]*liveState
}

type liveState struct {
	mu    sync.Mutex
	last  archive.Number      // newest fragment counted
	count int                 // fragments counted after the anchor
	tail  []*archive.Fragment // the newest MaxResults of them
	// disc counts the discontinuities between counted fragments, and
	// tailDisc says which tail fragments follow one.
	disc     int
	tailDisc []bool
	longest  time.Duration
}

const maxLiveSessions = 8192

func (c *liveCache) state(token string) *liveState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[token]; st != nil {
		return st
	}
	if c.m == nil || len(c.m) >= maxLiveSessions {
		c.m = make(map[string]*liveState)
	}
	st := &liveState{}
	c.m[token] = st
	return st
}

// window walks a LIVE session's fragments from where the last call
// stopped to the newest one received (durable or not), so a fragment shows
// as soon as the archive has it.
func (c *liveCache) window(a Archive, s *session, token string) (window, error) {
	st := c.state(token)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.count == 0 {
		st.last = archive.Number{Millis: s.Anchor.Millis, Seq: s.Anchor.Seq}
	}
	for {
		f, _, err := a.Next(s.Stream, st.last)
		if err != nil {
			return window{}, fmt.Errorf("next fragment: %w", err)
		}
		if f == nil {
			break
		}
		d := len(st.tail) > 0 && s.discontinuous(st.tail[len(st.tail)-1], f)
		if d {
			st.disc++
		}
		st.last = f.Number
		st.longest = max(st.longest, f.Duration)
		st.count++
		st.tail = append(st.tail, f)
		st.tailDisc = append(st.tailDisc, d)
		if n := len(st.tail) - s.MaxResults; n > 0 {
			st.tail = append(st.tail[:0:0], st.tail[n:]...)
			st.tailDisc = append(st.tailDisc[:0:0], st.tailDisc[n:]...)
		}
	}
	// The discontinuities shown are those between tail fragments.
	disc := st.disc
	for _, d := range st.tailDisc[min(1, len(st.tailDisc)):] {
		if d {
			disc--
		}
	}
	return window{frags: slices.Clone(st.tail), seq: st.count - len(st.tail), discSeq: disc, longest: st.longest}, nil
}

// fragmentOf returns the fragment named by the FragmentNumber query
// parameter if it belongs to session s.
func (h *sessions) fragmentOf(r *http.Request, s *session) (*archive.Fragment, error) {
	v := r.URL.Query().Get("FragmentNumber")
	if v == "" {
		return nil, awsapi.Errorf(awsapi.InvalidArgument, "The FragmentNumber query parameter is required.")
	}
	n, err := archive.ParseNumber(v)
	if err != nil {
		return nil, awsapi.Errorf(awsapi.InvalidArgument, "FragmentNumber %q is not a fragment number.", clip(v))
	}
	f, err := h.svc.cfg.Archive.Get(s.Stream, n)
	if errors.Is(err, archive.ErrNotFound) {
		return nil, awsapi.Errorf(awsapi.ResourceNotFound, "Fragment %s was not found in the stream.", v)
	}
	if err != nil {
		return nil, fmt.Errorf("get fragment: %w", err)
	}
	if !s.contains(f) {
		return nil, awsapi.Errorf(awsapi.ResourceNotFound, "Fragment %s is not part of this session.", v)
	}
	return f, nil
}

// contains reports whether f may be served in session s.
func (s *session) contains(f *archive.Fragment) bool {
	switch s.Mode {
	case modeLive:
		return (archive.Number{Millis: s.Anchor.Millis, Seq: s.Anchor.Seq}).Less(f.Number)
	default:
		t := s.fragmentTime(f)
		return !t.Before(s.Start) && (s.Flags&flagHasEnd == 0 || !t.After(s.End))
	}
}

// trackParam reads the optional TrackNumber query parameter (0 = all).
func trackParam(r *http.Request) (uint64, error) {
	v := r.URL.Query().Get("TrackNumber")
	if v == "" {
		return 0, nil
	}
	var n uint64
	if _, err := fmt.Sscan(v, &n); err != nil || n == 0 {
		return 0, awsapi.Errorf(awsapi.InvalidArgument, "TrackNumber %q is not a track number.", clip(v))
	}
	return n, nil
}

// readFragment reads and demuxes f.
func (h *sessions) readFragment(s string, f *archive.Fragment) (*mediaHeader, *demuxed, error) {
	mh, err := h.headers.get(f.Header)
	if err != nil {
		return nil, nil, err
	}
	cluster, err := h.svc.cfg.Archive.ReadCluster(s, f)
	if errors.Is(err, archive.ErrNotFound) {
		return nil, nil, awsapi.Errorf(awsapi.ResourceNotFound, "Fragment %s is no longer available.", f.Number)
	}
	if err != nil {
		return nil, nil, err
	}
	d, err := demux(mh, f, cluster)
	if err != nil {
		return nil, nil, awsapi.Errorf(awsapi.InvalidMediaFrame, "Fragment %s could not be parsed: %v", f.Number, err)
	}
	return mh, d, nil
}

// writeResource answers a session resource: CORS open, since players load
// them from pages on other origins, and no caching of playlists.
func writeResource(w http.ResponseWriter, contentType string, body []byte, cache bool) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	if !cache {
		hd.Set("Cache-Control", "no-cache")
	}
	_, _ = w.Write(body)
}
