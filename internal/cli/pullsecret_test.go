package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestPullSecret decodes the printed manifest as Kubernetes does, into a
// core/v1 Secret, in both output forms.
func TestPullSecret(t *testing.T) {
	o := PullSecretOptions{Name: "acr-auth", Namespace: "apps", Server: "reg1.cr.localhost:8443", Username: "app", Password: "p:w", Email: "a@b.example"}
	for _, asJSON := range []bool{false, true} {
		var buf bytes.Buffer
		if err := WritePullSecret(&buf, o, asJSON); err != nil {
			t.Fatal(err)
		}
		var s corev1.Secret
		var err error
		if asJSON {
			err = json.Unmarshal(buf.Bytes(), &s)
		} else {
			err = yaml.UnmarshalStrict(buf.Bytes(), &s)
		}
		if err != nil {
			t.Fatalf("decode (json %v): %v\n%s", asJSON, err, buf.String())
		}
		if s.APIVersion != "v1" || s.Kind != "Secret" || s.Name != "acr-auth" || s.Namespace != "apps" || s.Type != corev1.SecretTypeDockerConfigJson ||
			!s.CreationTimestamp.IsZero() || len(s.Data) != 1 {
			t.Fatalf("secret (json %v): %+v", asJSON, s)
		}
		var cfg struct {
			Auths map[string]map[string]string `json:"auths"`
		}
		if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
			t.Fatal(err)
		}
		a := cfg.Auths[o.Server]
		if len(cfg.Auths) != 1 || a["username"] != "app" || a["password"] != "p:w" || a["email"] != "a@b.example" ||
			a["auth"] != base64.StdEncoding.EncodeToString([]byte("app:p:w")) {
			t.Fatalf("dockerconfigjson %+v", cfg)
		}
	}

	// kubectl's exact form: no namespace or email when not given.
	var buf bytes.Buffer
	o.Namespace, o.Email = "", ""
	if err := WritePullSecret(&buf, o, false); err != nil {
		t.Fatal(err)
	}
	cfg := base64.StdEncoding.EncodeToString([]byte(`{"auths":{"reg1.cr.localhost:8443":{"username":"app","password":"p:w","auth":"YXBwOnA6dw=="}}}`))
	want := "apiVersion: v1\ndata:\n  .dockerconfigjson: " + cfg + "\nkind: Secret\nmetadata:\n  creationTimestamp: null\n  name: acr-auth\ntype: kubernetes.io/dockerconfigjson\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}

	for _, bad := range []PullSecretOptions{
		{Name: "Upper", Server: "s", Username: "u", Password: "p"},
		{Name: "ok", Namespace: "a b", Server: "s", Username: "u", Password: "p"},
		{Name: "x\nkind: Pod", Server: "s", Username: "u", Password: "p"},
		{Name: "ok", Server: "s", Username: "u"},
	} {
		if err := WritePullSecret(&buf, bad, false); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
