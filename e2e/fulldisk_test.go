package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// smallFilesystem mounts a tmpfs of the given size (as mount's size=) on a
// new directory. Mounting needs root, as CI runs; elsewhere the test is
// skipped, or fails under BERTH_REQUIRE_TOOLS=1.
func smallFilesystem(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	err := errors.New("mounting a tmpfs needs root")
	if os.Geteuid() == 0 {
		err = syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700")
	}
	if err != nil {
		if os.Getenv("BERTH_REQUIRE_TOOLS") == "1" {
			t.Fatalf("a small filesystem is required (BERTH_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skipf("no small filesystem to fill: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fillUp writes a file into dir until the filesystem has no byte left.
func fillUp(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 4 << 10, 1} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Bavail != 0 {
		t.Fatalf("filesystem not full: %d blocks available (%v)", st.Bavail, err)
	}
	return path
}

// TestServeOnFullDisk: berth restarts on a data directory whose filesystem
// is full to the last byte, serves pulls (tokens included), says it is
// read-only in its log and /readyz, and answers every kind of write with
// 507 in the surface's own format, changing nothing. Once space is freed,
// writes work again without a restart.
func TestServeOnFullDisk(t *testing.T) {
	fs := smallFilesystem(t, "24m")
	s := berthtest.StartIn(t, filepath.Join(fs, "data"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("berth log:\n%s", s.Log.String())
		}
	})
	ctx := context.Background()
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 64<<10, 256<<10)
	tag, err := name.NewTag(s.Host+"/kept/image:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, ggcrOptions(ctx, s)...); err != nil {
		t.Fatal(err)
	}

	// What the web surface needs once the disk is full: an application
	// to consent to, and an administrator to consent: the first user.
	admin := adminCLI(t, s)
	const redirect = "http://127.0.0.1:1/callback"
	appID := admin.run("ad", "app", "create", "--display-name", "consented on a full disk", "--web-redirect-uris", redirect, "--query", "appId", "-o", "tsv")

	s.Stop()
	filler := fillUp(t, fs)
	// On another port, so that bootstrap.json, which names the address,
	// cannot be brought up to date.
	s.Host = "127.0.0.1:0"
	s.Restart()
	if tag, err = name.NewTag(s.Host+"/kept/image:v1", name.Insecure); err != nil {
		t.Fatal(err)
	}

	// The log comes through a pipe of its own, maybe after the ready line.
	for deadline := time.Now().Add(closeBound); !strings.Contains(s.Log.String(), "read-only"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no read-only warning in the log:\n%s", s.Log.String())
		}
	}
	if !strings.Contains(s.Log.String(), "bootstrap.json not updated: the disk is full") {
		t.Errorf("no word of the stale bootstrap.json in the log:\n%s", s.Log.String())
	}
	code, body := get(t, s, "/readyz")
	if code != 200 || !strings.Contains(body, "read-only") {
		t.Errorf("/readyz on a full disk: %d %q", code, body)
	}

	t.Run("pulls", func(t *testing.T) {
		// go-containerregistry takes the registry's challenge and gets a
		// bearer token from its token service, as docker does.
		got, err := remote.Image(tag, ggcrOptions(ctx, s)...)
		if err != nil {
			t.Fatal(err)
		}
		sameImage(t, "pulled on a full disk", img, got)
	})

	t.Run("registry push", func(t *testing.T) {
		content := bytes.Repeat([]byte("no room for this"), 4<<10)
		d := oci.FromBytes(oci.SHA256, content)
		resp, err := s.Do(ctx, "POST", "/v2/kept/new/blobs/uploads/?digest="+d.String(), bytes.NewReader(content), nil)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Errors []struct{ Code, Message string }
		}
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInsufficientStorage || len(e.Errors) != 1 || e.Errors[0].Code != "UNKNOWN" || !strings.Contains(e.Errors[0].Message, "insufficient storage") {
			t.Fatalf("blob push on a full disk: %d %+v", resp.StatusCode, e)
		}
		if code, _ := get(t, s, "/v2/kept/new/blobs/"+d.String()); code != 404 {
			t.Fatalf("the refused blob: %d", code)
		}
	})

	graphToken := admin.run("account", "get-access-token", "--resource", "https://graph.microsoft.com", "--query", "accessToken", "-o", "tsv")
	armToken := admin.run("account", "get-access-token", "--query", "accessToken", "-o", "tsv")
	call := func(token, method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	errCode := func(body map[string]any) string {
		e, _ := body["error"].(map[string]any)
		c, _ := e["code"].(string)
		return c
	}

	t.Run("directory API", func(t *testing.T) {
		code, body := call(graphToken, "POST", "/v1.0/applications", `{"displayName":"refused"}`)
		if code != http.StatusInsufficientStorage || errCode(body) != "quotaLimitReached" {
			t.Fatalf("create application on a full disk: %d %v", code, body)
		}
		code, body = call(graphToken, "GET", "/v1.0/applications?$filter="+url.QueryEscape("displayName eq 'refused'"), "")
		if code != 200 || len(body["value"].([]any)) != 0 {
			t.Fatalf("the refused application: %d %v", code, body)
		}
	})

	t.Run("management API", func(t *testing.T) {
		path := "/subscriptions/" + s.Boot.SubscriptionID + "/resourcegroups/refused?api-version=2021-04-01"
		code, body := call(armToken, "PUT", path, `{"location":"local"}`)
		if code != http.StatusInsufficientStorage || errCode(body) != "InsufficientStorage" {
			t.Fatalf("create resource group on a full disk: %d %v", code, body)
		}
		if code, body := call(armToken, "GET", path, ""); code != 404 {
			t.Fatalf("the refused resource group: %d %v", code, body)
		}
	})

	t.Run("consent page", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, Transport: berthTransport(s),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		target := s.URL + "/" + s.Boot.TenantID + "/adminconsent?client_id=" + appID + "&state=s&redirect_uri=" + url.QueryEscape(redirect)
		csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
		page := func(resp *http.Response, err error) (int, string, string) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			token := ""
			if m := csrf.FindSubmatch(b); m != nil {
				token = html.UnescapeString(string(m[1]))
			}
			return resp.StatusCode, string(b), token
		}
		_, _, token := page(browser.Get(target))
		if code, _, _ := page(browser.PostForm(target, url.Values{"csrf_token": {token}, "step": {"signin"}, "username": {s.Boot.AdminUser}, "password": {s.Boot.AdminPassword}})); code != http.StatusSeeOther {
			t.Fatalf("sign-in on a full disk: %d", code)
		}
		_, _, token = page(browser.Get(target))
		code, body, _ := page(browser.PostForm(target, url.Values{"csrf_token": {token}, "step": {"consent"}, "decision": {"accept"}, "consent_org": {"true"}}))
		if code != http.StatusInsufficientStorage || !strings.Contains(body, "<h1>") || !strings.Contains(body, "full") {
			t.Fatalf("consent on a full disk: %d\n%s", code, body)
		}
		if out, err := admin.try("ad", "sp", "show", "--id", appID); err == nil {
			t.Fatalf("a service principal exists after a refused consent:\n%s", out)
		}
	})

	// Space again: writes work without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, s, "/readyz"); code != 200 || strings.Contains(body, "read-only") {
		t.Errorf("/readyz with space again: %d %q", code, body)
	}
	pushBlob(t, s, "kept/after", []byte("room again"))
	if code, body := call(graphToken, "POST", "/v1.0/applications", `{"displayName":"after"}`); code != http.StatusCreated {
		t.Fatalf("create application with space again: %d %v", code, body)
	}

	// Full again while serving, then a restart: a clean stop and a start
	// with whatever the metadata store's log holds.
	fillUp(t, fs)
	if code, body := call(graphToken, "POST", "/v1.0/applications", `{"displayName":"refused again"}`); code != http.StatusInsufficientStorage {
		t.Fatalf("create application once full again: %d %v", code, body)
	}
	s.Stop()
	s.Restart()
	got, err := remote.Image(tag, ggcrOptions(ctx, s)...)
	if err != nil {
		t.Fatal(err)
	}
	sameImage(t, "pulled after a restart on a disk filled while serving", img, got)
	if code, body := call(graphToken, "GET", "/v1.0/applications?$filter="+url.QueryEscape("displayName eq 'after'"), ""); code != 200 || len(body["value"].([]any)) != 1 {
		t.Fatalf("the application created before the disk filled again: %d %v", code, body)
	}
}
