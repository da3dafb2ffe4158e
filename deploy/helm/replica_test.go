package helm_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/berthhq/berth/internal/testutil/berthtest"
	"github.com/berthhq/berth/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { berthtest.Main(m) }

// The chart's way of making replicas, run outside a cluster: a first
// start on PostgreSQL; its files put in the Secret's keys as docs/helm.md
// says; the init container's own script (from the rendered Deployment)
// copying them, through the Secret volume's items, into a new data
// directory; and berth serve started there on the same database. The
// replica must serve a certificate of its own signed by the first start's
// CA, and keep the bootstrap administrator's secret rather than add one.
func TestPKICopyMakesAReplica(t *testing.T) {
	objs := render(t, helm(t), "berth", "--set", "server.replicas=2", "--set", "server.database.secretName=db",
		"--set", "server.blobStore.url=s3://b/p", "--set", "server.pki.existingSecret=pki")
	spec := podSpec(t, find(t, objs, "Deployment", "berth-server"))
	inits, _, _ := unstructured.NestedSlice(spec, "initContainers")
	command := stringSlice(inits[0].(map[string]any)["command"])
	var items []any
	vols, _, _ := unstructured.NestedSlice(spec, "volumes")
	for _, v := range vols {
		if v := v.(map[string]any); v["name"] == "pki-source" {
			items, _, _ = unstructured.NestedSlice(v, "secret", "items")
		}
	}

	dsn := pgtest.Start(t)
	firstDir := t.TempDir()
	first := berthtest.StartIn(t, firstDir, "--database", dsn)
	first.Stop()

	// kubectl create secret generic ... --from-file=KEY=FILE, as documented.
	secret := map[string]string{
		"ca.crt":         filepath.Join(firstDir, "ca.crt"),
		"ca.key":         filepath.Join(firstDir, "pki", "ca.key"),
		"bootstrap.json": filepath.Join(firstDir, "bootstrap.json"),
	}
	source, dataDir := t.TempDir(), t.TempDir()
	if len(items) != len(secret) {
		t.Fatalf("the Secret volume mounts %d keys, the documented Secret has %d", len(items), len(secret))
	}
	for _, it := range items {
		it := it.(map[string]any)
		file, ok := secret[it["key"].(string)]
		if !ok {
			t.Fatalf("the Secret volume mounts the key %v, which the documented Secret lacks", it["key"])
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(source, it["path"].(string)), b, 0o440); err != nil {
			t.Fatal(err)
		}
	}
	script := strings.NewReplacer("/var/lib/berth", dataDir, "/pki-source", source).Replace(command[len(command)-1])
	if out, err := exec.Command(command[0], command[1], script).CombinedOutput(); err != nil {
		t.Fatalf("the init container's script: %v\n%s", err, out)
	}
	for _, f := range []string{"pki/ca.key", "bootstrap.json"} {
		fi, err := os.Stat(filepath.Join(dataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s after the copy has mode %v, want it private to its owner", f, fi.Mode())
		}
	}

	replica := berthtest.StartIn(t, dataDir, "--database", dsn)
	firstCA, err := os.ReadFile(first.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(firstCA)
	conn, err := tls.Dial("tcp", replica.Host, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("the replica's certificate does not verify with the first start's CA: %v", err)
	}
	served := conn.ConnectionState().PeerCertificates[0].Raw
	conn.Close()
	firstCert, err := os.ReadFile(filepath.Join(firstDir, "pki", "server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(firstCert, served) {
		t.Error("the replica serves the first start's certificate; it should make its own")
	}
	if replica.Boot.ClientSecret == "" || replica.Boot.ClientSecret != first.Boot.ClientSecret || replica.Boot.ClientID != first.Boot.ClientID {
		t.Error("the replica's bootstrap.json has other credentials than the first start's: it added a secret to the administrator")
	}
}
