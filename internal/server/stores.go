package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/blob/fsblob"
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
	blobs, err := fsblob.New(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		meta.Close()
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return &Stores{Meta: meta, Blobs: blobs}, nil
}

// Close closes the metadata store; the filesystem blob store holds nothing
// open between calls.
func (s *Stores) Close() error { return s.Meta.Close() }
