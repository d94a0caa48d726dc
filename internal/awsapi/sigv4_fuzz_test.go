package awsapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
	f.Add("AWS4-HMAC-SHA256 Credential=a,SignedHeaders=b,Signature=c")
	f.Add("AWS4-HMAC-SHA256 ,,,=,Credential==,")
	f.Add("AWS4-HMAC-SHA256")
	f.Add("Bearer x")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		cred, signed, sig, err := ParseAuthorization(h)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != IncompleteSignature {
				t.Fatalf("error %v is not an IncompleteSignatureException", err)
			}
			return
		}
		if cred == "" || signed == "" || sig == "" {
			t.Fatalf("success with an empty component: %q %q %q", cred, signed, sig)
		}
		for _, c := range []string{cred, signed, sig} {
			if !strings.Contains(h, c) || strings.Contains(c, ",") {
				t.Fatalf("component %q not taken from %q", c, h)
			}
		}
	})
}

// FuzzVerify feeds arbitrary request targets, Authorization headers, dates
// and bodies to Verify: it must never panic and must fail only with an AWS
// error answered with a 4xx status.
func FuzzVerify(f *testing.F) {
	files, _ := filepath.Glob("testdata/sigv4suite/*.txt")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		head, body, _ := strings.Cut(string(data), "\n\n")
		lines := strings.Split(head, "\n")
		method, target, _ := strings.Cut(lines[0], " ")
		target = escapeTarget(strings.TrimSuffix(target, " HTTP/1.1"))
		var authz, header string
		for _, l := range lines[1:] {
			if v, ok := strings.CutPrefix(l, "Authorization:"); ok {
				authz = v
			} else if strings.HasPrefix(l, "My-Header") || strings.HasPrefix(l, "x-amz-content") || strings.HasPrefix(l, "X-Amz-Security") {
				header = l
			}
		}
		f.Add(method, target, authz, "20150830T123600Z", header, []byte(body))
	}
	f.Add("GET", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20150830%2Fr%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=99999999999999999999&X-Amz-SignedHeaders=host&X-Amz-Signature=00", "", "", "", []byte{})
	f.Add("POST", "/%zz/../..//?a=%&b=+", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=;;HOST;content-length;transfer-encoding, Signature=00", "20150830T123600Z", "x-amz-content-sha256:UNSIGNED-PAYLOAD", []byte("x"))

	v := suiteVerifier(f)
	f.Fuzz(func(t *testing.T, method, target, authz, amzDate, header string, body []byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{
			Method:        method,
			URL:           u,
			RequestURI:    target,
			Host:          "example.amazonaws.com",
			Header:        http.Header{},
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
		}
		if len(body)%2 == 1 {
			r.ContentLength, r.TransferEncoding = -1, []string{"chunked"}
		}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if amzDate != "" {
			r.Header.Set("X-Amz-Date", amzDate)
		}
		if k, val, ok := strings.Cut(header, ":"); ok && k != "" {
			r.Header.Add(k, val)
		}
		id, err := v.Verify(r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Status() < 400 || e.Status() > 499 {
				t.Fatalf("error %#v is not an AWS 4xx error", err)
			}
			return
		}
		if id == nil || id.AccessKeyID != "AKIDEXAMPLE" {
			t.Fatalf("identity %+v", id)
		}
		if _, err := io.ReadAll(r.Body); err != nil && !IsCode(err, InvalidSignature) {
			t.Fatalf("reading the body after Verify: %v", err)
		}
	})
}
