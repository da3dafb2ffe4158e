package registryauth_test

import (
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/berthhq/berth/internal/ociapi"
)

// BenchmarkAuthorize is the gate's cost for one pull of a manifest, the
// request every pull starts with, by scheme: Basic credentials (checked
// once, then by instance from memory) beside a registry access token.
// They should cost the same; the token service's cost is elsewhere.
func BenchmarkAuthorize(b *testing.B) {
	f := newFixture(b, 0)
	app := f.apps["puller"]
	refresh := f.post(login, "/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {login},
		"access_token": {f.directoryToken("puller", "https://containerregistry.azure.net")}}).str("refresh_token")
	access := f.post(login, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {login},
		"scope": {"repository:app:pull"}, "refresh_token": {refresh}}).str("access_token")
	if access == "" {
		b.Fatal("no access token")
	}
	need := ociapi.Access{Type: "repository", Name: "app", Action: "pull"}
	for _, c := range []struct{ name, auth string }{
		{"Basic", basic(app, f.secret[app])},
		{"Bearer", "Bearer " + access},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "https://"+login+"/v2/app/manifests/v1", nil)
			r.Header.Set("Authorization", c.auth)
			if err := f.gate.Authorize(r, "myregistry", need); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := f.gate.Authorize(r, "myregistry", need); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
