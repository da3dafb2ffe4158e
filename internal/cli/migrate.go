package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/berthhq/berth/internal/podidentity"
	"github.com/berthhq/berth/internal/wiwebhook"
)

var (
	serviceAccountsGVR = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	deploymentsGVR     = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// PodIdentityMigration is berth aks pod-identity migrate's options: the
// cluster's pod identities of Namespace (all if empty), printed as their
// workload identity equivalent, or made (Apply).
type PodIdentityMigration struct {
	PodIdentityCluster
	Namespace string
	Apply     bool
}

// migration is what moving a cluster's pod identities to workload
// identity takes, as the cloud's migration guide has it: for each
// service account that labelled pods run as, a federated identity
// credential on each identity bound to them (the service account's
// tokens, from the cluster's issuer, for the token exchange's audience),
// the service account's client-id annotation, and the webhook's label on
// the pods.
type migration struct {
	cluster, group, issuer string
	credentials            []migrationCredential
	objects                []*unstructured.Unstructured
	// recreate are pods no controller of the migration's recreates: the
	// webhook changes pods only when they are created.
	recreate []string
	// podIdentities are the cluster's pod identities, to delete once the
	// workloads run with workload identity.
	podIdentities []string
	notes         []string
}

type migrationCredential struct {
	identityID, name, subject string
	// exists: the identity trusts the subject already.
	exists bool
}

// workload is a labelled pod or pod template.
type workload struct {
	kind, namespace, name, serviceAccount, selector string
}

// MigratePodIdentity reads the cluster's pod identities (AzureIdentity,
// AzureIdentityBinding, and the pods and deployments labelled
// aadpodidbinding) and writes their workload identity equivalent to w,
// as a plan in comments and the Kubernetes objects as YAML that kubectl
// apply takes; with Apply it makes them first. Nothing is made when the
// plan cannot work: a service account bound to two identities, a
// cluster without an issuer.
func (m *Management) MigratePodIdentity(ctx context.Context, o PodIdentityMigration, w io.Writer) error {
	k, err := OpenKube(o.Kubeconfig)
	if err != nil {
		return err
	}
	_, d, err := m.clusterDoc(ctx, o.Group, o.Name)
	if err != nil {
		return err
	}
	mg := &migration{cluster: o.Name, group: o.Group}
	switch ip := d.Properties.OIDCIssuerProfile; {
	case ip != nil && ip.APIServerIssuer != nil && ip.APIServerIssuer.URL != "":
		mg.issuer = ip.APIServerIssuer.URL
	case ip != nil && ip.Enabled && ip.IssuerURL != "":
		mg.issuer = ip.IssuerURL
	default:
		return fmt.Errorf("the cluster %s has no OIDC issuer, which workload identity needs: run 'berth aks update -g %s -n %s --enable-oidc-issuer --enable-workload-identity'", o.Name, o.Group, o.Name)
	}
	if sp := d.Properties.SecurityProfile; sp == nil || sp.WorkloadIdentity == nil || !sp.WorkloadIdentity.Enabled {
		mg.notes = append(mg.notes, fmt.Sprintf("Workload identity is not enabled on the cluster: berth aks update -g %s -n %s --enable-workload-identity", o.Group, o.Name))
	}
	if err := mg.read(ctx, k, o.Namespace); err != nil {
		return err
	}
	if err := mg.checkCredentials(ctx, m); err != nil {
		return err
	}
	if o.Apply {
		if err := mg.apply(ctx, m, k); err != nil {
			return err
		}
	}
	return mg.write(w, o.Apply)
}

func (mg *migration) read(ctx context.Context, k *Kube, namespace string) error {
	identities, err := k.dyn.Resource(identitiesGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("reading the cluster's AzureIdentities: %w", err)
	}
	bindings, err := k.dyn.Resource(bindingsGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("reading the cluster's AzureIdentityBindings: %w", err)
	}
	pods, err := k.core.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: podidentity.BindingLabel})
	if err != nil {
		return fmt.Errorf("reading the cluster's pods: %w", err)
	}
	deployments, err := k.core.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("reading the cluster's deployments: %w", err)
	}

	byName := map[string]podidentity.AzureIdentity{}
	for _, u := range identities.Items {
		var id podidentity.AzureIdentity
		if err := fromUnstructured(u, &id); err != nil {
			return err
		}
		byName[id.Namespace+"/"+id.Name] = id
	}
	// As the controller matches them by default: a binding's selector
	// against the label of pods of every namespace.
	bySelector := map[string][]podidentity.AzureIdentity{}
	for _, u := range bindings.Items {
		var b podidentity.AzureIdentityBinding
		if err := fromUnstructured(u, &b); err != nil {
			return err
		}
		mg.podIdentities = append(mg.podIdentities, b.Namespace+"/"+b.Spec.AzureIdentity)
		id, ok := byName[b.Namespace+"/"+b.Spec.AzureIdentity]
		if !ok {
			mg.notes = append(mg.notes, fmt.Sprintf("The binding %s/%s names the AzureIdentity %s, which does not exist.", b.Namespace, b.Name, b.Spec.AzureIdentity))
			continue
		}
		if id.Spec.Type != podidentity.UserAssignedIdentity {
			mg.notes = append(mg.notes, fmt.Sprintf("The AzureIdentity %s/%s is a service principal (type %d): give its application a federated credential "+
				"(berth ad app federated-credential create) and its client id to the service account yourself.", id.Namespace, id.Name, id.Spec.Type))
			continue
		}
		bySelector[b.Spec.Selector] = append(bySelector[b.Spec.Selector], id)
	}
	slices.Sort(mg.podIdentities)
	mg.podIdentities = slices.Compact(mg.podIdentities)

	var workloads []workload
	for _, p := range pods.Items {
		wl := workload{"Pod", p.Namespace, p.Name, p.Spec.ServiceAccountName, p.Labels[podidentity.BindingLabel]}
		switch owner := metav1.GetControllerOf(&p); {
		case owner == nil:
			mg.recreate = append(mg.recreate, p.Namespace+"/"+p.Name)
		case owner.Kind == "ReplicaSet":
			// Its deployment's template is changed below.
			continue
		default:
			mg.notes = append(mg.notes, fmt.Sprintf("The pod %s/%s is %s %s's: label its pod template %s: \"true\" yourself.",
				p.Namespace, p.Name, owner.Kind, owner.Name, wiwebhook.UseLabel))
		}
		workloads = append(workloads, wl)
	}
	for _, dp := range deployments.Items {
		if sel := dp.Spec.Template.Labels[podidentity.BindingLabel]; sel != "" {
			workloads = append(workloads, workload{"Deployment", dp.Namespace, dp.Name, dp.Spec.Template.Spec.ServiceAccountName, sel})
		}
	}

	// One client id per service account: the webhook gives its pods one.
	clientIDs := map[string]map[string]bool{}
	seen := map[string]bool{}
	for _, wl := range workloads {
		if wl.serviceAccount == "" {
			wl.serviceAccount = "default"
		}
		ids := bySelector[wl.selector]
		if len(ids) == 0 {
			mg.notes = append(mg.notes, fmt.Sprintf("The %s %s/%s is labelled %s=%s, which no binding selects.", strings.ToLower(wl.kind), wl.namespace, wl.name, podidentity.BindingLabel, wl.selector))
			continue
		}
		sa := wl.namespace + "/" + wl.serviceAccount
		if clientIDs[sa] == nil {
			clientIDs[sa] = map[string]bool{}
		}
		for _, id := range ids {
			clientIDs[sa][id.Spec.ClientID] = true
			subject := "system:serviceaccount:" + wl.namespace + ":" + wl.serviceAccount
			if key := strings.ToLower(id.Spec.ResourceID) + " " + subject; !seen[key] {
				seen[key] = true
				mg.credentials = append(mg.credentials, migrationCredential{identityID: id.Spec.ResourceID,
					name: credentialName(wl.namespace, wl.serviceAccount), subject: subject})
			}
		}
		if wl.kind == "Deployment" {
			u := partial("apps/v1", "Deployment", wl.namespace, wl.name)
			if err := unstructured.SetNestedStringMap(u.Object, map[string]string{wiwebhook.UseLabel: "true"}, "spec", "template", "metadata", "labels"); err != nil {
				return err
			}
			mg.objects = append(mg.objects, u)
		}
	}
	var conflicts []string
	for _, sa := range slices.Sorted(maps.Keys(clientIDs)) {
		ids := slices.Sorted(maps.Keys(clientIDs[sa]))
		if len(ids) > 1 {
			conflicts = append(conflicts, fmt.Sprintf("%s (client ids %s)", sa, strings.Join(ids, ", ")))
			continue
		}
		ns, name, _ := strings.Cut(sa, "/")
		u := partial("v1", "ServiceAccount", ns, name)
		u.SetAnnotations(map[string]string{wiwebhook.ClientIDAnnotation: ids[0]})
		mg.objects = append(mg.objects, u)
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("workload identity gives a service account's pods one identity, and these service accounts run pods bound to several: %s. "+
			"Run those workloads as service accounts of their own, then migrate", strings.Join(conflicts, "; "))
	}
	// Service accounts first: a deployment's new pods read theirs.
	slices.SortStableFunc(mg.objects, func(a, b *unstructured.Unstructured) int {
		if c := strings.Compare(b.GetKind(), a.GetKind()); c != 0 {
			return c
		}
		return strings.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName())
	})
	return nil
}

