package testserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"time"
)

// SignAsProducer signs r with the test credentials the way the KVS C
// producer SDK signs PutMedia: every header in r.Header is signed, plus
// host and, for a chunked body, transfer-encoding; the path is used as
// written, the query must already be canonical and the body counts as
// empty. Unlike the AWS SDK signers it signs Connection and
// Transfer-Encoding, so it shows what reaches the server.
func SignAsProducer(r *http.Request, now time.Time) {
	amzDate := now.UTC().Format("20060102T150405Z")
	r.Header.Set("X-Amz-Date", amzDate)
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	vals := map[string]string{"host": host}
	for k, v := range r.Header {
		vals[strings.ToLower(k)] = strings.TrimSpace(strings.Join(v, ","))
	}
	if len(r.TransferEncoding) > 0 {
		vals["transfer-encoding"] = strings.Join(r.TransferEncoding, ",")
	}
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	var canon strings.Builder
	for _, k := range names {
		canon.WriteString(k + ":" + vals[k] + "\n")
	}
	signed := strings.Join(names, ";")
	empty := sha256.Sum256(nil)
	creq := r.Method + "\n" + r.URL.EscapedPath() + "\n" + r.URL.RawQuery + "\n" + canon.String() + "\n" + signed + "\n" + hex.EncodeToString(empty[:])
	creqHash := sha256.Sum256([]byte(creq))
	scope := amzDate[:8] + "/" + Region + "/kinesisvideo/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creqHash[:])
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	k := mac(mac(mac(mac([]byte("AWS4"+SecretAccessKey), amzDate[:8]), Region), "kinesisvideo"), "aws4_request")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+AccessKeyID+"/"+scope+", SignedHeaders="+signed+", Signature="+hex.EncodeToString(mac(k, sts)))
}
