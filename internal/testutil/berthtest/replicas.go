package berthtest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthhq/berth/internal/testutil/haproxytest"
	"github.com/berthhq/berth/internal/testutil/miniotest"
	"github.com/berthhq/berth/internal/testutil/pgtest"
)

// Replicas is several berth serve processes that form one service: one
// PostgreSQL database, one bucket in MinIO, the same certificate
// authority, server certificate and bootstrap credentials, behind
// HAProxy.
type Replicas struct {
	// Front is the service as clients see it: the load balancer's
	// address, the first replica's data directory (CA, bootstrap
	// credentials) and the stores' flags and credentials, for
	// maintenance commands. It is no process: stopping it does nothing.
	Front    *Server
	Servers  []*Server
	Database *pgtest.Server
	Objects  *miniotest.Server
	Proxy    *haproxytest.Proxy
}

// ReplicaName is the load balancer's name for Servers[i].
func ReplicaName(i int) string { return fmt.Sprintf("replica%d", i+1) }

// StartReplicas starts n replicas with extra flags and the load balancer,
// and returns once the load balancer has every replica in rotation. The
// first replica starts alone: it bootstraps the database. The others start
// on data directories seeded from its (SeedReplica).
func StartReplicas(tb testing.TB, n int, extra ...string) *Replicas {
	tb.Helper()
	r := &Replicas{Database: pgtest.StartServer(tb), Objects: miniotest.Start(tb)}
	storeArgs := []string{"--database", r.Database.DSN, "--blob-store", r.Objects.URL(r.Objects.Bucket(tb), "berth")}
	// Every connection comes from the load balancer's address: a limit
	// per client address would be a limit on the whole service.
	args := append([]string{"--max-conns-per-client", "0"}, extra...)
	var backends []haproxytest.Backend
	for i := range n {
		dir := tb.TempDir()
		if i > 0 {
			if err := SeedReplica(r.Servers[0].DataDir, dir); err != nil {
				tb.Fatal(err)
			}
		}
		s := &Server{tb: tb, DataDir: dir, Args: args, Env: r.Objects.Env(), StoreArgs: storeArgs}
		s.start()
		tb.Cleanup(s.Stop)
		r.Servers = append(r.Servers, s)
		backends = append(backends, haproxytest.Backend{Name: ReplicaName(i), Addr: s.Host})
	}
	first := r.Servers[0]
	r.Proxy = haproxytest.Start(tb, haproxytest.Config{Backends: backends, CheckPath: "/readyz", LivePath: "/healthz", CAFile: first.CAFile, CheckHost: "localhost"})
	for i := range r.Servers {
		r.Proxy.WaitStatus(tb, ReplicaName(i), "UP")
	}
	front := *first
	front.cmd, front.done = nil, nil
	front.URL, front.Host = "https://"+r.Proxy.Addr, r.Proxy.Addr
	r.Front = &front
	return r
}

// SeedReplica gives a new replica's data directory what must be the same
// on every replica: the CA and server certificate (clients trust one CA
// whichever replica answers) and the bootstrap credentials (without them
// a replica would add a new secret to the bootstrap administrator).
func SeedReplica(from, to string) error {
	for _, name := range []string{"ca.crt", "bootstrap.json", "pki"} {
		err := filepath.WalkDir(filepath.Join(from, name), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(from, path)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(to, rel), 0o700)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(to, rel), b, info.Mode().Perm())
		})
		if err != nil {
			return fmt.Errorf("seeding a replica's data directory: %w", err)
		}
	}
	return nil
}
