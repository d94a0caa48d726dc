package producer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testserver"
	"github.com/openkvs/openkvs/media/mkv"
)

// noTURN turns off the TURN listeners a media test does not need (and
// whose second port could be taken by another test).
func noTURN(c *config.Config) { c.TURN.Enabled = false }

// sourceFrames reads an MKV file's tracks and frames, PTS from the first
// frame, leaving out frames before the first video key frame (which a
// producer cannot send).
func sourceFrames(t *testing.T, data []byte) ([]Track, []Frame) {
	t.Helper()
	rd := mkv.NewReader(bytes.NewReader(data), mkv.ReaderConfig{})
	var tracks []Track
	var frames []Frame
	video := uint64(0)
	base := time.Duration(-1)
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return tracks, frames
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev {
		case mkv.EventTracks:
			for _, e := range rd.Tracks().Entries {
				tracks = append(tracks, Track{Track: e})
				if e.Type == mkv.TrackTypeVideo && video == 0 {
					video = e.Number
				}
			}
		case mkv.EventCluster:
			c := rd.Cluster()
			for i := range c.Frames {
				f := &c.Frames[i]
				pts := time.Duration(c.Time(f)) * time.Duration(rd.Info().TimecodeScale)
				if base < 0 {
					if f.Track != video || !f.Keyframe {
						continue
					}
					base = pts
				}
				frames = append(frames, Frame{Track: f.Track, PTS: pts - base, KeyFrame: f.Keyframe, Data: bytes.Clone(f.Data)})
			}
		}
	}
}

