// Command kubelet-credential-driver asks the kubelet's own credential
// provider code for the credentials it would pull an image with, so that
// berth's tests check berth credential-provider against the kubelet
// rather than against requests written by hand:
//
//	kubelet-credential-driver --config FILE --bin-dir DIR [--kubeconfig FILE --pod NAMESPACE/NAME] IMAGE
//
// It registers the providers of the CredentialProviderConfig FILE with
// the kubelet's RegisterCredentialProviderPlugins, as the kubelet does
// with --image-credential-provider-config and
// --image-credential-provider-bin-dir, and looks IMAGE up in the keyring
// the kubelet builds for a pull. With --pod it pulls for that pod, as
// the kubelet would on the pod's node: the pod's service account and its
// annotations are read from the API server of --kubeconfig, and a
// service account token bound to the pod is requested through the
// kubelet's token manager, for providers configured with tokenAttributes.
//
// It prints the credentials found, in the keyring's order, as a JSON
// array of {"username", "password", "serviceAccount"} (the last the
// NAMESPACE/NAME a provider used in service account mode, else empty);
// [] when there are none. A provider that fails is, as in the kubelet,
// logged on stderr and contributes nothing. The kubelet's keyring keeps
// what providers answered for their cache durations, which live only as
// long as this process, one lookup.
//
// scripts/kubelet-credential-driver.sh builds it against the release of
// k8s.io/kubernetes the other tests use.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubernetes/pkg/credentialprovider/plugin"
	"k8s.io/kubernetes/pkg/kubelet/token"
	"k8s.io/kubernetes/pkg/util/parsers"
)

type credential struct {
	Username       string `json:"username"`
	Password       string `json:"password"`
	ServiceAccount string `json:"serviceAccount"`
}

func main() {
	config := flag.String("config", "", "the kubelet's CredentialProviderConfig file")
	binDir := flag.String("bin-dir", "", "the directory of the providers' executables")
	kubeconfig := flag.String("kubeconfig", "", "the kubelet's kubeconfig (with --pod)")
	pod := flag.String("pod", "", "NAMESPACE/NAME of the pod the image is pulled for")
	flag.Parse()
	if *config == "" || *binDir == "" || flag.NArg() != 1 || (*pod == "") != (*kubeconfig == "") {
		fmt.Fprintln(os.Stderr, "usage: kubelet-credential-driver --config FILE --bin-dir DIR [--kubeconfig FILE --pod NAMESPACE/NAME] IMAGE")
		os.Exit(2)
	}
	creds, err := lookup(*config, *binDir, *kubeconfig, *pod, flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-credential-driver:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(creds)
}

func lookup(config, binDir, kubeconfig, pod, image string) ([]credential, error) {
	// Without a kubeconfig, a standalone kubelet: its token manager and
	// service account lookup fail.
	var client kubernetes.Interface
	if kubeconfig != "" {
		rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, err
		}
		if client, err = kubernetes.NewForConfig(rc); err != nil {
			return nil, err
		}
	}
	getServiceAccount := func(namespace, name string) (*corev1.ServiceAccount, error) {
		if client == nil {
			return nil, fmt.Errorf("cannot get ServiceAccounts without an API server")
		}
		return client.CoreV1().ServiceAccounts(namespace).Get(context.Background(), name, metav1.GetOptions{})
	}
	if err := plugin.RegisterCredentialProviderPlugins(config, binDir, token.NewManager(client).GetServiceAccountToken, getServiceAccount); err != nil {
		return nil, err
	}

	// What the kubelet's image manager hands the keyring: the pod's
	// coordinates, as its sandbox carries them, and its service account.
	var namespace, name, uid, serviceAccount string
	if pod != "" {
		var ok bool
		if namespace, name, ok = strings.Cut(pod, "/"); !ok {
			return nil, fmt.Errorf("--pod %q is not NAMESPACE/NAME", pod)
		}
		p, err := client.CoreV1().Pods(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		uid, serviceAccount = string(p.UID), p.Spec.ServiceAccountName
	}
	repo, _, _, err := parsers.ParseImageName(image)
	if err != nil {
		return nil, err
	}
	found, _ := plugin.NewExternalCredentialProviderDockerKeyring(namespace, name, uid, serviceAccount).Lookup(repo)
	creds := []credential{}
	for _, c := range found {
		out := credential{Username: c.Username, Password: c.Password}
		if c.Source != nil && c.Source.ServiceAccount != nil {
			out.ServiceAccount = c.Source.ServiceAccount.Namespace + "/" + c.Source.ServiceAccount.Name
		}
		creds = append(creds, out)
	}
	return creds, nil
}
