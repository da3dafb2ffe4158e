package ociapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

// The registry's metadata API under /acr/v1/, as the cloud's registry SDK
// and CLI call it: repositories, tags and manifests with their attributes,
// their update, and deletes. Its errors have the OCI error body.

// ACRPrefix is where the metadata API lives.
const ACRPrefix = "/acr/v1/"

// Actions of the metadata API, as registry tokens name them.
const (
	ActionMetadataRead  = "metadata_read"
	ActionMetadataWrite = "metadata_write"
)

// Errors of the metadata API's input.
var (
	errOrderBy    = errors.New("invalid orderby: use timedesc, timeasc or none")
	errAttributes = errors.New("the request body must be a JSON object of deleteEnabled, writeEnabled, listEnabled and readEnabled, each true or false")
)

// parseACR splits an escaped /acr/v1/ path: the repository's, its tags',
// a tag's, its manifests' or a manifest's. Names are unescaped as parse
// does; the segments that follow the name start with "_", which no
// repository name's component can.
func parseACR(escaped string) (route, bool) {
	rest, ok := strings.CutPrefix(escaped, ACRPrefix)
	if !ok || rest == "" {
		return route{}, false
	}
	seg, join, ok := segments(rest)
	if !ok {
		return route{}, false
	}
	n := len(seg)
	switch {
	case n >= 2 && seg[n-1] == "_tags":
		return route{kind: "acrTags", name: join(n - 1)}, true
	case n >= 3 && seg[n-2] == "_tags":
		return route{kind: "acrTag", name: join(n - 2), arg: seg[n-1]}, true
	case n >= 2 && seg[n-1] == "_manifests":
		return route{kind: "acrManifests", name: join(n - 1)}, true
	case n >= 3 && seg[n-2] == "_manifests":
		return route{kind: "acrManifest", name: join(n - 2), arg: seg[n-1]}, true
	case !strings.HasPrefix(seg[n-1], "_"):
		return route{kind: "acrRepository", name: join(n)}, true
	}
	return route{}, false
}

// acrEndpoint is endpoint for the metadata API.
func (h *Handler) acrEndpoint(q *request) (string, func(*request) error, bool) {
	m := q.r.Method
	switch q.rt.kind {
	case "acrRepository":
		switch m {
		case http.MethodGet:
			return ActionMetadataRead, h.acrRepository, true
		case http.MethodPatch:
			return ActionMetadataWrite, h.acrUpdateRepository, true
		case http.MethodDelete:
			return ActionDelete, h.acrDeleteRepository, true
		}
	case "acrTags":
		if m == http.MethodGet {
			return ActionMetadataRead, h.acrTags, true
		}
	case "acrTag":
		switch m {
		case http.MethodGet:
			return ActionMetadataRead, h.acrTag, true
		case http.MethodPatch:
			return ActionMetadataWrite, h.acrUpdateTag, true
		case http.MethodDelete:
			return ActionDelete, h.acrDeleteTag, true
		}
	case "acrManifests":
		if m == http.MethodGet {
			return ActionMetadataRead, h.acrManifests, true
		}
	case "acrManifest":
		switch m {
		case http.MethodGet:
			return ActionMetadataRead, h.acrManifest, true
		case http.MethodPatch:
			return ActionMetadataWrite, h.acrUpdateManifest, true
		}
	}
	return "", nil, false
}

// The wire shapes, the cloud's field names.
type (
	acrAttributes struct {
		DeleteEnabled bool `json:"deleteEnabled"`
		WriteEnabled  bool `json:"writeEnabled"`
		ListEnabled   bool `json:"listEnabled"`
		ReadEnabled   bool `json:"readEnabled"`
	}
	acrTag struct {
		Name                 string        `json:"name"`
		Digest               oci.Digest    `json:"digest"`
		CreatedTime          string        `json:"createdTime"`
		LastUpdateTime       string        `json:"lastUpdateTime"`
		Signed               bool          `json:"signed"`
		ChangeableAttributes acrAttributes `json:"changeableAttributes"`
	}
	acrManifest struct {
		Digest               oci.Digest    `json:"digest"`
		ImageSize            int64         `json:"imageSize"`
		CreatedTime          string        `json:"createdTime"`
		LastUpdateTime       string        `json:"lastUpdateTime"`
		MediaType            string        `json:"mediaType"`
		Tags                 []string      `json:"tags"`
		ChangeableAttributes acrAttributes `json:"changeableAttributes"`
	}
)

func acrTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func attributes(a store.Attributes) acrAttributes {
	return acrAttributes{DeleteEnabled: a.DeleteEnabled, WriteEnabled: a.WriteEnabled, ListEnabled: a.ListEnabled, ReadEnabled: a.ReadEnabled}
}

func tagJSON(t store.TagInfo) acrTag {
	return acrTag{Name: t.Name, Digest: t.Digest, CreatedTime: acrTime(t.CreatedAt), LastUpdateTime: acrTime(t.UpdatedAt),
		ChangeableAttributes: attributes(t.Attributes)}
}

func manifestJSON(m store.ManifestInfo) acrManifest {
	return acrManifest{Digest: m.Digest, ImageSize: m.Size, CreatedTime: acrTime(m.CreatedAt), LastUpdateTime: acrTime(m.UpdatedAt),
		MediaType: m.MediaType, Tags: m.Tags, ChangeableAttributes: attributes(m.Attributes)}
}

// loginServer is the registry's name as the client called it.
func loginServer(r *http.Request) string {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// envelope is the fields every answer about a repository starts with.
func envelope(q *request) map[string]any {
	return map[string]any{"registry": loginServer(q.r), "imageName": q.repo.Name}
}

func (h *Handler) acrRepository(q *request) error {
	info, err := h.Service.RepositoryInfo(q.r.Context(), q.repo)
	if err != nil {
		return err
	}
	return writeRepository(q, info)
}

func writeRepository(q *request, info store.RepositoryInfo) error {
	out := envelope(q)
	out["createdTime"] = acrTime(info.CreatedAt)
	out["lastUpdateTime"] = acrTime(info.UpdatedAt)
	out["manifestCount"] = info.ManifestCount
	out["tagCount"] = info.TagCount
	out["changeableAttributes"] = attributes(info.Attributes)
	return writeJSON(q.w, "application/json", out)
}

// attributesUpdate reads a PATCH body: only the four attributes, each a
// boolean; an empty body changes nothing.
func attributesUpdate(r *http.Request) (store.AttributesUpdate, error) {
	var up store.AttributesUpdate
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return up, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return up, nil
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		return up, errAttributes
	}
	fields := map[string]**bool{"deleteEnabled": &up.DeleteEnabled, "writeEnabled": &up.WriteEnabled, "listEnabled": &up.ListEnabled, "readEnabled": &up.ReadEnabled}
	for k, raw := range in {
		f, ok := fields[k]
		var v bool
		if !ok || json.Unmarshal(raw, &v) != nil || string(raw) == "null" {
			return up, fmt.Errorf("%w (not %s: %s)", errAttributes, k, raw)
		}
		*f = &v
	}
	return up, nil
}

func (h *Handler) acrUpdateRepository(q *request) error {
	up, err := attributesUpdate(q.r)
	if err != nil {
		return err
	}
	info, err := h.Service.UpdateRepository(q.r.Context(), q.repo, up)
	if err != nil {
		return err
	}
	return writeRepository(q, info)
}

