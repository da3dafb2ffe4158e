package nmi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/berthhq/berth/internal/imds"
	"github.com/berthhq/berth/internal/podidentity"
)

// agentAPIVersion is the metadata API version NMI asks the node's agent
// in; the agent's answer does not depend on it.
const agentAPIVersion = "2018-02-01"

// Secret keys. A service principal's Secret holds its secret under
// clientsecret (or as its only key); a certificate's, a PKCS #12 or PEM
// certificate with its key under certificate and the file's password,
// if any, under password.
const (
	secretKey      = "clientsecret"
	certificateKey = "certificate"
	passwordKey    = "password"
)

// tokens gets tokens for identities: user-assigned ones from the node's
// metadata agent, service principals from berth's token service with the
// credential in their Secret.
type tokens struct {
	agent  *url.URL
	client *http.Client // to the node's agent
	kube   kubernetes.Interface
	// berth is the token service's base URL and sts its client; nil
	// when NMI was given no node file (then service principals fail).
	berth string
	sts   *http.Client
}

// key names a token in the cache: the identity, as exactly as its
// source names it, and the resource.
func (t *tokens) key(id *podidentity.AzureIdentity, resource string) string {
	s := id.Spec
	r := strings.ToLower(strings.TrimRight(resource, "/"))
	if s.Type == podidentity.UserAssignedIdentity {
		return "ua|" + strings.ToLower(s.ClientID) + "|" + r
	}
	return fmt.Sprintf("sp%d|%s|%s|%s/%s|%s", s.Type, strings.ToLower(s.TenantID), strings.ToLower(s.ClientID), s.ClientPassword.Namespace, s.ClientPassword.Name, r)
}

func (t *tokens) fetch(ctx context.Context, id *podidentity.AzureIdentity, resource string) (imds.Token, error) {
	if id.Spec.Type == podidentity.UserAssignedIdentity {
		return t.fromAgent(ctx, imds.Selector{ClientID: id.Spec.ClientID}, resource)
	}
	return t.servicePrincipal(ctx, id, resource)
}

// fromAgent asks the node's metadata agent, as a process of the node.
func (t *tokens) fromAgent(ctx context.Context, sel imds.Selector, resource string) (imds.Token, error) {
	q := url.Values{"api-version": {agentAPIVersion}, "resource": {resource}}
	for name, v := range map[string]string{"client_id": sel.ClientID, "object_id": sel.ObjectID, "msi_res_id": sel.ResourceID} {
		if v != "" {
			q.Set(name, v)
		}
	}
	u := *t.agent
	u.Path, u.RawQuery = imds.TokenPath, q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return imds.Token{}, err
	}
	req.Header.Set("Metadata", "true")
	resp, err := t.client.Do(req)
	if err != nil {
		return imds.Token{}, &imds.Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
			Description: fmt.Sprintf("the node's metadata agent at %s could not be reached: %v", t.agent, errors.Unwrap(err))}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return imds.Token{}, &imds.Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable", Description: "reading the node's metadata agent's answer: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		var v struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &v) != nil || v.Error == "" {
			return imds.Token{}, &imds.Error{Status: http.StatusBadGateway, Code: "service_unavailable", Description: fmt.Sprintf("the node's metadata agent answered %d", resp.StatusCode)}
		}
		return imds.Token{}, &imds.Error{Status: resp.StatusCode, Code: v.Error, Description: v.Description}
	}
	return imds.ParseToken(body)
}

// servicePrincipal gets a token with the client credentials grant at
// berth's token service.
func (t *tokens) servicePrincipal(ctx context.Context, id *podidentity.AzureIdentity, resource string) (imds.Token, error) {
	s := id.Spec
	if t.sts == nil {
		return imds.Token{}, &imds.Error{Status: http.StatusInternalServerError, Code: "invalid_request",
			Description: "AzureIdentity " + id.Namespace + "/" + id.Name + " is a service principal, and this NMI was started without --node-file, which says where berth's token service is"}
	}
	ns := s.ClientPassword.Namespace
	if ns == "" {
		ns = id.Namespace
	}
	sec, err := t.kube.CoreV1().Secrets(ns).Get(ctx, s.ClientPassword.Name, metav1.GetOptions{})
	if err != nil {
		return imds.Token{}, &imds.Error{Status: http.StatusInternalServerError, Code: "invalid_request",
			Description: fmt.Sprintf("reading the Secret %s/%s of AzureIdentity %s/%s: %v", ns, s.ClientPassword.Name, id.Namespace, id.Name, err)}
	}
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: t.berth + "/"},
		Transport: t.sts,
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
	var cred interface {
		GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)
	}
	switch s.Type {
	case podidentity.ServicePrincipal:
		secret := sec.Data[secretKey]
		if secret == nil && len(sec.Data) == 1 {
			for _, v := range sec.Data {
				secret = v
			}
		}
		if secret == nil {
			return imds.Token{}, &imds.Error{Status: http.StatusInternalServerError, Code: "invalid_request",
				Description: fmt.Sprintf("the Secret %s/%s has no key %s", ns, s.ClientPassword.Name, secretKey)}
		}
		cred, err = azidentity.NewClientSecretCredential(s.TenantID, s.ClientID, string(secret),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	case podidentity.ServicePrincipalCertificate:
		certs, key, perr := azidentity.ParseCertificates(sec.Data[certificateKey], sec.Data[passwordKey])
		if perr != nil {
			return imds.Token{}, &imds.Error{Status: http.StatusInternalServerError, Code: "invalid_request",
				Description: fmt.Sprintf("the Secret %s/%s has no usable certificate under %s: %v", ns, s.ClientPassword.Name, certificateKey, perr)}
		}
		cred, err = azidentity.NewClientCertificateCredential(s.TenantID, s.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	default:
		return imds.Token{}, &imds.Error{Status: http.StatusInternalServerError, Code: "invalid_request", Description: fmt.Sprintf("AzureIdentity type %d is not one NMI knows", s.Type)}
	}
	if err != nil {
		return imds.Token{}, &imds.Error{Status: http.StatusInternalServerError, Code: "invalid_request", Description: err.Error()}
	}
	now := time.Now()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}, TenantID: s.TenantID})
	if err != nil {
		var auth *azidentity.AuthenticationFailedError
		if errors.As(err, &auth) && auth.RawResponse != nil && auth.RawResponse.StatusCode < 500 {
			return imds.Token{}, &imds.Error{Status: http.StatusBadRequest, Code: "invalid_request",
				Description: fmt.Sprintf("berth's token service refused the service principal %s of AzureIdentity %s/%s (HTTP %d)", s.ClientID, id.Namespace, id.Name, auth.RawResponse.StatusCode)}
		}
		return imds.Token{}, &imds.Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable", Description: "berth's token service: " + err.Error()}
	}
	return imds.Token{AccessToken: tok.Token, ClientID: s.ClientID, Resource: resource, ExpiresOn: tok.ExpiresOn, NotBefore: now}, nil
}

// stsClient reaches berth's token service trusting berth's CA, directly:
// a proxy would see the service principals' secrets.
func stsClient(caPEM string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if caPEM != "" {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, errors.New("the node file's berthCA holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}
