package server

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"time"
)

// A full disk must not take pulls down with it. berth starts on a data
// directory whose filesystem is full as long as nothing needs writing
// (bootstrap.json is rewritten only when it changes; the metadata store
// keeps its write-ahead log between runs, see sqlstore), serves reads,
// and answers writes, which fail for lack of space and change nothing,
// with 507 in each surface's format. This file only watches the space, so
// that the log and /readyz say why writes fail.

// minFree is the space below which the data directory counts as full:
// less than a small push needs.
const minFree = 1 << 20

// dataDisk watches the filesystem of the data directory.
type dataDisk struct{ dir string }

// free is the space an unprivileged process may still write there.
func (d dataDisk) free() (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// readOnly says, when the data directory is full, what that means for
// clients; "" otherwise.
func (d dataDisk) readOnly() string {
	free, err := d.free()
	if err != nil || free >= minFree {
		return ""
	}
	return fmt.Sprintf("read-only: the data directory's filesystem is full (%d bytes free); pulls are served, writes answer 507 Insufficient Storage", free)
}

// watch logs when the data directory fills up and when it has room again.
func (d dataDisk) watch(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	was := d.readOnly()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := d.readOnly()
		switch {
		case now != "" && was == "":
			log.Warn(now, "data_dir", d.dir)
		case now == "" && was != "":
			log.Info("the data directory has room again: writes are accepted", "data_dir", d.dir)
		}
		was = now
	}
}
