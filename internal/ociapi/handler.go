package ociapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/registry"
	"github.com/berthhq/berth/internal/store"
)

// Registry actions, as registry tokens name them (and see acr.go).
const (
	ActionPull    = "pull"
	ActionPush    = "push"
	ActionDelete  = "delete"
	ActionCatalog = "*"
)

// Access is what one request needs: an action on a repository, or on the
// registry's catalog (Type "registry", Name "catalog").
type Access struct {
	Type   string
	Name   string
	Action string
}

// Authorizer decides whether a request may have the access it needs at a
// registry. The /v2/ version check asks with an empty Access: it only needs
// an authenticated caller.
type Authorizer interface {
	Authorize(r *http.Request, registry string, need Access) error
}

// Handler serves /v2/ for the registry that RegistryFor picks from a request.
type Handler struct {
	Service     *registry.Service
	Auth        Authorizer
	RegistryFor func(r *http.Request) (string, error)
	Log         *slog.Logger
	// BlobRedirect, when positive, answers a blob GET with a redirect to
	// a URL of the blob store valid that long, where the store gives
	// such URLs; otherwise berth streams the content itself.
	BlobRedirect time.Duration
}

// ACRCatalog is where the cloud's registry SDK lists repositories; it
// answers as /v2/_catalog does, since that SDK has no other way to list.
const ACRCatalog = "/acr/v1/_catalog"

type route struct {
	kind string // base, catalog, tags, manifest, blob, uploads, upload, referrers, acr...
	name string
	arg  string
}

// segments unescapes an escaped path's segments one by one: seg keeps an
// escaped slash escaped (so that a digest, tag or upload id holding one
// fails validation), and join(k) is the repository name of the first k,
// where an escaped slash is a separator.
func segments(rest string) (seg []string, join func(k int) string, ok bool) {
	seg = strings.Split(rest, "/")
	names := make([]string, len(seg))
	for i, s := range seg {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, nil, false
		}
		names[i], seg[i] = u, strings.ReplaceAll(u, "/", "%2F")
	}
	return seg, func(k int) string { return strings.Join(names[:k], "/") }, true
}

// parse splits an escaped /v2/ path into what it addresses. Repository
// names contain slashes, so the suffix is matched from the end. Segments are
// unescaped one by one. In the repository name an escaped slash is a
// separator: the cloud's registry SDK escapes names that way, and the
// name is validated whole afterwards. In the digest, tag or upload id it
// stays escaped, and the "%2F" left there makes validation refuse it.
func parse(escaped string) (route, bool) {
	rest, ok := strings.CutPrefix(escaped, "/v2/")
	if escaped == ACRCatalog {
		return route{kind: "catalog"}, true
	}
	if strings.HasPrefix(escaped, ACRPrefix) {
		return parseACR(escaped)
	}
	if !ok {
		if escaped == "/v2" {
			return route{kind: "base"}, true
		}
		return route{}, false
	}
	switch rest {
	case "":
		return route{kind: "base"}, true
	case "_catalog":
		return route{kind: "catalog"}, true
	}
	seg, join, ok := segments(rest)
	if !ok {
		return route{}, false
	}
	n := len(seg)
	switch {
	case n >= 3 && seg[n-2] == "tags" && seg[n-1] == "list":
		return route{kind: "tags", name: join(n - 2)}, true
	case n >= 3 && seg[n-2] == "manifests":
		return route{kind: "manifest", name: join(n - 2), arg: seg[n-1]}, true
	case n >= 3 && seg[n-2] == "referrers":
		return route{kind: "referrers", name: join(n - 2), arg: seg[n-1]}, true
	case n >= 4 && seg[n-3] == "blobs" && seg[n-2] == "uploads" && seg[n-1] == "":
		return route{kind: "uploads", name: join(n - 3)}, true
	case n >= 3 && seg[n-2] == "blobs" && seg[n-1] == "uploads":
		return route{kind: "uploads", name: join(n - 2)}, true
	case n >= 4 && seg[n-3] == "blobs" && seg[n-2] == "uploads":
		return route{kind: "upload", name: join(n - 3), arg: seg[n-1]}, true
	case n >= 3 && seg[n-2] == "blobs":
		return route{kind: "blob", name: join(n - 2), arg: seg[n-1]}, true
	}
	return route{}, false
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	if err := h.serve(w, r); err != nil {
		writeError(w, r, h.Log, err)
	}
}

