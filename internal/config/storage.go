package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// StorageConfig selects where the catalog and the fragment archive live.
// Empty values keep both embedded in DataDir (bbolt and segment files), as
// a single node needs; cluster mode points every node at the same
// PostgreSQL database and S3 bucket.
type StorageConfig struct {
	// Catalog is a PostgreSQL connection URL
	// ("postgres://user:password@host:5432/db?sslmode=verify-full") for the
	// stream and channel catalog. Empty: embedded.
	Catalog string `yaml:"catalog"`
	// Archive is "s3://bucket/prefix": fragments are stored as objects
	// there and indexed in the Catalog database (which must then be set).
	// Empty: embedded.
	Archive string `yaml:"archive"`
	// S3 configures the connection to the Archive's object store.
	S3 S3Config `yaml:"s3"`
}

// S3Config configures the S3-compatible object store of an s3:// archive.
type S3Config struct {
	// Endpoint is the store's base URL, e.g. "http://127.0.0.1:8333";
	// empty means Amazon S3.
	Endpoint string `yaml:"endpoint"`
	// Region is the signing region. Empty: AWS_REGION, else us-east-1.
	Region string `yaml:"region"`
	// AccessKey and SecretKey are static credentials. Empty: the AWS
	// SDK's default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
	// shared files, instance roles).
	AccessKey string `yaml:"accessKey"`
	SecretKey string `yaml:"secretKey"`
}

// storageFields lists the serve flags of StorageConfig.
func storageFields() []Field {
	s := func(c *Config) *StorageConfig { return &c.Storage }
	return []Field{
		field("catalog", "PostgreSQL URL (postgres://…) of a catalog shared by cluster nodes (empty: embedded in the data dir)",
			func(c *Config) Value { return (*stringValue)(&s(c).Catalog) }),
		field("archive", "s3://bucket/prefix for fragments in an S3-compatible store, indexed in the --catalog database (empty: embedded)",
			func(c *Config) Value { return (*stringValue)(&s(c).Archive) }),
		field("s3-endpoint", "base URL of the S3-compatible store, e.g. http://127.0.0.1:8333 (empty: Amazon S3)",
			func(c *Config) Value { return (*stringValue)(&s(c).S3.Endpoint) }),
		field("s3-region", "signing region of the S3 store (empty: AWS_REGION, else us-east-1)",
			func(c *Config) Value { return (*stringValue)(&s(c).S3.Region) }),
		field("s3-access-key", "access key ID for the S3 store (empty: AWS_ACCESS_KEY_ID and the AWS SDK's default chain)",
			func(c *Config) Value { return (*stringValue)(&s(c).S3.AccessKey) }),
		field("s3-secret-key", "secret access key for the S3 store (empty: AWS_SECRET_ACCESS_KEY and the AWS SDK's default chain)",
			func(c *Config) Value { return (*stringValue)(&s(c).S3.SecretKey) }),
	}
}

// validate checks the storage settings.
func (s *StorageConfig) validate() error {
	if s.Catalog != "" {
		u, err := url.Parse(s.Catalog)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			// The URL may hold a password: not shown.
			return errors.New("catalog: want a postgres://user:password@host:port/database URL")
		}
	}
	if s.Archive == "" {
		return nil
	}
	u, err := url.Parse(s.Archive)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return fmt.Errorf("archive %q: want s3://bucket/prefix", s.Archive)
	}
	if strings.Contains(strings.Trim(u.Path, "/"), "//") {
		return fmt.Errorf("archive %q: the prefix has an empty segment", s.Archive)
	}
	if s.Catalog == "" {
		return errors.New("archive: an s3:// archive keeps its fragment index in PostgreSQL; set --catalog postgres://… too")
	}
	if (s.S3.AccessKey == "") != (s.S3.SecretKey == "") {
		return errors.New("s3-access-key and s3-secret-key must be given together")
	}
	if s.S3.Endpoint != "" {
		e, err := url.Parse(s.S3.Endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return fmt.Errorf("s3-endpoint %q must be an absolute http(s) URL", s.S3.Endpoint)
		}
	}
	return nil
}
