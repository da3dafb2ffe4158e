package nmi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berthhq/berth/internal/imds"
	"github.com/berthhq/berth/internal/podidentity"
)

// HostTokenPath is where the node's own processes ask for a pod's token.
const HostTokenPath = "/host/token/"

// retryAfter is the Retry-After, in seconds, of an answer that will
// change soon: an identity still being assigned to the node's machine,
// NMI starting.
const retryAfter = "5"

// Config is what a Server needs.
type Config struct {
	// NodeName is the node NMI serves the pods of.
	NodeName string
	// MetadataAgent is the node's metadata agent's base URL (berth imds).
	MetadataAgent string
	// Berth and BerthCA are berth's address and CA, for service
	// principal identities; empty Berth: they are refused.
	Berth, BerthCA string
	// InterfacePrefixes name the pods' interfaces.
	InterfacePrefixes []string
	// AllowBridge accepts pod interfaces on a bridge.
	AllowBridge bool
	Log         *slog.Logger
}

// Server is NMI: it answers the metadata requests of its node's pods.
type Server struct {
	node   string
	state  *state
	tokens *tokens
	cache  imds.Cache
	guard  *guard
	proxy  http.Handler
	log    *slog.Logger
	// ready is set once the informers have listed: until then NMI does
	// not know the pods, and answers them 503.
	ready atomic.Bool
}

// New makes an NMI for the API server of cfg. It answers 503 until Start
// has listed the cluster's objects, and pods 503 until Serve has checked
// the node.
func New(cfg *rest.Config, c Config) (*Server, error) {
	if c.NodeName == "" {
		return nil, errors.New("nmi: no node name")
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	agent, err := url.Parse(c.MetadataAgent)
	if err != nil || agent.Scheme != "http" || agent.Host == "" {
		return nil, fmt.Errorf("nmi: the metadata agent's address %q is not http://HOST:PORT", c.MetadataAgent)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "berth-nmi"
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	st, err := newState(kube, dyn, c.NodeName)
	if err != nil {
		return nil, err
	}
	// The node's agent is on the node: no proxy between.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	t := &tokens{agent: agent, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, kube: kube}
	if c.Berth != "" {
		if t.sts, err = stsClient(c.BerthCA); err != nil {
			return nil, err
		}
		t.berth = strings.TrimRight(c.Berth, "/")
	}
	s := &Server{node: c.NodeName, state: st, tokens: t, log: c.Log,
		guard: &guard{prefixes: c.InterfacePrefixes, allowBridge: c.AllowBridge, log: c.Log}}
	notYet := "the pod interfaces' reverse-path filtering has not been checked yet"
	s.guard.unsafe.Store(&notYet)
	s.proxy = &httputil.ReverseProxy{
		// Rewrite (not Director) adds no X-Forwarded-For: the request
		// goes on as the pod made it.
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = agent.Scheme, agent.Host
			r.Out.Host = r.In.Host
		},
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			imds.WriteError(w, &imds.Error{Status: http.StatusBadGateway, Code: "service_unavailable",
				Description: "the node's metadata agent could not be reached: " + err.Error()})
		},
	}
	return s, nil
}

// Start runs the informers until ctx ends and returns once they have
// listed.
func (s *Server) Start(ctx context.Context) error {
	if err := s.state.run(ctx, s.log); err != nil {
		return err
	}
	s.ready.Store(true)
	return nil
}

// Handler serves the pods' metadata requests and the node's
// HostTokenPath.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	if ip == nil {
		imds.WriteError(w, &imds.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "no source address"})
		return
	}
	if !s.ready.Load() {
		w.Header().Set("Retry-After", retryAfter)
		imds.WriteError(w, &imds.Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
			Description: "NMI is starting: it has not yet listed the node's pods and their identities"})
		return
	}
	if ip.IsLoopback() {
		s.hostToken(w, r)
		return
	}
	if why := s.guard.unsafe.Load(); why != nil {
		imds.WriteError(w, &imds.Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable", Description: "NMI cannot tell pods apart: " + *why})
		return
	}
	pod, err := s.state.podByIP(ip.String())
	switch {
	case errors.Is(err, errAmbiguous):
		w.Header().Set("Retry-After", retryAfter)
		imds.WriteError(w, &imds.Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
			Description: "several pods of node " + s.node + " have the address " + ip.String() + "; retry once the ended one is gone"})
		return
	case err != nil:
		imds.WriteError(w, &imds.Error{Status: http.StatusInternalServerError, Code: "internal_error", Description: err.Error()})
		return
	case pod == nil:
		imds.WriteError(w, &imds.Error{Status: http.StatusNotFound, Code: "not_found",
			Description: "No pod of node " + s.node + " has the address " + ip.String()})
		return
	}
	if s.state.excepted(pod) {
		s.log.Debug("passed through", "pod", pod.Namespace+"/"+pod.Name, "path", r.URL.Path)
		s.proxy.ServeHTTP(w, r)
		return
	}
	p := r.URL.Path
	switch {
	case p == imds.TokenPath:
		sel, resource, e := imds.ParseTokenRequest(r)
		if e != nil {
			imds.WriteError(w, e)
			return
		}
		s.answer(w, r, pod, sel, resource)
	case strings.HasPrefix(p, "/metadata/") && !strings.HasPrefix(p, "/metadata/identity"):
		// The agent serves its identity paths too: what it is given must
		// not resolve to one.
		if r.URL.RawPath != "" || path.Clean(p) != p {
			imds.WriteError(w, &imds.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The path is not in its plain form: " + r.URL.EscapedPath()})
			return
		}
		s.proxy.ServeHTTP(w, r)
	default:
		imds.WriteError(w, &imds.Error{Status: http.StatusNotFound, Code: "not_found", Description: "No metadata at " + p})
	}
}