// request is one parsed, authorized request.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	reg  string
	repo store.Repo
	rt   route
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	rt, ok := parse(r.URL.EscapedPath())
	if !ok {
		return errNotFound
	}
	reg, err := h.RegistryFor(r)
	if err != nil {
		return err
	}
	q := &request{w: w, r: r, reg: reg, rt: rt}
	if rt.name != "" {
		if q.repo, err = h.Service.Repository(reg, rt.name); err != nil {
			return err
		}
	}
	action, handle, err := h.endpoint(q)
	if err != nil {
		return err
	}
	need := Access{Type: "repository", Name: rt.name, Action: action}
	switch rt.kind {
	case "base":
		need = Access{}
	case "catalog":
		need = Access{Type: "registry", Name: "catalog", Action: ActionCatalog}
	}
	if err := h.Auth.Authorize(r, reg, need); err != nil {
		return err
	}
	return handle(q)
}

// endpoint picks the handler and the action it needs.
func (h *Handler) endpoint(q *request) (string, func(*request) error, error) {
	m := q.r.Method
	read := m == http.MethodGet || m == http.MethodHead
	switch q.rt.kind {
	case "base":
		if read {
			return "", h.base, nil
		}
	case "catalog":
		if m == http.MethodGet {
			return ActionCatalog, h.catalog, nil
		}
	case "tags":
		if m == http.MethodGet {
			return ActionPull, h.tags, nil
		}
	case "referrers":
		if m == http.MethodGet {
			return ActionPull, h.referrers, nil
		}
	case "manifest":
		switch {
		case read:
			return ActionPull, h.getManifest, nil
		case m == http.MethodPut:
			return ActionPush, h.putManifest, nil
		case m == http.MethodDelete:
			return ActionDelete, h.deleteManifest, nil
		}
	case "blob":
		switch {
		case read:
			return ActionPull, h.getBlob, nil
		case m == http.MethodDelete:
			return ActionDelete, h.deleteBlob, nil
		}
	case "uploads":
		if m == http.MethodPost {
			return ActionPush, h.startUpload, nil
		}
	default:
		if action, handle, ok := h.acrEndpoint(q); ok {
			return action, handle, nil
		}
	case "upload":
		switch m {
		case http.MethodGet:
			return ActionPush, h.uploadStatus, nil
		case http.MethodPatch:
			return ActionPush, h.patchUpload, nil
		case http.MethodPut:
			return ActionPush, h.putUpload, nil
		case http.MethodDelete:
			return ActionPush, h.cancelUpload, nil
		}
	}
	return "", nil, errMethod
}

func (h *Handler) base(q *request) error {
	q.w.Header().Set("Content-Type", "application/json")
	q.w.Header().Set("Content-Length", "2")
	if q.r.Method == http.MethodGet {
		io.WriteString(q.w, "{}")
	}
	return nil
}

func parseDigest(s string) (oci.Digest, error) {
	d, err := oci.ParseDigest(s)
	if err != nil {
		return "", fmt.Errorf("%w: %v", registry.ErrDigestInvalid, err)
	}
	return d, nil
}

