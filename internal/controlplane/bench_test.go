package controlplane

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openkvs/openkvs/internal/catalog/memstore"
)

// BenchmarkDescribeStream measures one DescribeStream through the handler
// (decode, validate, store read, encode) without the network.
func BenchmarkDescribeStream(b *testing.B) {
	svc, err := New(Config{Store: memstore.New(), Endpoints: hostResolver{}})
	if err != nil {
		b.Fatal(err)
	}
	handlers := map[string]http.Handler{}
	for _, op := range svc.Operations() {
		handlers[op.Name] = op.Handler
	}
	ctx := context.Background()
	call := func(name, body string) int {
		rec := httptest.NewRecorder()
		handlers[name].ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(body)))
		return rec.Code
	}
	if code := call("CreateStream", `{"StreamName":"bench","DataRetentionInHours":1}`); code != 200 {
		b.Fatalf("CreateStream: %d", code)
	}
	b.ReportAllocs()
	for b.Loop() {
		if code := call("DescribeStream", `{"StreamName":"bench"}`); code != 200 {
			b.Fatalf("DescribeStream: %d", code)
		}
	}
}
