package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStorageSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "openkvs.yaml")
	yaml := "catalog: postgres://file@db/kvs\narchive: s3://file-bucket/p\ns3:\n  endpoint: http://127.0.0.1:8333\n  region: eu-west-1\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"OPENKVS_ARCHIVE":       "s3://env-bucket/x/y",
		"OPENKVS_S3_ACCESS_KEY": "AKENV",
		"OPENKVS_S3_SECRET_KEY": "secretenv",
	}
	flags := NewFlags()
	set := map[string]Value{}
	flags.Register(func(v Value, name, _ string) { set[name] = v })
	if err := set["catalog"].Set("postgres://flag@db/kvs"); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, flags)
	if err != nil {
		t.Fatal(err)
	}
	want := StorageConfig{
		Catalog: "postgres://flag@db/kvs",
		Archive: "s3://env-bucket/x/y",
		S3:      S3Config{Endpoint: "http://127.0.0.1:8333", Region: "eu-west-1", AccessKey: "AKENV", SecretKey: "secretenv"},
	}
	if c.Storage != want {
		t.Fatalf("storage = %+v\nwant %+v", c.Storage, want)
	}
	if d := Default().Storage; d != (StorageConfig{}) {
		t.Fatalf("default storage is not embedded: %+v", d)
	}
}

func TestStorageValidate(t *testing.T) {
	const pg = "postgres://u:pw@db:5432/kvs"
	tests := []struct {
		name    string
		s       StorageConfig
		wantErr string // "" for valid
	}{
		{"embedded", StorageConfig{}, ""},
		{"catalog only", StorageConfig{Catalog: pg}, ""},
		{"postgresql scheme", StorageConfig{Catalog: "postgresql://db/kvs"}, ""},
		{"cluster", StorageConfig{Catalog: pg, Archive: "s3://b/p", S3: S3Config{Endpoint: "http://s3:8333", AccessKey: "a", SecretKey: "s"}}, ""},
		{"sdk credentials", StorageConfig{Catalog: pg, Archive: "s3://b"}, ""},
		{"catalog not postgres", StorageConfig{Catalog: "mysql://u:topsecret@db/kvs"}, "catalog"},
		{"archive without catalog", StorageConfig{Archive: "s3://b/p"}, "--catalog"},
		{"archive not s3", StorageConfig{Catalog: pg, Archive: "file:///data"}, "s3://bucket"},
		{"archive without bucket", StorageConfig{Catalog: pg, Archive: "s3:///p"}, "s3://bucket"},
		{"archive empty segment", StorageConfig{Catalog: pg, Archive: "s3://b/a//c"}, "empty segment"},
		{"half credentials", StorageConfig{Catalog: pg, Archive: "s3://b", S3: S3Config{AccessKey: "a"}}, "together"},
		{"bad endpoint", StorageConfig{Catalog: pg, Archive: "s3://b", S3: S3Config{Endpoint: "s3:8333"}}, "s3-endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Storage = tc.s
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate: %v, want an error about %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}