func (h *Handler) getBlob(q *request) error {
	d, err := parseDigest(q.rt.arg)
	if err != nil {
		return err
	}
	hdr := q.w.Header()
	if q.r.Method == http.MethodHead {
		size, err := h.Service.StatBlob(q.r.Context(), q.repo, d)
		if err != nil {
			return err
		}
		hdr.Set("Content-Length", strconv.FormatInt(size, 10))
		hdr.Set("Content-Type", "application/octet-stream")
		hdr.Set("Docker-Content-Digest", d.String())
		hdr.Set("Accept-Ranges", "bytes")
		q.w.WriteHeader(http.StatusOK)
		return nil
	}
	if h.BlobRedirect > 0 {
		// Authorized like any pull; the URL grants this one blob, briefly.
		u, err := h.Service.BlobURL(q.r.Context(), q.repo, d, h.BlobRedirect)
		if err != nil {
			return err
		}
		if u != "" {
			hdr.Set("Docker-Content-Digest", d.String())
			http.Redirect(q.w, q.r, u, http.StatusTemporaryRedirect)
			return nil
		}
	}
	rd, err := h.Service.OpenBlob(q.r.Context(), q.repo, d)
	if err != nil {
		return err
	}
	defer rd.Close()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Docker-Content-Digest", d.String())
	// Content never changes under a digest, so it caches forever.
	hdr.Set("Cache-Control", "max-age=31536000")
	hdr.Set("Etag", `"`+d.String()+`"`)
	http.ServeContent(q.w, q.r, "", time.Time{}, rd)
	return nil
}

