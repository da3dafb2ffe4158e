package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// valueOrFile is an argument as the cloud CLI takes it: "@path" is the
// content of the file, anything else the value itself.
func valueOrFile(arg string) ([]byte, error) {
	if path, ok := strings.CutPrefix(arg, "@"); ok {
		return os.ReadFile(path)
	}
	return []byte(arg), nil
}

// certificateDER reads --cert: a PEM certificate (the first CERTIFICATE
// block, so a file with the key next to it works), or its DER in base64.
func certificateDER(arg string) ([]byte, error) {
	data, err := valueOrFile(arg)
	if err != nil {
		return nil, fmt.Errorf("--cert: %w", err)
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			return block.Bytes, nil
		}
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return nil, errors.New("--cert: the PEM text has no CERTIFICATE block")
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, errors.New("--cert: neither a PEM certificate nor a base64-encoded DER certificate")
	}
	return der, nil
}

// CertificateReset are berth ad app credential reset --cert's options.
type CertificateReset struct {
	ID string
	// Cert is "@file" or the certificate text (PEM, or base64 DER).
	Cert        string
	Append      bool
	DisplayName string
}

// ResetCertificate uploads a certificate credential. Without Append it
// replaces every key credential of the application, in one request, so
// the old certificates stop working at once; with it, the present ones
// are sent back by keyId and kept.
func (d *Directory) ResetCertificate(ctx context.Context, o CertificateReset) (Credential, error) {
	der, err := certificateDER(o.Cert)
	if err != nil {
		return Credential{}, err
	}
	app, err := d.ShowApp(ctx, o.ID)
	if err != nil {
		return Credential{}, err
	}
	keys := []map[string]any{}
	if o.Append {
		present, _ := app["keyCredentials"].([]any)
		for _, k := range present {
			m, _ := k.(map[string]any)
			if id, _ := m["keyId"].(string); id != "" {
				keys = append(keys, map[string]any{"keyId": id})
			}
		}
	}
	added := map[string]any{"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.StdEncoding.EncodeToString(der)}
	if o.DisplayName != "" {
		added["displayName"] = o.DisplayName
	}
	keys = append(keys, added)
	if err := d.do(ctx, http.MethodPatch, "/applications/"+url.PathEscape(app.str("id")), map[string]any{"keyCredentials": keys}, nil); err != nil {
		return Credential{}, err
	}
	return Credential{AppID: app.str("appId"), Tenant: d.p.TenantID}, nil
}

// ListCredentials lists an application's secrets, or with cert its
// certificates.
func (d *Directory) ListCredentials(ctx context.Context, id string, cert bool) ([]any, error) {
	app, err := d.ShowApp(ctx, id)
	if err != nil {
		return nil, err
	}
	field := "passwordCredentials"
	if cert {
		field = "keyCredentials"
	}
	creds, _ := app[field].([]any)
	if creds == nil {
		creds = []any{}
	}
	return creds, nil
}

func (d *Directory) federatedPath(ctx context.Context, appID string) (string, error) {
	app, err := d.ShowApp(ctx, appID)
	if err != nil {
		return "", err
	}
	return "/applications/" + url.PathEscape(app.str("id")) + "/federatedIdentityCredentials", nil
}

// CreateFederatedCredential adds a federated identity credential to an
// application; parameters is "@file" or the JSON object itself
// ({name, issuer, subject, audiences, description}).
func (d *Directory) CreateFederatedCredential(ctx context.Context, appID, parameters string) (Object, error) {
	data, err := valueOrFile(parameters)
	if err != nil {
		return nil, fmt.Errorf("--parameters: %w", err)
	}
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		return nil, fmt.Errorf("--parameters: not a JSON object: %w", err)
	}
	path, err := d.federatedPath(ctx, appID)
	if err != nil {
		return nil, err
	}
	var out Object
	return out, d.do(ctx, http.MethodPost, path, body, &out)
}

// ListFederatedCredentials lists an application's federated identity
// credentials.
func (d *Directory) ListFederatedCredentials(ctx context.Context, appID string) ([]Object, error) {
	path, err := d.federatedPath(ctx, appID)
	if err != nil {
		return nil, err
	}
	var out struct {
		Value []Object `json:"value"`
	}
	return out.Value, d.do(ctx, http.MethodGet, path, nil, &out)
}

// ShowFederatedCredential finds one by id or name.
func (d *Directory) ShowFederatedCredential(ctx context.Context, appID, credID string) (Object, error) {
	path, err := d.federatedPath(ctx, appID)
	if err != nil {
		return nil, err
	}
	var out Object
	err = d.do(ctx, http.MethodGet, path+"/"+url.PathEscape(credID), nil, &out)
	if errors.Is(err, errDirectoryNotFound) {
		return nil, fmt.Errorf("Federated identity credential '%s' doesn't exist", credID)
	}
	return out, err
}

// DeleteFederatedCredential removes one by id or name.
func (d *Directory) DeleteFederatedCredential(ctx context.Context, appID, credID string) error {
	path, err := d.federatedPath(ctx, appID)
	if err != nil {
		return err
	}
	err = d.do(ctx, http.MethodDelete, path+"/"+url.PathEscape(credID), nil, nil)
	if errors.Is(err, errDirectoryNotFound) {
		return fmt.Errorf("Federated identity credential '%s' doesn't exist", credID)
	}
	return err
}
