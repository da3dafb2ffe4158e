package fsck

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

// Report is the outcome of a check.
type Report struct {
	BlobsChecked     int
	ManifestsChecked int
	// Unpublished counts unreferenced blob records without content.
	Unpublished int
	Problems    []string
}

// Clean reports whether nothing is wrong.
func (r Report) Clean() bool { return len(r.Problems) == 0 }

// Check verifies every blob and every manifest.
func Check(ctx context.Context, meta store.Store, blobs blob.Store) (Report, error) {
	var rep Report
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	err := blobs.Walk(ctx, func(d oci.Digest, size int64) error {
		rep.BlobsChecked++
		ok, err := contentMatches(ctx, blobs, d)
		if err != nil {
			return err
		}
		if !ok {
			problem("blob %s: content does not match its digest", d)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	present := func(d oci.Digest) (bool, error) {
		_, err := blobs.Stat(ctx, d)
		if errors.Is(err, blob.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	referenced := map[oci.Digest]bool{}
	var cursor store.ManifestCursor
	for {
		ms, err := meta.ListManifests(ctx, cursor, 200)
		if err != nil {
			return rep, err
		}
		for _, m := range ms {
			rep.ManifestsChecked++
			where := m.Repo.Registry + "/" + m.Repo.Name + "@" + m.Digest.String()
			if oci.FromBytes(m.Digest.Algorithm(), m.Content) != m.Digest {
				problem("manifest %s: content does not match its digest", where)
			}
			for _, b := range m.Blobs {
				referenced[b] = true
				ok, err := present(b)
				if err != nil {
					return rep, err
				}
				if !ok {
					problem("manifest %s: blob %s is missing", where, b)
				}
				if _, err := meta.StatBlob(ctx, m.Repo, b); err != nil {
					problem("manifest %s: blob %s is not live in its repository: %v", where, b, err)
				}
			}
		}
		if len(ms) < 200 {
			break
		}
		last := ms[len(ms)-1]
		cursor = store.ManifestCursor{Repo: last.Repo, Digest: last.Digest}
	}
	var after oci.Digest
	for {
		recs, err := meta.ListBlobs(ctx, after, 500)
		if err != nil {
			return rep, err
		}
		for _, r := range recs {
			switch r.State {
			case store.BlobDeleting:
				continue
			case store.BlobPending:
				rep.Unpublished++
				continue
			}
			ok, err := present(r.Digest)
			if err != nil {
				return rep, err
			}
			if !ok && !referenced[r.Digest] {
				// Referenced ones were reported with their manifest.
				problem("blob %s: published but its content is missing", r.Digest)
			}
		}
		if len(recs) < 500 {
			break
		}
		after = recs[len(recs)-1].Digest
	}
	return rep, nil
}

func contentMatches(ctx context.Context, blobs blob.Store, d oci.Digest) (bool, error) {
	r, err := blobs.Open(ctx, d)
	if err != nil {
		return false, err
	}
	defer r.Close()
	h := d.Algorithm().New()
	if _, err := io.Copy(h, r); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == d.Encoded(), nil
}
