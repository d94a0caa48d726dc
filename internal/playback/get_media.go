package playback

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/mkv"
)

// mediaContentType is the Content-Type of GetMedia and
// GetMediaForFragmentList responses, as KVS sends it.
const mediaContentType = "video/webm"

// The StartSelectorType values of the kinesis-video-media model.
const (
	selectorNow               = "NOW"
	selectorEarliest          = "EARLIEST"
	selectorFragmentNumber    = "FRAGMENT_NUMBER"
	selectorProducerTimestamp = "PRODUCER_TIMESTAMP"
	selectorServerTimestamp   = "SERVER_TIMESTAMP"
	selectorContinuationToken = "CONTINUATION_TOKEN"
)

// Model patterns: fragment numbers are 1..128 digits, continuation tokens
// 1..128 of [a-zA-Z0-9_.-].
var (
	fragmentNumberPattern    = regexp.MustCompile(`^[0-9]{1,128}$`)
	continuationTokenPattern = regexp.MustCompile(`^[a-zA-Z0-9_.\-]{1,128}$`)
)

// The AWS_KINESISVIDEO_ERROR_ID values of a failed MKV stream (GetMedia
// API reference, Payload).
const (
	errIDFragmentNotFound = 4000
	errIDInternal         = 5000
)

type getMediaInput struct {
	mediaStreamRef
	StartSelector *startSelectorInput `json:"StartSelector"`
}

type startSelectorInput struct {
	StartSelectorType   *string           `json:"StartSelectorType"`
	AfterFragmentNumber *string           `json:"AfterFragmentNumber"`
	StartTimestamp      *awsapi.Timestamp `json:"StartTimestamp"`
	ContinuationToken   *string           `json:"ContinuationToken"`
}

// startSelector is a validated StartSelector.
type startSelector struct {
	typ string
	// after is the fragment number of FRAGMENT_NUMBER and
	// CONTINUATION_TOKEN.
	after archive.Number
	// at and kind are the time of the timestamp selectors.
	at   time.Time
	kind archive.TimeKind
}

// parseStartSelector validates a StartSelector against the model: the type
// is required, and each type requires its member.
func parseStartSelector(in *startSelectorInput) (startSelector, error) {
	if in == nil || in.StartSelectorType == nil {
		return startSelector{}, invalid("StartSelector.StartSelectorType is required.")
	}
	sel := startSelector{typ: *in.StartSelectorType}
	switch sel.typ {
	case selectorNow, selectorEarliest:
	case selectorFragmentNumber:
		if in.AfterFragmentNumber == nil {
			return sel, invalid("StartSelector.AfterFragmentNumber is required with StartSelectorType FRAGMENT_NUMBER.")
		}
		if !fragmentNumberPattern.MatchString(*in.AfterFragmentNumber) {
			return sel, invalid("StartSelector.AfterFragmentNumber %q must be 1 to 128 digits.", clip(*in.AfterFragmentNumber))
		}
		n, err := archive.ParseNumber(*in.AfterFragmentNumber)
		if err != nil {
			return sel, errFragmentNotFound(*in.AfterFragmentNumber)
		}
		sel.after = n
	case selectorContinuationToken:
		if in.ContinuationToken == nil {
			return sel, invalid("StartSelector.ContinuationToken is required with StartSelectorType CONTINUATION_TOKEN.")
		}
		tok := *in.ContinuationToken
		if !continuationTokenPattern.MatchString(tok) {
			return sel, invalid("StartSelector.ContinuationToken %q must be 1 to 128 characters of [a-zA-Z0-9_.-].", clip(tok))
		}
		n, err := archive.ParseNumber(tok)
		if err != nil {
			return sel, invalid("StartSelector.ContinuationToken %q is not a continuation token of this stream.", tok)
		}
		sel.after = n
	case selectorProducerTimestamp, selectorServerTimestamp:
		if in.StartTimestamp == nil || in.StartTimestamp.IsZero() {
			return sel, invalid("StartSelector.StartTimestamp is required with StartSelectorType %s.", sel.typ)
		}
		sel.at = in.StartTimestamp.Time
		sel.kind = archive.ServerTime
		if sel.typ == selectorProducerTimestamp {
			sel.kind = archive.ProducerTime
		}
	default:
		return sel, invalid("StartSelector.StartSelectorType %q must be one of NOW, EARLIEST, FRAGMENT_NUMBER, PRODUCER_TIMESTAMP, SERVER_TIMESTAMP, CONTINUATION_TOKEN.", clip(sel.typ))
	}
	return sel, nil
}

