package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/blob/s3blob"
	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/boltstore"
	"github.com/openkvs/openkvs/internal/catalog/pgstore"
	"github.com/openkvs/openkvs/internal/ingest"
	"github.com/openkvs/openkvs/internal/objarchive"
	"github.com/openkvs/openkvs/internal/playback"
)

// openTimeout bounds connecting to a shared catalog or object store at
// start-up.
const openTimeout = 30 * time.Second

// catalogStore is the catalog as the server holds it: the store and its
// Close.
type catalogStore interface {
	catalog.Store
	Close() error
}

// openCatalog opens the catalog the configuration names: PostgreSQL
// shared by the nodes of a cluster (--catalog postgres://…), else bbolt in
// the data dir.
func (s *Server) openCatalog() (catalogStore, error) {
	log := s.log.With("component", "catalog")
	if url := s.cfg.Storage.Catalog; url != "" {
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		defer cancel()
		return pgstore.Open(ctx, pgstore.Config{URL: url, Logger: log})
	}
	return boltstore.Open(boltstore.Config{Path: filepath.Join(s.cfg.DataDir, "catalog.db"), Logger: log})
}

// mediaArchive is the fragment archive as the server uses it: what ingest
// and playback need, plus the deletion hook and Close.
type mediaArchive interface {
	ingest.Archive
	playback.Archive
	DeleteStream(name string) error
	Close() error
}

// openArchive opens the archive the configuration names: fragments in an
// S3-compatible store indexed in the --catalog database (--archive
// s3://…), else segment files in the data dir.
func (s *Server) openArchive() (mediaArchive, error) {
	log := s.log.With("component", "archive")
	st := s.cfg.Storage
	if st.Archive == "" {
		return archive.Open(archive.Config{
			Dir:            s.cfg.DataDir,
			Now:            s.now,
			Logger:         log,
			Retention:      s.streamRetention,
			LiveTotalBytes: s.cfg.Media.LiveBufferBytes,
		})
	}
	bucket, prefix, err := s3blob.ParseURL(st.Archive)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	b, err := s3blob.New(ctx, s3blob.Config{
		Bucket:          bucket,
		Prefix:          prefix,
		Endpoint:        st.S3.Endpoint,
		Region:          st.S3.Region,
		AccessKeyID:     st.S3.AccessKey,
		SecretAccessKey: st.S3.SecretKey,
	})
	if err != nil {
		return nil, err
	}
	a, err := objarchive.Open(ctx, objarchive.Config{
		URL:       st.Catalog,
		Bucket:    b,
		Now:       s.now,
		Logger:    log,
		Retention: s.streamRetention,
		Bus:       s.clusterBus, // live fragments to the other nodes' readers
	})
	if err != nil {
		return nil, fmt.Errorf("fragment index: %w", err)
	}
	log.Info("fragments in object storage", "bucket", bucket, "prefix", prefix, "endpoint", st.S3.Endpoint)
	return a, nil
}
