package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil/proc"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	binEnv     = "BERTH_MINIO"
	requireEnv = "BERTH_REQUIRE_TOOLS"

	// Region is the region the server answers for; MinIO's default.
	Region = "us-east-1"

	// Picking a free port and binding it are not atomic; a retry picks
	// another.
	startAttempts = 5
	readyTimeout  = time.Minute
	stopTimeout   = 20 * time.Second
)

// Server is a running MinIO.
type Server struct {
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint  string
	AccessKey string
	SecretKey string
	// Client acts as the server's root user.
	Client *minio.Client

	dir  string
	proc *proc.Process
}

// Start runs a server for the duration of tb. It skips tb when there is
// no binary, unless BERTH_REQUIRE_TOOLS=1, in which case it fails tb.
func Start(tb testing.TB) *Server {
	tb.Helper()
	began := time.Now()
	bin, err := binary()
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			tb.Fatalf("miniotest: %v (fatal because %s=1)", err, requireEnv)
		}
		tb.Skipf("miniotest: skipping: %v (set %s=1 to fail instead)", err, requireEnv)
	}
	s := &Server{dir: tb.TempDir(), AccessKey: "berth-" + random(4), SecretKey: random(16)}
	tb.Cleanup(func() {
		if err := s.proc.Stop(stopTimeout); err != nil {
			tb.Errorf("miniotest: %v", err)
		}
	})
	for attempt := 1; ; attempt++ {
		err = s.start(bin)
		if err == nil {
			break
		}
		s.proc.Stop(stopTimeout)
		if !errors.Is(err, proc.ErrPortTaken) || attempt == startAttempts {
			tb.Fatalf("miniotest: %v", err)
		}
	}
	s.Client, err = minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: Region,
	})
	if err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	tb.Logf("miniotest: MinIO (%s) ready at %s in %v", bin, s.Endpoint, time.Since(began).Round(time.Millisecond))
	return s
}

// Available reports whether a binary is there, as a test condition: none
// is an error only when BERTH_REQUIRE_TOOLS=1.
func Available() (bool, error) {
	if _, err := binary(); err != nil {
		if os.Getenv(requireEnv) == "1" {
			return false, fmt.Errorf("%v (required because %s=1)", err, requireEnv)
		}
		return false, nil
	}
	return true, nil
}

func binary() (string, error) {
	if bin := os.Getenv(binEnv); bin != "" {
		if _, err := exec.LookPath(bin); err != nil {
			return "", fmt.Errorf("%s: %v", binEnv, err)
		}
		return bin, nil
	}
	bin, err := exec.LookPath("minio")
	if err != nil {
		return "", fmt.Errorf("MinIO is not installed: set %s to the binary scripts/minio.sh prints", binEnv)
	}
	return bin, nil
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var buckets atomic.Int64

// Bucket makes a new, empty bucket and returns its name.
func (s *Server) Bucket(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("berth-%d-%s", buckets.Add(1), random(4))
	if err := s.Client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: Region}); err != nil {
		tb.Fatalf("miniotest: making bucket %s: %v", name, err)
	}
	return name
}

// URL is the blob store URL of bucket and prefix on this server.
func (s *Server) URL(bucket, prefix string) string {
	q := url.Values{"endpoint": {s.Endpoint}, "region": {Region}}
	return "s3://" + bucket + "/" + prefix + "?" + q.Encode()
}

// Env is the environment that gives a process the root user's
// credentials, as the AWS tools read them.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey}
}

func (s *Server) start(bin string) error {
	ports, err := proc.FreePorts(1)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	s.Endpoint = "http://" + addr
	data := filepath.Join(s.dir, "data")
	// A failed attempt may have left a half-made drive.
	if err := os.RemoveAll(data); err != nil {
		return err
	}
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, data)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		// No web console (it would want a port of its own), no update
		// checks: the server talks to nobody but the tests.
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	if s.proc, err = proc.Start("minio", filepath.Join(s.dir, "minio.log"), cmd); err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second}
	return s.proc.WaitReady(readyTimeout, 100*time.Millisecond, "address already in use", func() error {
		resp, err := client.Get(s.Endpoint + "/minio/health/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
}
