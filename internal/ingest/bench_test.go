package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/ingest"
	"github.com/openkvs/openkvs/internal/testserver"
	"github.com/openkvs/openkvs/media/mkv"
)

// benchFrames returns n frames of size bytes, 40 ms apart, the first a key
// frame.
func benchFrames(n, size int) []mkv.Frame {
	frames := make([]mkv.Frame, n)
	for i := range frames {
		data := bytes.Repeat([]byte{byte(i)}, size)
		frames[i] = mkv.Frame{Track: 1, Timecode: int16(i * 40), Keyframe: i == 0, Data: data}
	}
	return frames
}

// rawFsyncRate measures the disk's sequential write rate in dir when every
// chunk is followed by fsync, in MB/s.
func rawFsyncRate(b *testing.B, dir string, chunk int, total int64) float64 {
	b.Helper()
	f, err := os.CreateTemp(dir, "raw-*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := bytes.Repeat([]byte{0x5a}, chunk)
	start := time.Now()
	var n int64
	for n < total {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		n += int64(chunk)
	}
	return float64(n) / 1e6 / time.Since(start).Seconds()
}

// BenchmarkPutMediaThroughput is one PutMedia stream end to end (HTTP on
// loopback, SigV4, MKV parsing, archive with fsync) sending 1 MiB fragments
// as fast as it can; the time runs until the last PERSISTED ack. It also
// measures the disk's raw fsync'ed sequential write rate with the same
// chunk size in the same directory.
func BenchmarkPutMediaThroughput(b *testing.B) {
	h := newHarness(b, ingest.Config{ConnectionsPerSecond: -1})
	h.createStream("bench", 24)
	frames := benchFrames(16, 64<<10)
	probe, _ := mkv.AppendCluster(nil, 0, frames)
	s := startPutMedia(b, nil, h.url, putOptions{name: "bench"})
	if err := s.write(newSynth(b, 1).take()); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(probe)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		var buf []byte
		for i := range b.N {
			buf, _ = mkv.AppendCluster(buf[:0], uint64(i)*1000, frames)
			if s.write(buf) != nil {
				return
			}
		}
	}()
	for persisted := 0; persisted < b.N; {
		a, ok := s.next()
		if !ok {
			b.Fatal("ack stream ended")
		}
		switch a.EventType {
		case "PERSISTED":
			persisted++
		case "ERROR":
			b.Fatalf("ERROR ack: %s", a.raw)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	s.close()
	total := int64(b.N) * int64(len(probe))
	rate := float64(total) / 1e6 / elapsed.Seconds()
	// The disk's rate: fsync after every fragment-sized write, and after
	// every 16 MiB (what a group commit of many fragments approaches).
	size := min(max(total, 64<<20), 512<<20)
	raw1 := rawFsyncRate(b, h.dir, len(probe), size)
	raw16 := rawFsyncRate(b, h.dir, 16<<20, size)
	b.ReportMetric(rate, "MB/s-persisted")
	b.ReportMetric(raw1, "MB/s-raw-fsync-1MiB")
	b.ReportMetric(raw16, "MB/s-raw-fsync-16MiB")
	b.ReportMetric(100*rate/max(raw1, raw16), "%-of-raw")
}

// BenchmarkPutMedia200Streams holds 200 PutMedia streams of 2 Mbit/s each
// (a 250 KB, one-second fragment per stream and second, written frame by
// frame every 40 ms as a camera does) and reports the latency from the
// last byte of a fragment to its PERSISTED ack. One iteration is one
// second of every stream; run it with -benchtime=5x or more.
//
// The sub-benchmarks named "aligned" start every stream's fragments within
// the same 40 ms frame tick, so all 200 fragments (50 MB) end at once each
// second: a worst case that only the disk's burst rate decides. The others
// spread the fragment boundaries over the second, as independent cameras'
// key frames fall.
func BenchmarkPutMedia200Streams(b *testing.B) {
	// retention-0 streams are live only: no disk, RECEIVED is their last ack.
	for _, retention := range []int{24, 0} {
		for _, aligned := range []bool{false, true} {
			name := fmt.Sprintf("retention-%dh", retention)
			if aligned {
				name += "-aligned"
			}
			b.Run(name, func(b *testing.B) { bench200Streams(b, retention, aligned) })
		}
	}
}

func bench200Streams(b *testing.B, retention int, aligned bool) {
	const (
		streams = 200
		frameN  = 25
		frameSz = 250_000 / frameN
	)
	h := newHarness(b, ingest.Config{ConnectionsPerSecond: -1})
	frames := benchFrames(frameN, frameSz)
	var (
		mu       sync.Mutex
		lats     []time.Duration // last byte → PERSISTED
		received []time.Duration // last byte → RECEIVED
		wg       sync.WaitGroup
	)
	sessions := make([]*session, streams)
	for i := range sessions {
		name := fmt.Sprintf("cam-%03d", i)
		h.createStream(name, retention)
		sessions[i] = startPutMedia(b, nil, h.url, putOptions{name: name})
		if sessions[i].status != 200 {
			b.Fatalf("stream %d: status %d", i, sessions[i].status)
		}
		if err := sessions[i].write(newSynth(b, 1).take()); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	begin := time.Now()
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sentAt := make(chan time.Time, b.N)
			persistedFrom := make(chan time.Time, b.N)
			done := make(chan struct{})
			go func() { // acks
				defer close(done)
				for n := 0; n < b.N; {
					a, ok := <-s.acks
					if !ok {
						return
					}
					switch a.EventType {
					case "RECEIVED":
						at := <-sentAt
						mu.Lock()
						received = append(received, time.Since(at))
						mu.Unlock()
						persistedFrom <- at
						if retention == 0 {
							n++
						}
					case "PERSISTED":
						lat := time.Since(<-persistedFrom)
						mu.Lock()
						lats = append(lats, lat)
						mu.Unlock()
						n++
					case "ERROR":
						b.Errorf("ERROR ack: %s", a.raw)
						return
					}
				}
			}()
			// Stagger the streams over the first 40 ms tick (aligned)
			// or over the whole fragment.
			spread := time.Second
			if aligned {
				spread = 40 * time.Millisecond
			}
			offset := time.Duration(i) * spread / streams
			var buf []byte
			for n := range b.N {
				buf, _ = mkv.AppendCluster(buf[:0], uint64(n)*1000, frames)
				// Cluster header and first frame, then one frame per tick.
				pieces := splitCluster(buf, frames)
				for k, p := range pieces {
					at := begin.Add(offset + time.Duration(n)*time.Second + time.Duration(k)*40*time.Millisecond)
					time.Sleep(time.Until(at))
					if s.write(p) != nil {
						return
					}
				}
				sentAt <- time.Now()
			}
			<-done
		}()
	}
	wg.Wait()
	b.StopTimer()
	for _, s := range sessions {
		s.close()
	}
	slices.Sort(lats)
	slices.Sort(received)
	q := func(l []time.Duration, p float64) float64 {
		return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds()) / 1000
	}
	if len(lats) > 0 {
		b.ReportMetric(q(lats, 0.50), "ms-p50-persisted")
		b.ReportMetric(q(lats, 0.99), "ms-p99-persisted")
		b.ReportMetric(q(lats, 1), "ms-max-persisted")
	}
	if len(received) > 0 {
		b.ReportMetric(q(received, 0.50), "ms-p50-received")
		b.ReportMetric(q(received, 0.99), "ms-p99-received")
	}
	b.ReportMetric(float64(len(received)), "fragments")
}

