package kubetest

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceAccountToken asks the TokenRequest API for a token of the
// service account namespace/name, making the account if it is missing, as
// the kubelet asks for a pod's projected token: for audiences (none: the
// server's defaults), valid for expiry (0: the server's default).
func (c *Cluster) ServiceAccountToken(tb testing.TB, namespace, name string, expiry time.Duration, audiences ...string) string {
	tb.Helper()
	ctx := context.Background()
	accounts := c.Client.CoreV1().ServiceAccounts(namespace)
	_, err := accounts.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatal(err)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences}}
	if expiry > 0 {
		seconds := int64(expiry / time.Second)
		req.Spec.ExpirationSeconds = &seconds
	}
	tr, err := accounts.CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return tr.Status.Token
}
