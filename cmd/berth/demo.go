package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/imds"
)

// The seed's pod identity demo, for a pod's network namespace.
var demoCommands = []command{
	{
		words:   "demo",
		summary: "Programs the documents run to show a feature working.",
	},
	{
		words:   "demo pod-identity",
		summary: "Do what pod-managed identity's demo image does, and log the same lines.",
		more: "In a pod bound to an identity (label aadpodidbinding), every --period: list the virtual machines of the resource " +
			"group with a management token from the metadata endpoint, get a token without naming an identity and one with " +
			"--clientid, and read the instance metadata. It takes the demo image's flags, so the documents' pod manifest " +
			"works with berth as the command. Failures are logged and retried; with --once the first failure is the exit status.",
		local: true,
		examples: []example{
			{"In the pod, as the documents' demo.yaml runs the image.",
				"berth demo pod-identity --subscriptionid=$SUBSCRIPTION_ID --clientid=$IDENTITY_CLIENT_ID --resourcegroup=$IDENTITY_RESOURCE_GROUP " +
					"--management-endpoint https://berth.example:8443 --ca-file ca.crt"},
		},
		flags: func(f *flagSet) runFunc {
			var d podIdentityDemo
			f.StringVar(&d.subscription, "subscriptionid", "The subscription of the resource group.", required)
			f.StringVar(&d.clientID, "clientid", "The client id of the identity bound to the pod.", required)
			f.StringVar(&d.resourceGroup, "resourcegroup", "The resource group whose virtual machines are listed.", required)
			d.management = "https://management.azure.com"
			f.StringVar(&d.management, "management-endpoint", "The management API's address: berth's, or the public cloud's name with berth serve --cloud-hostnames.")
			caFile := f.String("ca-file", "PEM certificates the management API's certificate chains to (default: the system's).")
			d.metadata = "http://169.254.169.254"
			f.StringVar(&d.metadata, "metadata-endpoint", "The instance metadata endpoint.")
			period := 30 * time.Second
			f.DurationVar(&period, "period", "Time between rounds.")
			once := f.Bool("once", "Do one round and exit, non-zero if a step failed.")
			return func(c *call) (any, error) {
				client, err := demoClient(*caFile)
				if err != nil {
					return nil, err
				}
				d.http = client
				d.log = log.New(c.stdout, "", log.LstdFlags)
				for {
					err := d.round(c.ctx)
					if *once {
						return nil, err
					}
					select {
					case <-c.ctx.Done():
						return nil, nil
					case <-time.After(period):
					}
				}
			}
		},
	},
}

func demoClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: 30 * time.Second}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots}
	return &http.Client{Timeout: 30 * time.Second, Transport: transport}, nil
}

type podIdentityDemo struct {
	subscription, clientID, resourceGroup string
	management, metadata                  string
	http                                  *http.Client
	log                                   *log.Logger
}

// round does the demo's four steps in its order, each logged as the
// demo image logs it, and returns the first failure.
func (d *podIdentityDemo) round(ctx context.Context) error {
	var first error
	step := func(err error, failed string) {
		if err != nil {
			d.log.Printf("%s: %v", failed, err)
			first = cmp.Or(first, err)
		}
	}
	msi := d.metadata + imds.TokenPath
	count, err := d.listVMs(ctx)
	if err == nil {
		d.log.Printf("successfully doARMOperations vm count %d", count)
	}
	step(err, "failed doARMOperations")
	if _, err = d.token(ctx, ""); err == nil {
		d.log.Printf("successfully acquired a token using the MSI, msiEndpoint(%s)", msi)
	}
	step(err, "failed to acquire a token using the MSI, msiEndpoint("+msi+")")
	if _, err = d.token(ctx, d.clientID); err == nil {
		d.log.Printf("successfully acquired a token, userAssignedID MSI, msiEndpoint(%s) clientID(%s)", msi, d.clientID)
	}
	step(err, "failed to acquire a token, userAssignedID MSI, msiEndpoint("+msi+") clientID("+d.clientID+")")
	if err = d.instanceMetadata(ctx); err == nil {
		d.log.Printf("successfully made GET on instance metadata")
	}
	step(err, "failed to make GET on instance metadata")
	return first
}

// token gets a management token from the metadata endpoint, for the
// pod's only identity when clientID is empty.
func (d *podIdentityDemo) token(ctx context.Context, clientID string) (string, error) {
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {"https://management.azure.com/"}}
	if clientID != "" {
		q.Set("client_id", clientID)
	}
	var answer struct {
		AccessToken string `json:"access_token"`
	}
	if err := d.get(ctx, d.metadata+imds.TokenPath+"?"+q.Encode(), http.Header{"Metadata": {"true"}}, &answer); err != nil {
		return "", err
	}
	if answer.AccessToken == "" {
		return "", errors.New("the answer has no access_token")
	}
	return answer.AccessToken, nil
}

func (d *podIdentityDemo) listVMs(ctx context.Context) (int, error) {
	token, err := d.token(ctx, d.clientID)
	if err != nil {
		return 0, err
	}
	var list struct {
		Value []json.RawMessage `json:"value"`
	}
	target := strings.TrimSuffix(d.management, "/") + "/subscriptions/" + url.PathEscape(d.subscription) +
		"/resourceGroups/" + url.PathEscape(d.resourceGroup) + "/providers/Microsoft.Compute/virtualMachines?api-version=2022-08-01"
	if err := d.get(ctx, target, http.Header{"Authorization": {"Bearer " + token}}, &list); err != nil {
		return 0, err
	}
	return len(list.Value), nil
}

func (d *podIdentityDemo) instanceMetadata(ctx context.Context) error {
	var instance map[string]any
	return d.get(ctx, d.metadata+imds.InstancePath+"?api-version=2017-08-01", http.Header{"Metadata": {"true"}}, &instance)
}

// get decodes a 200's JSON body into v; any other status is an error
// carrying the body, which is the service's error in its own format.
func (d *podIdentityDemo) get(ctx context.Context, target string, header http.Header, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	req.Header = header
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", req.URL.Redacted(), resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}