// hostToken serves the node's processes a pod's token: headers podname,
// podns, resource and clientid.
func (s *Server) hostToken(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != HostTokenPath && r.URL.Path != strings.TrimSuffix(HostTokenPath, "/") {
		imds.WriteError(w, &imds.Error{Status: http.StatusNotFound, Code: "not_found", Description: "NMI serves the node only " + HostTokenPath})
		return
	}
	name, ns, resource := r.Header.Get("podname"), r.Header.Get("podns"), r.Header.Get("resource")
	if name == "" || ns == "" || resource == "" {
		imds.WriteError(w, &imds.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Required headers podname, podns and resource; clientid is optional"})
		return
	}
	obj, ok, err := s.state.pods.GetIndexer().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		imds.WriteError(w, &imds.Error{Status: http.StatusNotFound, Code: "not_found", Description: "No pod " + ns + "/" + name + " on node " + s.node})
		return
	}
	s.answer(w, r, obj.(*corev1.Pod), imds.Selector{ClientID: r.Header.Get("clientid")}, resource)
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, sel imds.Selector, resource string) {
	tok, e, retry := s.token(r.Context(), pod, sel, resource)
	who := pod.Namespace + "/" + pod.Name
	if e != nil {
		if retry {
			w.Header().Set("Retry-After", retryAfter)
		}
		s.log.Debug("token refused", "pod", who, "resource", resource, "status", e.Status, "error", e.Description)
		imds.WriteError(w, e)
		return
	}
	s.log.Debug("token served", "pod", who, "client_id", tok.ClientID, "resource", resource)
	imds.WriteToken(w, tok, resource, time.Now())
}

// token is the pod's token for resource, of the identity sel names among
// those assigned to it; retry says the identity is being assigned.
func (s *Server) token(ctx context.Context, pod *corev1.Pod, sel imds.Selector, resource string) (imds.Token, *imds.Error, bool) {
	who := "pod " + pod.Namespace + "/" + pod.Name
	as, err := s.state.assignments(pod)
	if err != nil {
		return imds.Token{}, &imds.Error{Status: http.StatusInternalServerError, Code: "internal_error", Description: err.Error()}, false
	}
	if len(as) == 0 {
		return imds.Token{}, &imds.Error{Status: http.StatusNotFound, Code: "not_found", Description: "No identity is assigned to " + who}, false
	}
	var chosen *podidentity.AzureAssignedIdentity
	var byObjectID imds.Token
	switch {
	case sel == imds.Selector{}:
		if len(as) > 1 {
			var ids []string
			for _, a := range as {
				ids = append(ids, a.Spec.AzureIdentityRef.Spec.ClientID)
			}
			return imds.Token{}, &imds.Error{Status: http.StatusBadRequest, Code: "invalid_request",
				Description: fmt.Sprintf("%d identities are assigned to %s (client ids %s); name one with client_id, object_id or msi_res_id", len(as), who, strings.Join(ids, ", "))}, false
		}
		chosen = &as[0]
	case sel.ObjectID != "":
		// The resources do not hold object ids; the node's agent knows
		// which client id one belongs to, and its token is handed out
		// only if that is the pod's.
		tok, err := s.tokens.fromAgent(ctx, sel, resource)
		if err == nil {
			for i, a := range as {
				if id := a.Spec.AzureIdentityRef.Spec; id.Type == podidentity.UserAssignedIdentity && strings.EqualFold(id.ClientID, tok.ClientID) {
					chosen, byObjectID = &as[i], tok
				}
			}
		}
	default:
		for i, a := range as {
			id := a.Spec.AzureIdentityRef.Spec
			if sel.ClientID != "" && strings.EqualFold(id.ClientID, sel.ClientID) ||
				sel.ResourceID != "" && id.Type == podidentity.UserAssignedIdentity && strings.EqualFold(id.ResourceID, sel.ResourceID) {
				chosen = &as[i]
			}
		}
	}
	if chosen == nil {
		return imds.Token{}, &imds.Error{Status: http.StatusForbidden, Code: "invalid_request",
			Description: "Identity not found: the identity named is not assigned to " + who}, false
	}
	// A copy: the informer's object is shared.
	id := *chosen.Spec.AzureIdentityRef
	if status := chosen.Status.Status; status != podidentity.AssignedIDAssigned {
		if status == "" {
			status = "new" // made, its identity on its way to the machine
		}
		return imds.Token{}, &imds.Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
			Description: fmt.Sprintf("The identity %s is being assigned to %s (AzureAssignedIdentity %s is %s); retry in a few seconds", id.Spec.ClientID, who, chosen.Name, status)}, true
	}
	if byObjectID.AccessToken != "" {
		return byObjectID, nil, false
	}
	if id.Namespace == "" {
		id.Namespace = chosen.Namespace
	}
	tok, err := s.cache.Get(ctx, s.tokens.key(&id, resource), func(ctx context.Context) (imds.Token, error) {
		return s.tokens.fetch(ctx, &id, resource)
	})
	if err != nil {
		var e *imds.Error
		if !errors.As(err, &e) {
			e = &imds.Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable", Description: err.Error()}
		}
		return imds.Token{}, e, false
	}
	return tok, nil, false
}
