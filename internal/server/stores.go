package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

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
	if err := checkStoresRecord(cfg); err != nil {
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

// storesFile is where a data directory remembers which stores it belongs
// to, so that a command pointed at it with other store flags (berth
// tenant create without the server's --database, say) refuses instead of
// quietly working on a new, empty store that nothing reads.
const storesFile = "stores.json"

// storesRecord names a data directory's stores by where they are, never
// by credentials: a PostgreSQL server and database, a bucket and prefix at
// an endpoint, or the data directory itself.
type storesRecord struct {
	Metadata string `json:"metadata"`
	Blobs    string `json:"blobs"`
}

const inDataDir = "the data directory"

func recordOf(cfg Config) (storesRecord, error) {
	r := storesRecord{Metadata: inDataDir, Blobs: inDataDir}
	if cfg.Database != "" {
		pc, err := pgconn.ParseConfig(cfg.Database)
		if err != nil {
			return r, fmt.Errorf("--database: %w", err)
		}
		r.Metadata = (&url.URL{Scheme: "postgres", Host: net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port))), Path: "/" + pc.Database}).String()
	}
	if cfg.BlobStore != "" {
		loc, err := s3blob.ParseURL(cfg.BlobStore)
		if err != nil {
			return r, err
		}
		loc.Region = ""
		r.Blobs = (&url.URL{Scheme: "s3", Host: loc.Bucket, Path: "/" + loc.Prefix, RawQuery: url.Values{"endpoint": {loc.Endpoint.String()}}.Encode()}).String()
	}
	return r, nil
}

// checkStoresRecord refuses stores other than those the data directory
// belongs to, and records them on its first use. A data directory from
// before the record, set up by a server (it has bootstrap.json), is taken
// to be on the data directory's own stores only if it has them.
func checkStoresRecord(cfg Config) error {
	want, err := recordOf(cfg)
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.DataDir, storesFile)
	var have storesRecord
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &have); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	default:
		if _, err := os.Stat(filepath.Join(cfg.DataDir, BootstrapFile)); err == nil {
			for name, what := range map[string]string{"berth.db": want.Metadata, "blobs": want.Blobs} {
				if _, err := os.Stat(filepath.Join(cfg.DataDir, name)); what == inDataDir && errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("the data directory %s was set up by a server whose stores were elsewhere (it has no %s): give this command the server's --database and --blob-store", cfg.DataDir, name)
				}
			}
		}
		out, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(path, append(out, '\n'), 0o600)
	}
	for _, s := range []struct{ what, flag, have, want string }{
		{"metadata", "--database", have.Metadata, want.Metadata},
		{"blobs", "--blob-store", have.Blobs, want.Blobs},
	} {
		if s.have != s.want {
			return fmt.Errorf("the data directory %s belongs to a server whose %s are in %s, not %s: give this command the server's %s (if the %s really moved, remove %s)",
				cfg.DataDir, s.what, s.have, s.want, s.flag, s.what, path)
		}
	}
	return nil
}
