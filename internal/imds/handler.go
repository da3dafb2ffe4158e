package imds

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Paths the agent serves. IMDS paths are the cloud's; the App Service and
// MSI_ENDPOINT forms are reached through environment variables, so their
// paths are the agent's choice.
const (
	TokenPath      = "/metadata/identity/oauth2/token"
	InstancePath   = "/metadata/instance"
	AppServicePath = "/msi/token"
	MSIPath        = "/oauth2/token"
)

// appServiceAPIVersion is the App Service managed identity API the agent
// speaks (the one current SDKs send).
const appServiceAPIVersion = "2019-08-01"

// maxForm bounds an MSI_ENDPOINT request body; real ones are a resource
// URI.
const maxForm = 16 << 10

// Handler serves the metadata endpoint's surfaces for an agent.
// identityHeader is the secret App Service-style clients must send in
// X-IDENTITY-HEADER; empty turns that form off.
func Handler(a *Agent, identityHeader string) http.Handler {
	h := &handler{a: a, identityHeader: identityHeader, instance: instanceDoc(a.cred)}
	mux := http.NewServeMux()
	mux.HandleFunc(TokenPath, h.imdsToken)
	mux.HandleFunc(InstancePath, h.instanceAll)
	mux.HandleFunc(InstancePath+"/{part}", h.instancePart)
	mux.HandleFunc(AppServicePath, h.appService)
	mux.HandleFunc(MSIPath, h.msi)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "not_found", Description: "No metadata at " + r.URL.Path})
	})
	return refuseProxied(mux)
}

type handler struct {
	a              *Agent
	identityHeader string
	instance       map[string]any
}

// refuseProxied turns away requests a proxy forwarded: the endpoint is
// for the machine's own processes, and a proxy on the machine could
// otherwise hand its tokens to whoever reaches the proxy. Proxies mark
// what they forward in several ways, so every marking counts.
func refuseProxied(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := proxyHeader(r.Header); h != "" {
			writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid_request",
				Description: "Request was forwarded by a proxy (" + h + "); the metadata endpoint answers only direct requests"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// proxyHeaders are the headers, in canonical form, by which proxies and
// load balancers say they forwarded a request; any X-Forwarded-* header
// counts too.
var proxyHeaders = []string{
	"Forwarded", "Via", "X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "X-Cluster-Client-Ip",
	"X-Original-Forwarded-For", "X-Proxyuser-Ip", "X-Originating-Ip", "X-Remote-Ip", "X-Remote-Addr",
	"Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip",
}

// proxyHeader names a header of h that a proxy adds, or "".
func proxyHeader(h http.Header) string {
	if _, ok := h["X-Forwarded-For"]; ok {
		return "X-Forwarded-For"
	}
	for _, name := range proxyHeaders {
		if _, ok := h[name]; ok {
			return name
		}
	}
	for name := range h {
		if strings.HasPrefix(name, "X-Forwarded-") {
			return name
		}
	}
	return ""
}

// metadataHeader checks the header that a server-side request forgery
// cannot add. A bare GET with no header (the Go SDK's availability probe)
// gets this 400 too: any answer tells the SDK the endpoint is there.
func metadataHeader(r *http.Request) *Error {
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Required metadata header not specified"}
	}
	return nil
}

func apiVersion(q url.Values) *Error {
	if q.Get("api-version") == "" {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Required query variable 'api-version' is missing"}
	}
	return nil
}

// selectorOf reads the identity a request names; mi_res_id is the newer
// spelling of msi_res_id.
func selectorOf(q url.Values) (Selector, *Error) {
	s := Selector{ClientID: q.Get("client_id"), ObjectID: q.Get("object_id"), ResourceID: q.Get("msi_res_id")}
	if v := q.Get("mi_res_id"); v != "" {
		if s.ResourceID != "" && s.ResourceID != v {
			return Selector{}, multipleIdentities
		}
		s.ResourceID = v
	}
	n := 0
	for _, v := range []string{s.ClientID, s.ObjectID, s.ResourceID} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return Selector{}, multipleIdentities
	}
	return s, nil
}

var multipleIdentities = &Error{Status: http.StatusBadRequest, Code: "invalid_request",
	Description: "Only one of client_id, object_id, msi_res_id and mi_res_id may be specified"}

func resourceOf(v url.Values) (string, *Error) {
	r := v.Get("resource")
	if r == "" {
		return "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Required query variable 'resource' is missing"}
	}
	return r, nil
}

func (h *handler) imdsToken(w http.ResponseWriter, r *http.Request) {
	if _, _, e := ParseTokenRequest(r); e != nil {
		writeError(w, e)
		return
	}
	h.token(w, r, r.URL.Query(), imdsShape)
}

