package playback

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/media/fmp4"
	"github.com/openkvs/openkvs/media/mkv"
)

// BenchmarkRemuxFMP4 measures the fMP4 remux of one stored fragment (MKV
// Cluster → moof + mdat), the work behind each getMP4MediaFragment.mp4;
// throughput is in bytes of media.
//
// The test files are 160x120 pictures (frames of a few hundred bytes), so
// their figures are dominated by per-frame costs; "4Mbps" is the h264_aac
// Cluster with every video frame grown to 20 kB (a 4 Mbit/s, 25 fps
// stream), closer to what cameras send. Remuxing never looks inside the
// frames, so their content does not matter.
func BenchmarkRemuxFMP4(b *testing.B) {
	for _, name := range []string{"h264_aac", "h265_opus", "4Mbps"} {
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, false)
			file := h264AAC
			if name == "h265_opus" {
				file = h265Opus
			}
			tf := loadFile(b, file)
			if name == "4Mbps" {
				tf.clusters[1].raw = grownCluster(b, tf.clusters[1].raw, tf.clusters[1].timecode, 20000)
			}
			f := e.put("s", tf, 1, e.clock())
			cluster := tf.clusters[1].raw
			var hc headerCache
			var fw fmp4.FragmentWriter
			var out []byte
			var samples []fmp4.Sample
			b.SetBytes(int64(len(cluster)))
			b.ReportAllocs()
			for b.Loop() {
				mh, err := hc.get(f.Header)
				if err != nil {
					b.Fatal(err)
				}
				d, err := demux(mh, f, cluster)
				if err != nil {
					b.Fatal(err)
				}
				tfs := fmp4Fragment(mh, d, 0, samples[:0])
				if out, err = fw.AppendFragment(out[:0], 1, tfs...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// grownCluster rewrites a Cluster with each track-1 frame padded to size
// bytes (one 4-byte-length NAL unit).
func grownCluster(b *testing.B, raw []byte, timecode uint64, size int) []byte {
	frames, ok := walkCluster(raw, nil)
	if !ok {
		b.Fatal("cluster not walkable")
	}
	var mf []mkv.Frame
	for _, f := range frames {
		data := f.data
		if f.track == 1 {
			data = make([]byte, size)
			binary.BigEndian.PutUint32(data, uint32(size-4))
			data[4] = 0x41
		}
		mf = append(mf, mkv.Frame{Track: f.track, Timecode: f.timecode, Keyframe: f.key, Data: data})
	}
	out, err := mkv.AppendCluster(nil, timecode, mf)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkHLSLiveLatency measures the time from archive.Put of a new
// fragment to a LIVE media playlist, fetched over loopback HTTP, that
// lists it.
func BenchmarkHLSLiveLatency(b *testing.B) {
	e := newEnv(b, true)
	e.createStream("cam", 24)
	tf := loadFile(b, h264AAC)
	base := time.Now()
	e.put("cam", tf, 0, base)
	u := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam"})
	_, _, master := e.get(u)
	mediaURL := resolve(b, u, lastLine(master))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	i := 0
	var lat []time.Duration
	for b.Loop() {
		i++
		start := time.Now()
		f := tf.fragment(e.arch, i%len(tf.clusters), base.Add(time.Duration(i)*time.Second))
		if _, err := e.arch.Put("cam", f, tf.clusters[i%len(tf.clusters)].raw, true); err != nil {
			b.Fatal(err)
		}
		resp, err := client.Get(mediaURL)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), f.Number.String()) {
			b.Fatalf("fragment %s not in the playlist:\n%s", f.Number, body)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkHLSViewers has many players of one LIVE stream fetch each new
// fragment as it arrives: every iteration stores a fragment, then each
// viewer, on its own connection, loads the media playlist and the newest
// segment. It reports the p50 and p99 latency of those segment fetches.
// In the "burst" cases every viewer asks at the same instant; in "paced"
// ones their requests are spread over one second, as players polling
// every second and started at different times are. The viewers' HTTP
// clients run in the same process, on the same cores, as the server.
func BenchmarkHLSViewers(b *testing.B) {
	for _, tc := range []struct {
		viewers int
		spread  time.Duration
	}{{200, 0}, {2000, 0}, {2000, time.Second}} {
		viewers := tc.viewers
		name := strconv.Itoa(viewers) + "-burst"
		if tc.spread > 0 {
			name = strconv.Itoa(viewers) + "-paced"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, true)
			e.createStream("cam", 24)
			tf := loadFile(b, h264AAC)
			base := time.Now()
			e.put("cam", tf, 0, base)
			u := e.sessionURL("getHLSStreamingSessionURL", map[string]any{"StreamName": "cam"})
			_, _, master := e.get(u)
			mediaURL := resolve(b, u, lastLine(master))
			clients := make([]*http.Client, viewers)
			for i := range clients {
				clients[i] = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			}
			defer func() {
				for _, c := range clients {
					c.CloseIdleConnections()
				}
			}()
			fetch := func(c *http.Client, url string) ([]byte, error) {
				resp, err := c.Get(url)
				if err != nil {
					return nil, err
				}
				defer resp.Body.Close()
				return io.ReadAll(resp.Body)
			}
			var mu sync.Mutex
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				f := e.put("cam", tf, i%len(tf.clusters), base.Add(time.Duration(i)*time.Second))
				var wg sync.WaitGroup
				errs := make(chan error, viewers)
				t0 := time.Now()
				for j, c := range clients {
					at := t0.Add(tc.spread * time.Duration(j) / time.Duration(viewers))
					wg.Go(func() {
						time.Sleep(time.Until(at))
						pl, err := fetch(c, mediaURL)
						if err != nil {
							errs <- err
							return
						}
						segs := segmentURLs(b, mediaURL, pl)
						last := segs[len(segs)-1]
						if !strings.Contains(last, f.Number.String()) {
							errs <- fmt.Errorf("newest segment %s, want fragment %s", last, f.Number)
							return
						}
						start := time.Now()
						seg, err := fetch(c, last)
						d := time.Since(start)
						if err != nil || len(seg) == 0 {
							errs <- fmt.Errorf("segment: %d bytes, %v", len(seg), err)
							return
						}
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "seg-p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "seg-p99-ms")
		})
	}
}