// splitCluster cuts an encoded Cluster into its header plus first frame,
// then one piece per further frame.
func splitCluster(c []byte, frames []mkv.Frame) [][]byte {
	var out [][]byte
	// Each later SimpleBlock ends where the next one's data begins; cut at
	// the end of each frame's payload.
	at := 0
	for i, f := range frames {
		end := bytes.Index(c[at:], f.Data[:min(16, len(f.Data))])
		if end < 0 {
			return [][]byte{c}
		}
		end += at + len(f.Data)
		if i == len(frames)-1 {
			end = len(c)
		}
		out = append(out, c[at:end])
		at = end
	}
	return out
}

// BenchmarkPutMediaIdleMemory opens idle PutMedia connections to a real
// openkvs serve process (each sent its header and one fragment, then
// nothing) and reports the growth of the server's resident memory per
// connection: after a tiny fragment, and after a one-second fragment of a
// 2 Mbit/s camera (250 KB; the parser keeps its buffer for the next one).
func BenchmarkPutMediaIdleMemory(b *testing.B) {
	const conns = 300
	bin := testserver.Build(b)
	for _, bc := range []struct {
		name          string
		frames, bytes int
	}{{"tiny-fragment", 5, 1000}, {"250KB-fragment", 25, 10_000}} {
		b.Run(bc.name, func(b *testing.B) {
			sy := newSynth(b, 1)
			sy.cluster(b, 0, bc.frames, bc.bytes)
			body := sy.take()
			for range b.N {
				p := testserver.StartProcess(b, bin, b.TempDir(), "127.0.0.1:0", "--credentials", testAKID+":"+testSecret)
				kvs := kinesisvideo.NewFromConfig(aws.Config{
					Region: testRegion, BaseEndpoint: aws.String(p.URL),
					Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
				})
				for i := range conns {
					if _, err := kvs.CreateStream(context.Background(), &kinesisvideo.CreateStreamInput{
						StreamName: aws.String(fmt.Sprintf("idle-%03d", i)), DataRetentionInHours: aws.Int32(1),
					}); err != nil {
						b.Fatal(err)
					}
				}
				// Warm up: one connection to the end, so lazily built
				// state is not counted.
				warm := startPutMedia(b, nil, p.URL, putOptions{name: "idle-000"})
				_ = warm.write(body)
				warm.close()
				warm.rest()
				before := rss(b, p.Pid())
				var open []*session
				for i := range conns {
					s := startPutMedia(b, nil, p.URL, putOptions{name: fmt.Sprintf("idle-%03d", i)})
					_ = s.write(body)
					for _, want := range []string{"BUFFERING", "RECEIVED", "PERSISTED"} {
						if a, ok := s.next(); !ok || a.EventType != want {
							b.Fatalf("stream %d: %q, want %s", i, a.raw, want)
						}
					}
					open = append(open, s)
				}
				after := rss(b, p.Pid())
				b.ReportMetric(float64(after-before)/conns/1024, "KB/idle-stream")
				for _, s := range open {
					s.close()
				}
				p.Kill()
			}
		})
	}
}

// rss returns the resident set of process pid in bytes.
func rss(b *testing.B, pid int) int64 {
	b.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
