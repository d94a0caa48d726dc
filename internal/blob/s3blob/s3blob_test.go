package s3blob

import (
	"errors"
	"testing"

	"github.com/openkvs/openkvs/internal/blob"
	"github.com/openkvs/openkvs/internal/blob/blobtest"
	"github.com/openkvs/openkvs/internal/testinfra/s3test"
)

// TestSeaweedFS runs the conformance suite and this package's own tests
// against one real SeaweedFS server; each bucket is fresh.
func TestSeaweedFS(t *testing.T) {
	srv := s3test.Start(t)
	cfg := func(bucket, prefix string) Config {
		return Config{Bucket: bucket, Prefix: prefix, Endpoint: srv.Endpoint, Region: srv.Region,
			AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey}
	}
	open := func(t *testing.T, c Config) *Bucket {
		t.Helper()
		b, err := New(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	t.Run("Conformance", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Bucket { return open(t, cfg(srv.NewBucket(t), "")) })
	})
	t.Run("ConformanceWithPrefix", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Bucket { return open(t, cfg(srv.NewBucket(t), "deploy/a")) })
	})

	t.Run("PrefixesShareABucket", func(t *testing.T) {
		name := srv.NewBucket(t)
		a, b := open(t, cfg(name, "a")), open(t, cfg(name, "b"))
		if err := blob.PutBytes(t.Context(), a, "k", []byte("from a")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(t.Context(), "k"); !blob.IsNotFound(err) {
			t.Fatalf("prefix b sees prefix a's object: %v", err)
		}
		if got, err := b.List(t.Context(), ""); err != nil || len(got) != 0 {
			t.Fatalf("List of prefix b: %v, %v", got, err)
		}
	})

	t.Run("CreateBucket", func(t *testing.T) {
		c := cfg("created-by-new", "")
		if _, err := New(t.Context(), c); err == nil {
			t.Fatal("New succeeded on a missing bucket without CreateBucket")
		}
		c.CreateBucket = true
		open(t, c)
		open(t, c) // exists now: fine too
	})

	t.Run("CredentialsFromEnvironment", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("AWS_CONFIG_FILE", dir+"/none")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/none")
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretAccessKey)
		t.Setenv("AWS_REGION", srv.Region)
		c := cfg(srv.NewBucket(t), "")
		c.AccessKeyID, c.SecretAccessKey, c.Region = "", "", ""
		b := open(t, c)
		if err := blob.PutBytes(t.Context(), b, "k", []byte("v")); err != nil {
			t.Fatalf("Put with credentials from AWS_*: %v", err)
		}
	})

	t.Run("BadCredentials", func(t *testing.T) {
		c := cfg(srv.NewBucket(t), "")
		c.SecretAccessKey = "wrong"
		if _, err := New(t.Context(), c); err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("New with a wrong secret: %v", err)
		}
	})
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in             string
		bucket, prefix string
		ok             bool
	}{
		{"s3://bucket", "bucket", "", true},
		{"s3://bucket/", "bucket", "", true},
		{"s3://bucket/some/prefix/", "bucket", "some/prefix", true},
		{"s3://", "", "", false},
		{"http://bucket/x", "", "", false},
		{"s3://user:pw@bucket/x", "", "", false},
		{"s3://bucket/a//b", "", "", false},
		{"s3://bucket/x?y=1", "", "", false},
		{"bucket/x", "", "", false},
	}
	for _, tc := range tests {
		b, p, err := ParseURL(tc.in)
		if (err == nil) != tc.ok || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q, ok=%v", tc.in, b, p, err, tc.bucket, tc.prefix, tc.ok)
		}
	}
}

// FuzzParseURL: an accepted URL yields a bucket and a prefix that is empty
// or a valid key, and never panics.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://b", "s3://b/p/q", "s3://b//", "s3://u@b/p", "s3:///p", "s3://b/%2e%2e", "http://b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		bucket, prefix, err := ParseURL(raw)
		if err != nil {
			return
		}
		if bucket == "" {
			t.Fatalf("ParseURL(%q): empty bucket", raw)
		}
		if prefix != "" && blob.CheckKey(prefix) != nil {
			t.Fatalf("ParseURL(%q): prefix %q is no valid key", raw, prefix)
		}
	})
}
