package federation

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/jws"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/testutil/kubetest"
)

// A real API server is the issuer: its service account tokens verify with
// the keys its discovery document points at, and a token of another
// cluster does not.
func TestKubernetesServiceAccountTokens(t *testing.T) {
	ctx := context.Background()
	c := kubetest.Start(t, kubetest.Options{Audiences: []string{"api://AzureADTokenExchange"}})
	other := kubetest.Start(t, kubetest.Options{Audiences: []string{"api://AzureADTokenExchange"}})
	token := func(c *kubetest.Cluster, seconds int64) string {
		t.Helper()
		return c.ServiceAccountToken(t, "default", "workload", time.Duration(seconds)*time.Second, "api://AzureADTokenExchange")
	}
	is := &Issuers{Roots: c.CA}
	now := time.Now()
	claims, err := is.Verify(ctx, token(c, 3600), "tenant-a", now)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Issuer != c.Issuer || claims.Subject != "system:serviceaccount:default:workload" || len(claims.Audience) != 1 || claims.Audience[0] != "api://AzureADTokenExchange" {
		t.Errorf("claims %+v", claims)
	}
	if _, err := is.Verify(ctx, token(c, 600), "tenant-a", now.Add(2*time.Hour)); !errors.Is(err, ErrTimeRange) {
		t.Errorf("an expired token: %v", err)
	}

	// Another cluster's token, its issuer claim rewritten to this one's:
	// its key is not among this issuer's.
	forged := token(other, 3600)
	parts := strings.Split(forged, ".")
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	body = []byte(strings.Replace(string(body), other.Issuer, c.Issuer, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(body)
	if _, err := is.Verify(ctx, strings.Join(parts, "."), "tenant-a", now); !errors.Is(err, ErrSignature) {
		t.Errorf("a token of another cluster claiming this issuer: %v", err)
	}
}

// issuerServer serves discovery and a key set the way handler says; no
// real issuer can be made to misbehave, so these are local TLS servers.
func issuerServer(t *testing.T, handler func(srv *httptest.Server) http.HandlerFunc) (*httptest.Server, *Issuers) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = handler(srv)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, &Issuers{Roots: pool}
}

func signedBy(t *testing.T, key *rsa.PrivateKey, kid, iss string) string {
	t.Helper()
	now := time.Now()
	tok, err := jws.Sign(keys.Key{ID: kid, Private: key}, nil, map[string]any{
		"iss": iss, "sub": "system:serviceaccount:default:workload", "aud": []string{"api://AzureADTokenExchange"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func jwksOf(key *rsa.PrivateKey, kid string) string {
	return fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":%q,"use":"sig","alg":"RS256","n":%q,"e":%q}]}`, kid,
		base64.RawURLEncoding.EncodeToString(key.N.Bytes()), base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()))
}

func TestMisbehavingIssuers(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	ctx := context.Background()
	discovery := func(srv *httptest.Server, jwksPath string) string {
		return fmt.Sprintf(`{"issuer":%q,"jwks_uri":%q}`, srv.URL, srv.URL+jwksPath)
	}
	for name, tc := range map[string]func(srv *httptest.Server) http.HandlerFunc{
		"huge discovery document": func(srv *httptest.Server) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"pad":"%s"}`, srv.URL, srv.URL+"/keys", strings.Repeat("x", maxDiscovery))
			}
		},
		"huge key set": func(srv *httptest.Server) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/keys" {
					fmt.Fprintf(w, `{"keys":[],"pad":"%s"}`, strings.Repeat("x", maxKeySet))
					return
				}
				fmt.Fprint(w, discovery(srv, "/keys"))
			}
		},
		"malformed discovery document": func(srv *httptest.Server) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"issuer":`) }
		},
		"discovery naming another issuer": func(srv *httptest.Server) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"issuer":"https://elsewhere.example","jwks_uri":%q}`, srv.URL+"/keys")
			}
		},
		"key set over plain http": func(srv *httptest.Server) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":"http://127.0.0.1:1/keys"}`, srv.URL)
			}
		},
		"redirect elsewhere": func(srv *httptest.Server) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://127.0.0.1:1/.well-known/openid-configuration", http.StatusFound)
			}
		},
		"slow issuer": func(srv *httptest.Server) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(fetchTimeout + 5*time.Second):
				}
			}
		},
		"no usable key": func(srv *httptest.Server) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/keys" {
					fmt.Fprint(w, `{"keys":[{"kty":"oct","kid":"k1","k":"c2VjcmV0"}]}`)
					return
				}
				fmt.Fprint(w, discovery(srv, "/keys"))
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, is := issuerServer(t, tc)
			if _, err := is.Verify(ctx, signedBy(t, key, "k1", srv.URL), "tenant-a", time.Now()); !errors.Is(err, ErrIssuerUnreachable) {
				t.Errorf("%v, want ErrIssuerUnreachable", err)
			}
		})
	}
}

// Keys are fetched once and kept; an unknown key id fetches again, at
// most once a minute, so a stream of made-up key ids cannot make berth
// hammer an issuer.
func TestKeysAreCachedAndRefetchedOnRotation(t *testing.T) {
	old, _ := rsa.GenerateKey(rand.Reader, 2048)
	rotated, _ := rsa.GenerateKey(rand.Reader, 2048)
	var mu sync.Mutex
	current, fetches := old, 0
	srv, is := issuerServer(t, func(srv *httptest.Server) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if r.URL.Path == "/keys" {
				fetches++
				kid := "old"
				if current == rotated {
					kid = "new"
				}
				fmt.Fprint(w, jwksOf(current, kid))
				return
			}
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, srv.URL, srv.URL+"/keys")
		}
	})
	ctx := context.Background()
	now := time.Now()
	for i := 0; i < 3; i++ {
		if _, err := is.Verify(ctx, signedBy(t, old, "old", srv.URL), "tenant-a", now); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if fetches != 1 {
		t.Fatalf("%d key set fetches for three tokens of one key", fetches)
	}
	current = rotated
	mu.Unlock()
	if _, err := is.Verify(ctx, signedBy(t, rotated, "new", srv.URL), "tenant-a", now); !errors.Is(err, ErrSignature) {
		t.Fatalf("a new key within a minute of the last fetch: %v", err)
	}
	if _, err := is.Verify(ctx, signedBy(t, rotated, "new", srv.URL), "tenant-a", now.Add(minRefetch)); err != nil {
		t.Fatalf("a new key a minute later: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fetches != 2 {
		t.Fatalf("%d fetches, want 2", fetches)
	}
}