// ParseTokenRequest checks a GET of TokenPath as the metadata endpoint
// does and reads the identity and resource it asks for.
func ParseTokenRequest(r *http.Request) (Selector, string, *Error) {
	if r.Method != http.MethodGet {
		return Selector{}, "", &Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "Only GET is allowed"}
	}
	q := r.URL.Query()
	if e := first(metadataHeader(r), apiVersion(q)); e != nil {
		return Selector{}, "", e
	}
	sel, e := selectorOf(q)
	resource, e2 := resourceOf(q)
	if e := first(e, e2); e != nil {
		return Selector{}, "", e
	}
	return sel, resource, nil
}

func (h *handler) appService(w http.ResponseWriter, r *http.Request) {
	if h.identityHeader == "" {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "not_found", Description: "The App Service form is not enabled on this agent (--identity-header)"})
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(h.identityHeader)) != 1 {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Required header X-IDENTITY-HEADER not specified or not valid"})
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != appServiceAPIVersion {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "api-version must be " + appServiceAPIVersion})
		return
	}
	h.token(w, r, q, appServiceShape)
}

func (h *handler) msi(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "Only POST is allowed"})
		return
	}
	if e := metadataHeader(r); e != nil {
		writeError(w, e)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The form is not valid: " + err.Error()})
		return
	}
	h.token(w, r, r.Form, imdsShape)
}

type shape int

const (
	imdsShape shape = iota
	appServiceShape
)

func (h *handler) token(w http.ResponseWriter, r *http.Request, v url.Values, sh shape) {
	sel, e := selectorOf(v)
	resource, e2 := resourceOf(v)
	if e := first(e, e2); e != nil {
		writeError(w, e)
		return
	}
	tok, err := h.a.Token(r.Context(), sel, resource)
	if err != nil {
		var ierr *Error
		if !errors.As(err, &ierr) {
			ierr = &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable", Description: err.Error()}
		}
		writeError(w, ierr)
		return
	}
	if sh == appServiceShape {
		writeJSON(w, http.StatusOK, struct {
			AccessToken string `json:"access_token"`
			ExpiresOn   string `json:"expires_on"`
			Resource    string `json:"resource"`
			TokenType   string `json:"token_type"`
			ClientID    string `json:"client_id"`
		}{tok.AccessToken, strconv.FormatInt(tok.ExpiresOn.Unix(), 10), resource, "Bearer", tok.ClientID})
		return
	}
	WriteToken(w, tok, resource, h.a.now())
}

// WriteToken writes the metadata endpoint's token answer for a request
// of resource, its lifetimes counted from now.
func WriteToken(w http.ResponseWriter, tok Token, resource string, now time.Time) {
	exp := strconv.FormatInt(tok.ExpiresOn.Unix(), 10)
	in := strconv.FormatInt(int64(tok.ExpiresOn.Sub(now)/time.Second), 10)
	writeJSON(w, http.StatusOK, struct {
		AccessToken  string `json:"access_token"`
		ClientID     string `json:"client_id"`
		ExpiresIn    string `json:"expires_in"`
		ExpiresOn    string `json:"expires_on"`
		ExtExpiresIn string `json:"ext_expires_in"`
		NotBefore    string `json:"not_before"`
		Resource     string `json:"resource"`
		TokenType    string `json:"token_type"`
	}{tok.AccessToken, tok.ClientID, in, exp, in, strconv.FormatInt(tok.NotBefore.Unix(), 10), resource, "Bearer"})
}

func (h *handler) instanceAll(w http.ResponseWriter, r *http.Request) {
	if e := first(metadataHeader(r), apiVersion(r.URL.Query())); e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, h.instance)
}

func (h *handler) instancePart(w http.ResponseWriter, r *http.Request) {
	if e := first(metadataHeader(r), apiVersion(r.URL.Query())); e != nil {
		writeError(w, e)
		return
	}
	part, ok := h.instance[r.PathValue("part")]
	if !ok {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "not_found", Description: "No metadata at " + r.URL.Path})
		return
	}
	writeJSON(w, http.StatusOK, part)
}

// instanceDoc is the instance metadata a machine's processes read: what
// the credential file says about the machine. berth knows nothing of its
// network, so that part is empty.
func instanceDoc(c *CredentialFile) map[string]any {
	return map[string]any{
		"compute": map[string]any{
			"azEnvironment":     "berth",
			"location":          c.Location,
			"name":              c.Name,
			"osType":            "Linux",
			"resourceGroupName": c.ResourceGroup,
			"resourceId":        c.ResourceID,
			"subscriptionId":    c.SubscriptionID,
			"tagsList":          []any{},
			"vmId":              c.VMID,
		},
		"network": map[string]any{"interface": []any{}},
	}
}

func first(errs ...*Error) *Error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// WriteError writes e as the metadata endpoint's error answer.
func WriteError(w http.ResponseWriter, e *Error) { writeError(w, e) }

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