func (h *Handler) acrDeleteRepository(q *request) error {
	gone, err := h.Service.DeleteRepository(q.r.Context(), q.repo)
	if err != nil {
		return err
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(http.StatusAccepted)
	return writeJSON(q.w, "application/json", map[string]any{"manifestsDeleted": gone.Manifests, "tagsDeleted": gone.Tags})
}

// artifactQuery reads n, last and orderby, and asks for one more than n
// so that the caller knows whether to link a next page.
func artifactQuery(r *http.Request) (store.ArtifactQuery, int, error) {
	n, last, err := pagination(r)
	if err != nil {
		return store.ArtifactQuery{}, 0, err
	}
	q := store.ArtifactQuery{Last: last}
	switch r.URL.Query().Get("orderby") {
	case "", "none":
	case "timedesc":
		q.Order = store.ByTimeDesc
	case "timeasc":
		q.Order = store.ByTimeAsc
	default:
		return q, 0, errOrderBy
	}
	if n > 0 {
		q.N = n + 1
	}
	return q, n, nil
}

// linkNext sets the Link header to the page after the one ending at last,
// keeping the request's other parameters.
func linkNext(q *request, n int, last string) {
	v := q.r.URL.Query()
	v.Set("n", strconv.Itoa(n))
	v.Set("last", last)
	u := url.URL{Path: q.r.URL.Path, RawQuery: v.Encode()}
	q.w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", u.String()))
}

func (h *Handler) acrTags(q *request) error {
	aq, n, err := artifactQuery(q.r)
	if err != nil {
		return err
	}
	if d := q.r.URL.Query().Get("digest"); d != "" {
		if aq.Digest, err = parseDigest(d); err != nil {
			return err
		}
	}
	tags, err := h.Service.TagInfos(q.r.Context(), q.repo, aq)
	if err != nil {
		return err
	}
	if n > 0 && len(tags) > n {
		tags = tags[:n]
		linkNext(q, n, tags[n-1].Name)
	}
	out := []acrTag{}
	for _, t := range tags {
		// Unlisted tags are left out of listings, and only there.
		if t.ListEnabled {
			out = append(out, tagJSON(t))
		}
	}
	body := envelope(q)
	body["tags"] = out
	return writeJSON(q.w, "application/json", body)
}

func (h *Handler) acrTag(q *request) error {
	t, err := h.Service.TagInfo(q.r.Context(), q.repo, q.rt.arg)
	if err != nil {
		return err
	}
	out := envelope(q)
	out["tag"] = tagJSON(t)
	return writeJSON(q.w, "application/json", out)
}

func (h *Handler) acrUpdateTag(q *request) error {
	up, err := attributesUpdate(q.r)
	if err != nil {
		return err
	}
	t, err := h.Service.UpdateTag(q.r.Context(), q.repo, q.rt.arg, up)
	if err != nil {
		return err
	}
	out := envelope(q)
	out["tag"] = tagJSON(t)
	return writeJSON(q.w, "application/json", out)
}

func (h *Handler) acrDeleteTag(q *request) error {
	if err := h.Service.DeleteTag(q.r.Context(), q.repo, q.rt.arg); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) acrManifests(q *request) error {
	aq, n, err := artifactQuery(q.r)
	if err != nil {
		return err
	}
	ms, err := h.Service.ManifestInfos(q.r.Context(), q.repo, aq)
	if err != nil {
		return err
	}
	if n > 0 && len(ms) > n {
		ms = ms[:n]
		linkNext(q, n, string(ms[n-1].Digest))
	}
	out := []acrManifest{}
	for _, m := range ms {
		if m.ListEnabled {
			out = append(out, manifestJSON(m))
		}
	}
	body := envelope(q)
	body["manifests"] = out
	return writeJSON(q.w, "application/json", body)
}

func (h *Handler) acrManifest(q *request) error {
	d, err := parseDigest(q.rt.arg)
	if err != nil {
		return err
	}
	m, err := h.Service.ManifestInfo(q.r.Context(), q.repo, d)
	if err != nil {
		return err
	}
	out := envelope(q)
	out["manifest"] = manifestJSON(m)
	return writeJSON(q.w, "application/json", out)
}

func (h *Handler) acrUpdateManifest(q *request) error {
	d, err := parseDigest(q.rt.arg)
	if err != nil {
		return err
	}
	up, err := attributesUpdate(q.r)
	if err != nil {
		return err
	}
	m, err := h.Service.UpdateManifest(q.r.Context(), q.repo, d, up)
	if err != nil {
		return err
	}
	out := envelope(q)
	out["manifest"] = manifestJSON(m)
	return writeJSON(q.w, "application/json", out)
}