func fromUnstructured(u unstructured.Unstructured, v any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, v); err != nil {
		return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// partial is an object that states only what the migration sets; kubectl
// apply and server-side apply keep the rest of the existing object.
func partial(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

// credentialName names a service account's federated credential: 3 to
// 120 letters, digits, '-' and '_'; a service account's name may have
// dots.
func credentialName(namespace, serviceAccount string) string {
	n := strings.ReplaceAll(namespace+"-"+serviceAccount, ".", "-")
	return n[:min(len(n), 120)]
}

// checkCredentials finds the credentials the identities have already:
// one trusting the subject is kept; another of the name is a conflict
// the migration does not resolve.
func (mg *migration) checkCredentials(ctx context.Context, m *Management) error {
	have := map[string][]Object{}
	for i := range mg.credentials {
		c := &mg.credentials[i]
		id := strings.ToLower(c.identityID)
		if _, ok := have[id]; !ok {
			list, err := flattenAll(m.list(ctx, c.identityID+"/federatedIdentityCredentials", identityFederatedAPI, nil))
			if err != nil {
				return fmt.Errorf("the federated credentials of %s: %w", c.identityID, err)
			}
			have[id] = list
		}
		for _, fc := range have[id] {
			switch {
			case fc.str("issuer") == mg.issuer && fc.str("subject") == c.subject:
				c.exists, c.name = true, fc.str("name")
			case strings.EqualFold(fc.str("name"), c.name):
				return fmt.Errorf("the identity %s has a federated credential %s for another issuer or subject (%s, %s): rename or delete it, then migrate",
					c.identityID, c.name, fc.str("issuer"), fc.str("subject"))
			}
		}
	}
	return nil
}

func (mg *migration) apply(ctx context.Context, m *Management, k *Kube) error {
	for i := range mg.credentials {
		c := &mg.credentials[i]
		if c.exists {
			continue
		}
		if _, err := m.CreateIdentityFederatedCredential(ctx, IdentityFederatedCredential{IdentityID: c.identityID, Name: c.name,
			Issuer: mg.issuer, Subject: c.subject}); err != nil {
			return fmt.Errorf("the federated credential %s of %s: %w", c.name, c.identityID, err)
		}
		c.exists = true
	}
	for _, u := range mg.objects {
		gvr := serviceAccountsGVR
		if u.GetKind() == "Deployment" {
			gvr = deploymentsGVR
		}
		if err := k.apply(ctx, gvr, u); err != nil {
			return fmt.Errorf("the identities trust the service accounts now, but the cluster's objects are not all written: %w. Run the migration again to finish", err)
		}
	}
	return nil
}

// write prints the plan as YAML comments, then the objects: the whole is
// a YAML stream kubectl apply -f - takes.
func (mg *migration) write(w io.Writer, applied bool) error {
	var b strings.Builder
	line := func(format string, a ...any) {
		b.WriteString(strings.TrimSpace("# "+fmt.Sprintf(format, a...)) + "\n")
	}
	if applied {
		line("The pod identities of the cluster %s, moved to workload identity (issuer %s):", mg.cluster, mg.issuer)
	} else {
		line("Moving the pod identities of the cluster %s to workload identity (issuer %s).", mg.cluster, mg.issuer)
		line("Nothing is changed yet: run with --apply to make it so, or do it yourself:")
	}
	line("")
	line("1. Federated identity credentials: each identity trusts the tokens of the service accounts its pods run as.")
	if len(mg.credentials) == 0 {
		line("   (none: no labelled pod or deployment runs with a user-assigned identity)")
	}
	for _, c := range mg.credentials {
		if c.exists {
			line("   %s trusts %s (credential %s).", c.identityID, c.subject, c.name)
			continue
		}
		line("   berth identity federated-credential create -g %s --identity-name %s --name %s --issuer %s --subject %s",
			ResourceGroupOf(c.identityID), c.identityID[strings.LastIndex(c.identityID, "/")+1:], c.name, mg.issuer, c.subject)
	}
	line("2. The objects below (kubectl apply -f -): each service account names its identity's client id, and each deployment's")
	line("   pods carry %s: \"true\", which the workload identity webhook acts on; the changed template rolls the deployment out.", wiwebhook.UseLabel)
	if len(mg.recreate) > 0 {
		line("3. Recreate these pods with the label %s: \"true\" (the webhook changes pods only when they are created):", wiwebhook.UseLabel)
		for _, p := range mg.recreate {
			line("   %s", p)
		}
	}
	if len(mg.podIdentities) > 0 {
		line("Once the workloads get their tokens, remove the pod identities:")
		for _, pi := range mg.podIdentities {
			ns, name, _ := strings.Cut(pi, "/")
			line("   berth aks pod-identity delete -g %s --cluster-name %s --namespace %s --name %s", mg.group, mg.cluster, ns, name)
		}
	}
	for _, n := range mg.notes {
		line("Note: %s", n)
	}
	for _, u := range mg.objects {
		y, err := yaml.Marshal(u.Object)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