func errFragmentNotFound(n string) error {
	return awsapi.Errorf(awsapi.ResourceNotFound, "The fragment %s is not found in the stream.", clip(n))
}

// cursor is where a GetMedia session reads: first (if set) is sent first,
// then every fragment numbered after after, in number order. Until the
// first fragment is sent, fragments that end before skipBefore (by kind)
// are passed over.
type cursor struct {
	first      *archive.Fragment
	after      archive.Number
	skipBefore time.Time
	kind       archive.TimeKind
}

// start places a cursor on stream for sel.
func (s *Service) start(stream string, sel startSelector) (cursor, error) {
	arch := s.cfg.Archive
	switch sel.typ {
	case selectorNow:
		f, err := arch.Latest(stream)
		return cursor{first: f}, err
	case selectorFragmentNumber:
		if _, err := arch.Get(stream, sel.after); err != nil {
			if errors.Is(err, archive.ErrNotFound) {
				return cursor{}, errFragmentNotFound(sel.after.String())
			}
			return cursor{}, err
		}
		return cursor{after: sel.after}, nil
	case selectorContinuationToken:
		return cursor{after: sel.after}, nil
	case selectorProducerTimestamp, selectorServerTimestamp:
		f, err := arch.Seek(stream, sel.kind, sel.at)
		if err != nil || f != nil {
			return cursor{first: f}, err
		}
		// Nothing at or after the time yet: follow the live edge.
		c := cursor{skipBefore: sel.at, kind: sel.kind}
		l, err := arch.Latest(stream)
		if l != nil {
			c.after = l.Number
		}
		return c, err
	}
	return cursor{}, nil // EARLIEST
}

// next returns the next fragment to send, waiting for one to arrive. It
// returns ctx's error when ctx ends first.
func (c *cursor) next(ctx context.Context, arch Archive, stream string) (*archive.Fragment, error) {
	for {
		f := c.first
		c.first = nil
		if f == nil {
			var wait <-chan struct{}
			var err error
			f, wait, err = arch.Next(stream, c.after)
			if err != nil {
				return nil, err
			}
			if f == nil {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-wait:
				}
				continue
			}
		}
		c.after = f.Number
		if !c.skipBefore.IsZero() {
			t := f.ServerTime()
			if c.kind == archive.ProducerTime {
				t = f.ProducerTime
			}
			if !c.skipBefore.Before(t.Add(max(f.Duration, time.Millisecond))) {
				continue
			}
			c.skipBefore = time.Time{}
		}
		return f, nil
	}
}

// mediaSession is one running GetMedia.
type mediaSession struct {
	cancel context.CancelFunc
}

// openSession registers a GetMedia session of stream, enforcing
// MaxGetMediaPerStream.
func (s *Service) openSession(stream string, m *mediaSession) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return awsapi.Errorf(awsapi.ClientLimitExceeded, "The server is shutting down.")
	}
	set := s.sessions[stream]
	if limit := s.cfg.Media.MaxGetMediaPerStream; limit > 0 && len(set) >= limit {
		return awsapi.Errorf(awsapi.ConnectionLimitExceeded, "The stream already has %d GetMedia connections, the most allowed.", limit)
	}
	if set == nil {
		set = make(map[*mediaSession]struct{})
		s.sessions[stream] = set
	}
	set[m] = struct{}{}
	s.notifyLocked()
	return nil
}

func (s *Service) closeSession(stream string, m *mediaSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions[stream], m)
	if len(s.sessions[stream]) == 0 {
		delete(s.sessions, stream)
	}
	s.notifyLocked()
}

// notifyLocked wakes waiters on s.changed. Callers hold s.mu.
func (s *Service) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// mediaSessions returns the number of GetMedia sessions of stream and a
// channel closed at the next change.
func (s *Service) mediaSessions(stream string) (int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions[stream]), s.changed
}

