package cli

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/pki"
)

// TestLoadLoginAtAnotherAddress reaches a login's berth at an address and
// CA other than the stored ones: requests go there, trusting that CA, and
// the stored login keeps its own address and CA while what the command
// changed (a token here) is saved.
func TestLoadLoginAtAnotherAddress(t *testing.T) {
	var tokenPath string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenPath = r.URL.Path
		fmt.Fprint(w, `{"access_token":"t1","expires_in":3600}`)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BERTH_CONFIG_DIR", t.TempDir())
	stored := &Profile{Server: "https://stored.example:8443", TenantID: "tenant1", User: User{Name: "app1"}, Secret: "s"}
	if err := stored.Save(); err != nil {
		t.Fatal(err)
	}

	p, err := LoadLogin(Endpoint{Server: srv.URL + "/", CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if p.Server != srv.URL {
		t.Errorf("server %q, want %q", p.Server, srv.URL)
	}
	tok, err := p.Token(context.Background(), ManagementResource)
	if err != nil || tok.AccessToken != "t1" || tokenPath != "/tenant1/oauth2/v2.0/token" {
		t.Fatalf("token %+v from %q: %v", tok, tokenPath, err)
	}
	again, err := LoadProfile()
	if err != nil {
		t.Fatal(err)
	}
	if again.Server != stored.Server || again.CACert != "" || again.Tokens[ManagementResource].AccessToken != "t1" {
		t.Errorf("saved %q %q %v; want the stored address and CA, and the new token", again.Server, again.CACert, again.Tokens)
	}

	if _, err := LoadLogin(Endpoint{CAFile: filepath.Join(t.TempDir(), "missing.crt")}); err == nil {
		t.Error("a CA file that does not exist was accepted")
	}
	if p, err := LoadLogin(Endpoint{}); err != nil || p.Server != stored.Server {
		t.Errorf("no endpoint: %v %v", p, err)
	}
}

// A login made with one berth's CA is not handed to a server of another
// CA: that would give it the login's tokens.
func TestLoadLoginRefusesAnotherCA(t *testing.T) {
	// Two berths' data directories: each makes its own CA.
	ca := func() string {
		dir := t.TempDir()
		if _, err := pki.Ensure(dir, []string{"localhost"}); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, "ca.crt")
	}
	oneCA, otherCA := ca(), ca()
	pemOne, err := os.ReadFile(oneCA)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BERTH_CONFIG_DIR", t.TempDir())
	if err := (&Profile{Server: "https://127.0.0.1:8443", CACert: string(pemOne), TenantID: "t", User: User{Name: "a"}, Secret: "s"}).Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLogin(Endpoint{Server: "https://127.0.0.2:8443", CAFile: oneCA}); err != nil {
		t.Errorf("the same berth's CA at another address: %v", err)
	}
	if _, err := LoadLogin(Endpoint{Server: "https://127.0.0.3:8443", CAFile: otherCA}); err == nil || !strings.Contains(err.Error(), "berth login") {
		t.Errorf("another berth's CA: %v, want a refusal that says to log in there", err)
	}
}
