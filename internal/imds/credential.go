package imds

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CredentialFile is what a machine's agent needs to reach berth: the
// machine credential handed out by generateMachineCredential (the same
// JSON fields), the server's address, and berth's CA to trust it. It
// holds a private key, so it is written readable by its owner only.
type CredentialFile struct {
	ResourceID     string `json:"resourceId"`
	VMID           string `json:"vmId"`
	Name           string `json:"name"`
	ResourceGroup  string `json:"resourceGroup"`
	SubscriptionID string `json:"subscriptionId"`
	TenantID       string `json:"tenantId"`
	Location       string `json:"location"`
	KeyID          string `json:"keyId"`
	PrivateKey     string `json:"privateKey"` // PEM, PKCS #8, ECDSA P-256
	// Server is berth's base URL, e.g. https://127.0.0.1:8443.
	Server string `json:"server"`
	// CA is the PEM of berth's certificate authority.
	CA string `json:"ca"`
}

// LoadCredentialFile reads and checks a credential file.
func LoadCredentialFile(path string) (*CredentialFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c CredentialFile
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("credential file %s: %w", path, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("credential file %s: %w", path, err)
	}
	return &c, nil
}

// Save writes the file with mode 0600, replacing any file at path only
// once the new content is complete.
func (c *CredentialFile) Save(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credential-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (c *CredentialFile) check() error {
	switch {
	case c.ResourceID == "":
		return errors.New("no resourceId")
	case c.TenantID == "":
		return errors.New("no tenantId")
	case c.KeyID == "":
		return errors.New("no keyId")
	case c.Server == "":
		return errors.New("no server")
	}
	_, err := c.Key()
	return err
}

// Key parses the machine's private key.
func (c *CredentialFile) Key() (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(c.PrivateKey))
	if block == nil {
		return nil, errors.New("privateKey is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("privateKey: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve.Params().Name != "P-256" {
		return nil, errors.New("privateKey is not an ECDSA P-256 key")
	}
	return ec, nil
}