// getMedia serves GetMedia: an endless MKV stream of the stream's
// fragments from the start selector on, following the live edge for as
// long as the client reads.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_dataplane_GetMedia.html
func (s *Service) getMedia(w http.ResponseWriter, r *http.Request) {
	var in getMediaInput
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	if err := s.getMediaRate.allow(in.rateKey()); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	sel, err := parseStartSelector(in.StartSelector)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	st, err := s.resolveStream(r.Context(), in.mediaStreamRef)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	m := &mediaSession{cancel: cancel}
	if err := s.openSession(st.Name, m); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	defer s.closeSession(st.Name, m)
	cur, err := s.start(st.Name, sel)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	log := s.log.With("stream", st.Name, "request_id", awsapi.RequestIDFrom(r.Context()))
	log.Debug("getmedia: start", "selector", sel.typ)

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", mediaContentType)
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	cw := &chunkWriter{w: w}
	sent := 0
	defer func() { log.Debug("getmedia: end", "fragments", sent, "err", ctx.Err()) }()
	arch := s.cfg.Archive
	for {
		f, err := cur.next(ctx, arch, st.Name)
		if err != nil {
			return
		}
		cluster, err := arch.ReadCluster(st.Name, f)
		if errors.Is(err, archive.ErrNotFound) {
			continue // expired or deleted since Next found it
		}
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.Media.WriteTimeout))
		if err != nil {
			log.Error("getmedia: read fragment", "fragment", f.Number, "err", err)
			_ = cw.writeError(f, errIDInternal, "Internal error")
			_ = rc.Flush()
			return
		}
		behind := int64(0)
		if l, _ := arch.Latest(st.Name); l != nil {
			behind = max(l.ServerTime().Sub(f.ServerTime()).Milliseconds(), 0)
		}
		err = cw.writeChunk(f, cluster,
			mkv.SimpleTag{Name: mkv.TagMillisBehindNow, String: strconv.FormatInt(behind, 10)},
			mkv.SimpleTag{Name: mkv.TagContinuationToken, String: f.Number.String()})
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
		sent++
	}
}

// chunkWriter writes the MKV chunks of GetMedia and
// GetMediaForFragmentList: each fragment as a document of its own (EBML
// header, Segment, Info and Tracks), so that a consumer can start at any
// chunk and the KVS parser library, which forgets the tracks at every
// Segment, always finds them; then the fragment's Tags (number, server and
// producer timestamps), the producer's fragment metadata Tags, the
// Cluster as stored, and optional Tags after it (GetMedia's
// millis-behind-now and continuation token).
type chunkWriter struct {
	w      io.Writer
	header *archive.Header
	mw     *mkv.Writer
}

// use selects the mkv.Writer for header h (its TimecodeScale goes in Info).
func (c *chunkWriter) use(h *archive.Header) error {
	if c.mw != nil && c.header == h {
		return nil
	}
	scale := uint64(1_000_000)
	if h != nil && h.TimecodeScale != 0 {
		scale = h.TimecodeScale
	}
	mw, err := mkv.NewWriter(c.w, mkv.WriterConfig{TimecodeScale: scale})
	if err != nil {
		return err
	}
	c.mw, c.header = mw, h
	return nil
}

func (c *chunkWriter) writeChunk(f *archive.Fragment, cluster []byte, after ...mkv.SimpleTag) error {
	if err := c.use(f.Header); err != nil {
		return err
	}
	if err := c.mw.WriteHeaderRaw(f.Header.Tracks); err != nil {
		return err
	}
	fn := f.Number.String()
	if err := c.mw.WriteTags(
		mkv.SimpleTag{Name: mkv.TagFragmentNumber, String: fn},
		mkv.SimpleTag{Name: mkv.TagServerTimestamp, String: mkv.FormatTimestamp(f.ServerTime())},
		mkv.SimpleTag{Name: mkv.TagProducerTimestamp, String: mkv.FormatTimestamp(f.ProducerTime)},
	); err != nil {
		return err
	}
	if len(f.Tags) > 0 {
		if err := c.mw.WriteRaw(f.Tags); err != nil {
			return err
		}
	}
	if err := c.mw.WriteRaw(cluster); err != nil {
		return err
	}
	if len(after) > 0 {
		return c.mw.WriteTags(after...)
	}
	return nil
}

// writeError writes the last chunk of a failed stream, for fragment f: a
// document with f's header whose Tags carry the fragment number and the
// error code and id, and no Cluster.
func (c *chunkWriter) writeError(f *archive.Fragment, id int, code string) error {
	if err := c.use(f.Header); err != nil {
		return err
	}
	if err := c.mw.WriteHeaderRaw(f.Header.Tracks); err != nil {
		return err
	}
	return c.mw.WriteTags(
		mkv.SimpleTag{Name: mkv.TagFragmentNumber, String: f.Number.String()},
		mkv.SimpleTag{Name: mkv.TagErrorCode, String: code},
		mkv.SimpleTag{Name: mkv.TagErrorID, String: strconv.Itoa(id)},
	)
}
