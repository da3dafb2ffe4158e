package redirecturi

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, ok := range []string{
		"https://app.example/cb", "https://app.example", "https://app.example:8443/cb?tenant=a&x=1",
		"https://localhost/cb", "https://127.0.0.1/cb",
		"http://localhost", "http://localhost/cb", "http://LOCALHOST:8400/cb", "http://127.0.0.1/cb",
		"http://127.0.0.1:53124/cb", "http://127.255.0.9/", "http://[::1]/cb", "http://[::1]:8400/",
		"https://" + strings.Repeat("a", MaxLength-len("https://")),
	} {
		if err := Check(ok); err != nil {
			t.Errorf("Check(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{
		"", "app.example/cb", "/cb", "//app.example/cb", "https:app.example", "https://", "https:///cb",
		"ftp://app.example/", "javascript:alert(1)", "data:text/html,x", "urn:ietf:wg:oauth:2.0:oob",
		"http://app.example/cb", "http://10.0.0.1/cb", "http://0.0.0.0/", "http://[::]/", "http://[fe80::1]/",
		// Look-alikes of loopback.
		"http://localhost.evil.example/", "http://127.0.0.1.evil.example/", "http://localhost@evil.example/",
		"http://localhost:80@evil.example/", "http://evil.example@localhost/", "http://user:pw@127.0.0.1/",
		"https://user@app.example/", "http://localhost./", "http://127.1/", "http://0x7f.0.0.1/", "http://2130706433/",
		"http://127.000.000.001/", "http://[::1%25lo]/", "http://localhost%2eevil.example/", "http://localhost\\@evil.example/",
		"http://localhost\\.evil.example/", "http://ⓛocalhost/", "http://localhoſt/", "http://local host/",
		"http://localhost\t.evil.example/", "http://localhost\n/", "https://app.example/cb#frag", "https://app.example/cb#",
		"http://localhost:x/", "http://localhost:8080:9090/", "https://app.example/c;b", "https://app.example/(cb)",
		"https://app.example/cb?a=1,2", "https://app.example/it's", "https://app.example/!", "https://app.example/$",
		"https://" + strings.Repeat("a", MaxLength-len("https://")+1),
	} {
		if err := Check(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	many := make([]string, MaxCount+1)
	for i := range many {
		many[i] = "https://app.example/cb"
	}
	if err := CheckAll(many[:MaxCount]); err != nil {
		t.Errorf("CheckAll of %d: %v", MaxCount, err)
	}
	if err := CheckAll(many); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckAll of %d: %v", MaxCount+1, err)
	}
}

func TestMatch(t *testing.T) {
	registered := []string{
		"https://app.example/cb?keep=1", "https://app.example:8443/cb", "http://127.0.0.1/cb", "http://localhost:8400/native",
		"http://[::1]/v6", "https://localhost:9443/tls",
		// Stored before registration was checked: never used.
		"http://localhost.evil.example/cb", "http://localhost@evil.example/cb", "http://app.example/cb",
	}
	for requested, want := range map[string]bool{
		"https://app.example/cb?keep=1": true, "https://app.example:8443/cb": true,
		"http://127.0.0.1/cb": true, "http://127.0.0.1:1/cb": true, "http://127.0.0.1:65535/cb": true,
		"http://localhost/native": true, "http://localhost:8400/native": true, "http://localhost:5000/native": true,
		"http://[::1]:7000/v6": true, "https://localhost:9443/tls": true,

		"https://app.example/cb": false, "https://app.example/cb?keep=1&x=2": false, "https://APP.example/cb?keep=1": false,
		"https://app.example:443/cb?keep=1": false, "https://app.example:9443/cb": false, "https://app.example/cb?keep=1#x": false,
		"http://localhost/cb": false, "http://127.0.0.2/cb": false, "http://127.0.0.1/cb/": false, "http://127.0.0.1/CB": false,
		"http://127.0.0.1/cb?": false, "http://127.0.0.1/cb?x=1": false, "https://127.0.0.1/cb": false,
		"https://localhost/tls": false, "https://localhost:9444/tls": false, "http://localhost:9443/tls": false,
		"http://[::1]/native": false, "http://localhost:8400@evil.example/native": false,
		"http://localhost.evil.example/cb": false, "http://localhost@evil.example/cb": false, "http://app.example/cb": false,
		"": false,
	} {
		got, ok := Match(registered, requested)
		if ok != want || (ok && got != requested) {
			t.Errorf("Match(%q) = %q, %v; want %v", requested, got, ok, want)
		}
	}
	if _, ok := Match(nil, "https://app.example/cb"); ok {
		t.Error("matched with nothing registered")
	}
}

// FuzzMatch: whatever the strings, a match sends the browser to a URI that
// passes Check, to the registered URI's scheme, host, path and query, and
// to another port only over http on loopback.
func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{"https://app.example/cb", "https://app.example/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:53124/cb"},
		{"http://localhost/cb", "http://localhost.evil.example/cb"},
		{"http://localhost/", "http://localhost@evil.example/"},
		{"http://[::1]/cb", "http://[::1]:80/cb"},
		{"https://localhost:9443/", "https://localhost:9444/"},
		{"http://localhost/cb", "http://LOCALHOST:1/cb"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, registered, requested string) {
		got, ok := Match([]string{registered}, requested)
		if !ok {
			return
		}
		if got != requested {
			t.Fatalf("Match returned %q for %q", got, requested)
		}
		if err := Check(requested); err != nil {
			t.Fatalf("matched %q, which Check refuses: %v", requested, err)
		}
		if err := Check(registered); err != nil {
			t.Fatalf("matched registered %q, which Check refuses: %v", registered, err)
		}
		r, _ := url.Parse(registered)
		q, _ := url.Parse(requested)
		if q.User != nil || q.Fragment != "" {
			t.Fatalf("matched %q with user information or a fragment", requested)
		}
		if r.Scheme != q.Scheme || !strings.EqualFold(r.Hostname(), q.Hostname()) || r.EscapedPath() != q.EscapedPath() || r.RawQuery != q.RawQuery {
			t.Fatalf("%q matched %q", requested, registered)
		}
		if registered != requested && (q.Scheme != "http" || !isLoopback(q.Hostname())) {
			t.Fatalf("%q matched %q but is not http on loopback", requested, registered)
		}
		if q.Scheme == "http" && !isLoopback(q.Hostname()) {
			t.Fatalf("matched http off loopback: %q", requested)
		}
	})
}
