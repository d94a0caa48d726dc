package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/testserver"
)

// BenchmarkDescribeStreamSigned measures signed DescribeStream requests
// through the whole server (TCP loopback, SigV4 verification, catalog read,
// JSON) with 64 concurrent clients. Each client signs every request with
// aws-sdk-go-v2's signer, as the SDK does, and client and server share the
// machine's cores. It reports requests/s and the p50/p99 latency.
func BenchmarkDescribeStreamSigned(b *testing.B) {
	srv := testserver.Start(b, testserver.Options{})
	ctx := context.Background()
	if _, err := srv.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	const clients = 64
	body := []byte(`{"StreamName":"bench"}`)
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	creds := aws.Credentials{AccessKeyID: testserver.AccessKeyID, SecretAccessKey: testserver.SecretAccessKey}
	signer := v4.NewSigner()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	url := srv.HTTPURL + "/describeStream"

	var mu sync.Mutex
	var lat []time.Duration
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/clients+1)
			for range work {
				t0 := time.Now()
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if err := signer.SignHTTP(ctx, creds, req, payloadHash, "kinesisvideo", testserver.Region, t0); err != nil {
					b.Error(err)
					return
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = bytes.NewBuffer(nil).ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