// archivedFrames opens the archive in dir (the server must be stopped)
// and returns every frame of stream with its count.
func archivedFrames(t *testing.T, dir, stream string) (map[frameKey]int, int) {
	t.Helper()
	a, err := archive.Open(archive.Config{Dir: dir, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	frags, _, err := a.List(stream, archive.ProducerTime, time.Unix(0, 0), time.Now().Add(24*time.Hour), archive.Number{}, 100000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[frameKey]int{}
	for _, f := range frags {
		raw, err := a.ReadCluster(stream, f)
		if err != nil {
			t.Fatal(err)
		}
		var doc bytes.Buffer
		w, err := mkv.NewWriter(&doc, mkv.WriterConfig{TimecodeScale: f.Header.TimecodeScale})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeaderRaw(f.Header.Tracks); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteRaw(raw); err != nil {
			t.Fatal(err)
		}
		rd := mkv.NewReader(&doc, mkv.ReaderConfig{})
		for {
			ev, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("fragment %s: %v", f.Number, err)
			}
			if ev != mkv.EventCluster {
				continue
			}
			c := rd.Cluster()
			for i := range c.Frames {
				fr := &c.Frames[i]
				ms := c.Time(fr) * int64(f.Header.TimecodeScale) / int64(time.Millisecond)
				out[frameKey{fr.Track, ms, string(fr.Data)}]++
			}
		}
	}
	return out, len(frags)
}

// taggedFragments counts the archived fragments whose producer Tags hold
// value.
func taggedFragments(t *testing.T, dir, stream, value string) int {
	t.Helper()
	a, err := archive.Open(archive.Config{Dir: dir, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	frags, _, err := a.List(stream, archive.ProducerTime, time.Unix(0, 0), time.Now().Add(24*time.Hour), archive.Number{}, 100000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range frags {
		if bytes.Contains(f.Tags, []byte(value)) {
			n++
		}
	}
	return n
}

// TestIntegrationServerRestart streams ffmpeg-made media to a real openkvs
// (endpoint discovery with the real kinesisvideo client, SigV4, PutMedia,
// the archive), restarts the server on the same data dir and address in
// the middle, and checks that the archive holds every frame exactly once.
func TestIntegrationServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and ffmpeg")
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"h264 aac", []string{"-c:v", "libx264", "-g", "25", "-c:a", "aac"}},
		{"h265 opus", []string{"-c:v", "libx265", "-x265-params", "keyint=25:min-keyint=25:log-level=error", "-c:a", "libopus"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			media := ffmpeg(t, "x.mkv", append([]string{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
				"-f", "lavfi", "-i", "sine", "-t", "6"}, tt.args...)...)
			tracks, frames := sourceFrames(t, media)
			if len(tracks) != 2 || len(frames) < 300 {
				t.Fatalf("%d tracks, %d frames from ffmpeg", len(tracks), len(frames))
			}

			dir := t.TempDir()
			srv := testserver.Start(t, testserver.Options{DataDir: dir, Configure: noTURN})
			addr := strings.TrimPrefix(srv.HTTPURL, "http://")
			ctx := context.Background()
			if _, err := srv.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{
				StreamName: aws.String("cam1"), DataRetentionInHours: aws.Int32(24),
			}); err != nil {
				t.Fatal(err)
			}

			persisted := make(chan int64, 1000)
			var mu sync.Mutex
			var drops []Drop
			p, err := Start(ctx, Config{
				AWS:        srv.AWSConfig(srv.HTTPURL),
				StreamName: "cam1",
				Tracks:     tracks,
				StartTime:  time.Now().Add(-time.Minute).Truncate(time.Millisecond),
				MinBackoff: time.Millisecond,
				MaxBackoff: 20 * time.Millisecond,
				OnAck: func(a Ack) {
					if a.EventType == EventPersisted {
						persisted <- a.FragmentTimecode
					}
				},
				OnDrop: func(d Drop) {
					mu.Lock()
					drops = append(drops, d)
					mu.Unlock()
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.PutFragmentMetadata("source", "ffmpeg", true); err != nil {
				t.Fatal(err)
			}
			half := len(frames) / 2
			for _, f := range frames[:half] {
				if err := p.PutFrame(ctx, f); err != nil {
					t.Fatal(err)
				}
			}
			// Restart once two fragments are PERSISTED, while the rest of
			// the first half is in flight.
			for range 2 {
				select {
				case <-persisted:
				case <-time.After(20 * time.Second):
					t.Fatalf("no PERSISTED ack; stats %+v", p.Stats())
				}
			}
			srv.Stop(t)
			srv = testserver.Start(t, testserver.Options{DataDir: dir, Configure: func(c *config.Config) { noTURN(c); c.Listen = addr }})
			for _, f := range frames[half:] {
				if err := p.PutFrame(ctx, f); err != nil {
					t.Fatal(err)
				}
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := p.Close(cctx); err != nil {
				t.Fatalf("Close: %v; stats %+v", err, p.Stats())
			}
			srv.Stop(t)

			st := p.Stats()
			if st.Connections < 2 || st.FramesDropped != 0 {
				t.Errorf("stats %+v", st)
			}
			mu.Lock()
			if len(drops) > 0 {
				t.Errorf("drops: %+v", drops)
			}
			mu.Unlock()
			start := p.cfg.StartTime
			got, n := archivedFrames(t, dir, "cam1")
			if tagged := taggedFragments(t, dir, "cam1", "ffmpeg"); tagged != n {
				t.Errorf("%d of %d fragments carry the producer's metadata", tagged, n)
			}
			if uint64(n) != st.FragmentsPersisted {
				t.Errorf("archive holds %d fragments, the producer saw %d PERSISTED", n, st.FragmentsPersisted)
			}
			for _, f := range frames {
				k := frameKey{f.Track, start.Add(f.PTS).UnixMilli(), string(f.Data)}
				if c := got[k]; c != 1 {
					t.Errorf("frame track %d at %v is in the archive %d times", f.Track, f.PTS, c)
				}
				delete(got, k)
			}
			for k, c := range got {
				t.Errorf("unexpected frame in the archive: track %d at %d ms ×%d", k.track, k.ms, c)
			}
			t.Logf("%d frames, %d fragments, stats %+v", len(frames), n, st)
		})
	}
}

// TestIntegrationNoRetention: a stream with retention 0 never gets
// PERSISTED; the producer learns that from DescribeStream and treats
// RECEIVED as final, so Close returns once everything was received.
func TestIntegrationNoRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	srv := testserver.Start(t, testserver.Options{Configure: noTURN})
	ctx := context.Background()
	if _, err := srv.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{
		StreamName: aws.String("live"), DataRetentionInHours: aws.Int32(0),
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	events := map[EventType]int{}
	cfg := testConfig("")
	cfg.AWS = srv.AWSConfig(srv.HTTPURL)
	cfg.StreamName = "live"
	cfg.StartTime = time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	cfg.OnAck = func(a Ack) {
		mu.Lock()
		events[a.EventType]++
		mu.Unlock()
	}
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, p, testFrames(100, 25))
	if err := closeWithin(t, p); err != nil {
		t.Fatalf("Close: %v; stats %+v", err, p.Stats())
	}
	mu.Lock()
	defer mu.Unlock()
	if st := p.Stats(); st.FragmentsPersisted != 4 || events[EventReceived] != 4 || events[EventPersisted] != 0 {
		t.Errorf("acks %v, stats %+v", events, st)
	}
}

// TestIntegrationHTTPS streams over the TLS listener, from a client that
// offers only HTTP/1.1 and from one that would take HTTP/2 (the server
// offers only HTTP/1.1), trusting the server's CA as AWS_CA_BUNDLE would.
func TestIntegrationHTTPS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	srv := testserver.Start(t, testserver.Options{Configure: noTURN})
	ctx := context.Background()
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(srv.CAPath()); err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA: %v", err)
	}
	for _, tt := range []struct {
		name  string
		h2    bool
		proto string
	}{
		{"http1", false, "HTTP/1.1"},
		{"http2", true, "HTTP/1.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stream := "tls-" + tt.name
			if _, err := srv.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{
				StreamName: aws.String(stream), DataRetentionInHours: aws.Int32(1),
			}); err != nil {
				t.Fatal(err)
			}
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: tt.h2}
			defer tr.CloseIdleConnections()
			var mu sync.Mutex
			protos := map[string]bool{}
			cfg := testConfig("")
			cfg.AWS = srv.AWSConfig(srv.HTTPSURL)
			cfg.AWS.HTTPClient = protoRecorder{&http.Client{Transport: tr}, &mu, protos}
			cfg.StreamName = stream
			cfg.StartTime = time.Now().Add(-time.Minute).Truncate(time.Millisecond)
			p, err := Start(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			putAll(t, p, testFrames(100, 25))
			if err := closeWithin(t, p); err != nil {
				t.Fatalf("Close: %v; stats %+v", err, p.Stats())
			}
			if st := p.Stats(); st.FragmentsPersisted != 4 || st.Connections != 1 {
				t.Errorf("stats %+v", st)
			}
			mu.Lock()
			defer mu.Unlock()
			if !protos[tt.proto] || len(protos) != 1 {
				t.Errorf("responses over %v, want only %s", protos, tt.proto)
			}
		})
	}
}