func (h *Handler) deleteBlob(q *request) error {
	d, err := parseDigest(q.rt.arg)
	if err != nil {
		return err
	}
	if err := h.Service.DeleteBlob(q.r.Context(), q.repo, d); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func uploadLocation(q *request, id string) string {
	return "/v2/" + q.repo.Name + "/blobs/uploads/" + id
}

func blobLocation(q *request, d oci.Digest) string {
	return "/v2/" + q.repo.Name + "/blobs/" + d.String()
}

func (h *Handler) startUpload(q *request) error {
	ctx := q.r.Context()
	qs := q.r.URL.Query()
	if mount := qs.Get("mount"); mount != "" {
		d, err := parseDigest(mount)
		if err != nil {
			return err
		}
		if from, err := h.Service.Repository(q.reg, qs.Get("from")); err == nil {
			// Mounting needs pull on the source; without it, fall back
			// to a plain upload rather than reveal the blob.
			if h.Auth.Authorize(q.r, q.reg, Access{Type: "repository", Name: from.Name, Action: ActionPull}) == nil {
				if _, err := h.Service.MountBlob(ctx, from, q.repo, d); err == nil {
					return created(q, blobLocation(q, d), d)
				}
			}
		}
	}
	id, err := h.Service.StartUpload(ctx, q.repo)
	if err != nil {
		return err
	}
	if ds := qs.Get("digest"); ds != "" {
		d, err := parseDigest(ds)
		if err != nil {
			return err
		}
		if _, err := h.Service.FinishUpload(ctx, q.repo, id, d, q.r.Body); err != nil {
			// The client was never given this session, so nothing can
			// resume it: drop it now rather than leave it to GC.
			h.Service.CancelUpload(ctx, q.repo, id)
			return err
		}
		return created(q, blobLocation(q, d), d)
	}
	hdr := q.w.Header()
	hdr.Set("Location", uploadLocation(q, id))
	hdr.Set("Docker-Upload-UUID", id)
	hdr.Set("Range", "0-0")
	hdr.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func created(q *request, location string, d oci.Digest) error {
	hdr := q.w.Header()
	hdr.Set("Location", location)
	hdr.Set("Docker-Content-Digest", d.String())
	hdr.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// uploadProgress answers with where an upload stands.
func uploadProgress(q *request, id string, size int64, status int) error {
	hdr := q.w.Header()
	hdr.Set("Location", uploadLocation(q, id))
	hdr.Set("Docker-Upload-UUID", id)
	hdr.Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
	hdr.Set("Content-Length", "0")
	q.w.WriteHeader(status)
	return nil
}

func (h *Handler) uploadStatus(q *request) error {
	size, err := h.Service.UploadSize(q.r.Context(), q.repo, q.rt.arg)
	if err != nil {
		return err
	}
	return uploadProgress(q, q.rt.arg, size, http.StatusNoContent)
}

// contentRange parses a chunk's Content-Range "start-end" (also with a
// "bytes " prefix); -1 when absent.
func contentRange(r *http.Request) (int64, error) {
	v := r.Header.Get("Content-Range")
	if v == "" {
		return -1, nil
	}
	v = strings.TrimPrefix(v, "bytes ")
	a, b, ok := strings.Cut(v, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(strings.Split(b, "/")[0], 10, 64)
	if !ok || err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, registry.ErrRangeInvalid
	}
	if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
		return 0, registry.ErrRangeInvalid
	}
	return start, nil
}

func (h *Handler) patchUpload(q *request) error {
	ctx := q.r.Context()
	start, err := contentRange(q.r)
	if err == nil {
		var size int64
		size, err = h.Service.AppendUpload(ctx, q.repo, q.rt.arg, start, q.r.Body)
		if err == nil {
			return uploadProgress(q, q.rt.arg, size, http.StatusAccepted)
		}
	}
	if errors.Is(err, registry.ErrRangeInvalid) {
		// Tell the client where the upload really is, so it can resume.
		if size, serr := h.Service.UploadSize(ctx, q.repo, q.rt.arg); serr == nil {
			q.w.Header().Set("Location", uploadLocation(q, q.rt.arg))
			q.w.Header().Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
		}
	}
	return err
}

func (h *Handler) putUpload(q *request) error {
	d, err := oci.ParseDigest(q.r.URL.Query().Get("digest"))
	if err != nil {
		return fmt.Errorf("%w: %v", errDigestParam, err)
	}
	var body io.Reader
	if q.r.ContentLength != 0 {
		start, err := contentRange(q.r)
		if err != nil {
			return err
		}
		if start >= 0 {
			if _, err := h.Service.AppendUpload(q.r.Context(), q.repo, q.rt.arg, start, q.r.Body); err != nil {
				return err
			}
		} else {
			body = q.r.Body
		}
	}
	if _, err := h.Service.FinishUpload(q.r.Context(), q.repo, q.rt.arg, d, body); err != nil {
		return err
	}
	return created(q, blobLocation(q, d), d)
}

func (h *Handler) cancelUpload(q *request) error {
	if err := h.Service.CancelUpload(q.r.Context(), q.repo, q.rt.arg); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func reference(s string) (oci.Reference, error) {
	ref, err := oci.ParseReference(s)
	switch {
	case errors.Is(err, oci.ErrTagInvalid):
		return ref, fmt.Errorf("%w: %v", registry.ErrTagInvalid, err)
	case err != nil:
		return ref, fmt.Errorf("%w: %v", registry.ErrDigestInvalid, err)
	}
	return ref, nil
}

func (h *Handler) getManifest(q *request) error {
	ref, err := reference(q.rt.arg)
	if err != nil {
		return err
	}
	m, err := h.Service.GetManifest(q.r.Context(), q.repo, ref)
	if err != nil {
		return err
	}
	hdr := q.w.Header()
	hdr.Set("Content-Type", m.MediaType)
	hdr.Set("Docker-Content-Digest", m.Digest.String())
	hdr.Set("Etag", `"`+m.Digest.String()+`"`)
	hdr.Set("Content-Length", strconv.Itoa(len(m.Content)))
	q.w.WriteHeader(http.StatusOK)
	if q.r.Method == http.MethodGet {
		q.w.Write(m.Content)
	}
	return nil
}

func (h *Handler) putManifest(q *request) error {
	ref, err := reference(q.rt.arg)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(q.r.Body, oci.MaxManifestSize+1))
	if err != nil {
		return err
	}
	tags := q.r.URL.Query()["tag"]
	res, err := h.Service.PutManifest(q.r.Context(), q.repo, ref, q.r.Header.Get("Content-Type"), body, tags...)
	if err != nil {
		return err
	}
	hdr := q.w.Header()
	for _, t := range tags {
		hdr.Add("OCI-Tag", t)
	}
	if res.Subject != "" {
		hdr.Set("OCI-Subject", res.Subject.String())
	}
	hdr.Set("Location", "/v2/"+q.repo.Name+"/manifests/"+res.Digest.String())
	hdr.Set("Docker-Content-Digest", res.Digest.String())
	hdr.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) deleteManifest(q *request) error {
	ref, err := reference(q.rt.arg)
	if err != nil {
		return err
	}
	if err := h.Service.DeleteManifest(q.r.Context(), q.repo, ref); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// pagination reads n and last; n < 0 means no limit.
func pagination(r *http.Request) (int, string, error) {
	qs := r.URL.Query()
	n := -1
	if s := qs.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, "", errPaginationN
		}
		n = v
	}
	return n, qs.Get("last"), nil
}

// page runs a listing with one extra item so it knows whether to link the
// next page.
func page(q *request, list func(last string, n int) ([]string, error)) ([]string, error) {
	n, last, err := pagination(q.r)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return []string{}, nil
	}
	items, err := list(last, max(n+1, 0))
	if err != nil {
		return nil, err
	}
	if n > 0 && len(items) > n {
		items = items[:n]
		u := url.URL{Path: q.r.URL.Path, RawQuery: url.Values{"n": {strconv.Itoa(n)}, "last": {items[n-1]}}.Encode()}
		q.w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", u.String()))
	}
	return items, nil
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	w.Header().Set("Content-Type", contentType)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (h *Handler) tags(q *request) error {
	tags, err := page(q, func(last string, n int) ([]string, error) {
		return h.Service.Tags(q.r.Context(), q.repo, last, n)
	})
	if err != nil {
		return err
	}
	return writeJSON(q.w, "application/json", map[string]any{"name": q.repo.Name, "tags": tags})
}

// CatalogFilter is an Authorizer that narrows the catalog to the
// repositories a caller may see.
type CatalogFilter interface {
	Visible(r *http.Request, registry string) (func(repo string) bool, error)
}

func (h *Handler) catalog(q *request) error {
	visible := func(string) bool { return true }
	if f, ok := h.Auth.(CatalogFilter); ok {
		v, err := f.Visible(q.r, q.reg)
		if err != nil {
			return err
		}
		visible = v
	}
	repos, err := page(q, func(last string, n int) ([]string, error) {
		return h.visibleRepositories(q, last, n, visible)
	})
	if err != nil {
		return err
	}
	return writeJSON(q.w, "application/json", map[string]any{"repositories": repos})
}

// visibleRepositories lists up to n repositories after last that visible
// admits (n == 0: all), reading the catalog in batches until it has them.
func (h *Handler) visibleRepositories(q *request, last string, n int, visible func(string) bool) ([]string, error) {
	const batch = 1000
	var out []string
	for {
		want := batch
		if n == 0 {
			want = 0
		}
		repos, err := h.Service.Catalog(q.r.Context(), q.reg, last, want)
		if err != nil {
			return nil, err
		}
		for _, r := range repos {
			if visible(r) {
				out = append(out, r)
				if n > 0 && len(out) == n {
					return out, nil
				}
			}
		}
		if want == 0 || len(repos) < want {
			return out, nil
		}
		last = repos[len(repos)-1]
	}
}

func (h *Handler) referrers(q *request) error {
	d, err := parseDigest(q.rt.arg)
	if err != nil {
		return err
	}
	artifactType := q.r.URL.Query().Get("artifactType")
	body, err := h.Service.Referrers(q.r.Context(), q.repo, d, artifactType)
	if err != nil {
		return err
	}
	if artifactType != "" {
		q.w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	q.w.Header().Set("Content-Type", oci.MediaTypeImageIndex)
	q.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, err = q.w.Write(body)
	return err
}
