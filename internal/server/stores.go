package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/blob/fsblob"
	"github.com/berthhq/berth/internal/blob/s3blob"
	"github.com/berthhq/berth/internal/store/sqlstore"
)

// Stores are the open metadata and blob stores of a data directory.
type Stores struct {
	Meta  *sqlstore.DB
	Blobs blob.Store
}

// OpenStores opens (creating if needed) the stores a configuration names.
// berth gc and berth fsck use it too, on the same data directory.
func OpenStores(ctx context.Context, cfg Config) (*Stores, error) {
	// The object store first: a URL it refuses, or a bucket it cannot
	// reach, must leave no data directory behind.
	blobs, err := openBlobs(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	dsn := cfg.Database
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "berth.db")
	}
	meta, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	return &Stores{Meta: meta, Blobs: blobs}, nil
}

// openBlobs opens the object store that --blob-store names, or the data
// directory's blobs.
func openBlobs(ctx context.Context, cfg Config) (blob.Store, error) {
	if cfg.BlobStore == "" {
		s, err := fsblob.New(filepath.Join(cfg.DataDir, "blobs"))
		if err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
		return s, nil
	}
	loc, err := s3blob.ParseURL(cfg.BlobStore)
	if err != nil {
		return nil, err
	}
	return s3blob.Open(ctx, loc, s3blob.Credentials())
}

// Close closes the metadata store; the blob stores hold nothing open
// between calls but idle connections.
func (s *Stores) Close() error { return s.Meta.Close() }
