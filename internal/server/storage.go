package server

import (
	"context"
	"path/filepath"
	"time"

	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/boltstore"
	"github.com/openkvs/openkvs/internal/catalog/pgstore"
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