// protoRecorder notes the HTTP protocol of each response.
type protoRecorder struct {
	c      aws.HTTPClient
	mu     *sync.Mutex
	protos map[string]bool
}

func (r protoRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.c.Do(req)
	if err == nil {
		r.mu.Lock()
		r.protos[resp.Proto] = true
		r.mu.Unlock()
	}
	return resp, err
}

// TestIntegrationControlEndpoints: the first of ControlEndpoints is dead
// (nothing listens there, as after a node's kill -9); the producer moves
// on to the next, a live server, and every frame is archived there once.
func TestIntegrationControlEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and ffmpeg")
	}
	media := ffmpeg(t, "x.mkv", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "3", "-c:v", "libx264", "-g", "25")
	tracks, frames := sourceFrames(t, media)
	dir := t.TempDir()
	srv := testserver.Start(t, testserver.Options{DataDir: dir, Configure: noTURN})
	ctx := context.Background()
	if _, err := srv.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{
		StreamName: aws.String("cam1"), DataRetentionInHours: aws.Int32(24),
	}); err != nil {
		t.Fatal(err)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	p, err := Start(ctx, Config{
		AWS:              srv.AWSConfig(dead.URL),
		ControlEndpoints: []string{dead.URL, srv.HTTPURL},
		StreamName:       "cam1",
		Tracks:           tracks,
		StartTime:        time.Now().Add(-time.Minute).Truncate(time.Millisecond),
		MinBackoff:       time.Millisecond,
		MaxBackoff:       20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, p, frames)
	if err := closeWithin(t, p); err != nil {
		t.Fatalf("Close: %v; stats %+v", err, p.Stats())
	}
	srv.Stop(t)
	got, n := archivedFrames(t, dir, "cam1")
	if n == 0 || uint64(n) != p.Stats().FragmentsPersisted {
		t.Errorf("archive holds %d fragments, the producer saw %d PERSISTED", n, p.Stats().FragmentsPersisted)
	}
	for _, f := range frames {
		if c := got[frameKey{f.Track, p.cfg.StartTime.Add(f.PTS).UnixMilli(), string(f.Data)}]; c != 1 {
			t.Errorf("frame track %d at %v is in the archive %d times", f.Track, f.PTS, c)
		}
	}
}
