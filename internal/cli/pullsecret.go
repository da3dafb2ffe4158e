package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
)

// PullSecretOptions are berth acr pull-secret's options.
type PullSecretOptions struct {
	Name, Namespace, Server, Username, Password, Email string
}

type dockerAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Email    string `json:"email,omitempty"`
	Auth     string `json:"auth"`
}

// secretJSON is a Secret in the field order kubectl prints.
type secretJSON struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Metadata   secretMetadata    `json:"metadata"`
	Data       map[string]string `json:"data"`
	Type       string            `json:"type"`
}

type secretMetadata struct {
	Name              string  `json:"name"`
	Namespace         string  `json:"namespace,omitempty"`
	CreationTimestamp *string `json:"creationTimestamp"`
}

// dnsSubdomain is what Kubernetes accepts as a Secret's or namespace's
// name; it also keeps the hand-written YAML below free of quoting.
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// WritePullSecret prints an image pull secret (kubernetes.io/dockerconfigjson)
// as kubectl create secret docker-registry --dry-run=client prints it, in
// YAML, or in JSON when asJSON is set.
func WritePullSecret(w io.Writer, o PullSecretOptions, asJSON bool) error {
	for _, n := range []string{o.Name, o.Namespace} {
		if n != "" && (len(n) > 253 || !dnsSubdomain.MatchString(n)) {
			return fmt.Errorf("%q is not a valid Kubernetes name (lower case letters, digits, '-' and '.')", n)
		}
	}
	if o.Name == "" || o.Server == "" || o.Username == "" || o.Password == "" {
		return fmt.Errorf("a pull secret needs a name, a server, a user name and a password")
	}
	cfg, err := json.Marshal(map[string]any{"auths": map[string]dockerAuth{o.Server: {
		Username: o.Username, Password: o.Password, Email: o.Email,
		Auth: base64.StdEncoding.EncodeToString([]byte(o.Username + ":" + o.Password)),
	}}})
	if err != nil {
		return err
	}
	data := base64.StdEncoding.EncodeToString(cfg)
	const typ = "kubernetes.io/dockerconfigjson"
	if asJSON {
		b, err := json.MarshalIndent(secretJSON{Kind: "Secret", APIVersion: "v1", Metadata: secretMetadata{Name: o.Name, Namespace: o.Namespace},
			Data: map[string]string{".dockerconfigjson": data}, Type: typ}, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	ns := ""
	if o.Namespace != "" {
		ns = "  namespace: " + o.Namespace + "\n"
	}
	_, err = fmt.Fprintf(w, "apiVersion: v1\ndata:\n  .dockerconfigjson: %s\nkind: Secret\nmetadata:\n  creationTimestamp: null\n  name: %s\n%stype: %s\n", data, o.Name, ns, typ)
	return err
}
