package controlplane

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/template"
)

// A template deployment evaluates a template (package template) and makes
// each resource through the same calls a client would make, as the
// caller: deploying needs write on every resource the template states,
// so a template grants nothing its deployer could not do by hand.
//
// Before anything is made the whole template is evaluated as far as it
// can be without deployed resources, each resource's type is checked to
// be one berth serves, and the caller's right to write each is checked:
// a failure there is the request's error and changes nothing. Past that
// point a deployment has the cloud's partial semantics: resources deploy
// one at a time in dependency order, the first failure stops the
// deployment, which ends Failed with the error in its details, and what
// was made before stays (deploying the template again makes the rest).
//
// A deployment is kept as a resource record of type
// Microsoft.Resources/deployments in its group: its properties and its
// operations (one per resource), never its template, nor the values of
// secure parameters. It goes with its group; deleting it deletes only the
// record, as in the cloud.

// Actions on deployments.
const (
	actionDeploymentRead     = resourcetype.Deployment + "/read"
	actionDeploymentWrite    = resourcetype.Deployment + "/write"
	actionDeploymentDelete   = resourcetype.Deployment + "/delete"
	actionDeploymentValidate = resourcetype.Deployment + "/validate/action"
	actionDeploymentWhatIf   = resourcetype.Deployment + "/whatIf/action"
)

// DeploymentInput is the body of a deployment PUT or validate.
type DeploymentInput struct {
	// Template is the template, in JSON or the relaxed JSON the cloud's
	// CLI sends.
	Template json.RawMessage
	// TemplateLink says the request named a template by URL, which
	// berth does not fetch.
	TemplateLink bool
	// Parameters are {"name": {"value": ...}}.
	Parameters map[string]json.RawMessage
	Mode       string
	// IssuerBase is the address the client reached berth at (see
	// ResourceInput).
	IssuerBase string
}

// Deployment is a deployment as the management API shows it.
type Deployment struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Properties DeploymentProperties `json:"properties"`
}

// DeploymentProperties are a deployment's properties, in the cloud's
// shape.
type DeploymentProperties struct {
	TemplateHash       string                     `json:"templateHash"`
	Parameters         map[string]DeploymentValue `json:"parameters"`
	Mode               string                     `json:"mode"`
	ProvisioningState  string                     `json:"provisioningState"`
	Timestamp          time.Time                  `json:"timestamp"`
	Duration           string                     `json:"duration"`
	CorrelationID      string                     `json:"correlationId"`
	Providers          []any                      `json:"providers"`
	Dependencies       []DeploymentDependency     `json:"dependencies"`
	Outputs            map[string]DeploymentValue `json:"outputs,omitempty"`
	OutputResources    []ResourceRef              `json:"outputResources,omitempty"`
	ValidatedResources []ResourceRef              `json:"validatedResources,omitempty"`
	Error              *ErrorJSON                 `json:"error,omitempty"`
}

// DeploymentValue is a parameter's or output's type and value; a secure
// one's value is never shown.
type DeploymentValue struct {
	Type  string `json:"type"`
	Value any    `json:"value,omitempty"`
}

// ResourceRef names a resource.
type ResourceRef struct {
	ID string `json:"id"`
}

// DeploymentDependency is what one resource waited for.
type DeploymentDependency struct {
	ID           string      `json:"id"`
	ResourceType string      `json:"resourceType"`
	ResourceName string      `json:"resourceName"`
	DependsOn    []Dependent `json:"dependsOn"`
}

// Dependent is one resource waited for.
type Dependent struct {
	ID           string `json:"id"`
	ResourceType string `json:"resourceType"`
	ResourceName string `json:"resourceName"`
}

// ErrorJSON is an error in the cloud's shape, with its inner errors.
type ErrorJSON struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Details []*ErrorJSON `json:"details,omitempty"`
}

// ErrorOut is e in the cloud's shape.
func ErrorOut(e *Error) *ErrorJSON {
	out := &ErrorJSON{Code: e.Code, Message: e.Message}
	for _, d := range e.Details {
		out.Details = append(out.Details, ErrorOut(d))
	}
	return out
}

// DeploymentOperation is what a deployment did to one resource.
type DeploymentOperation struct {
	ID          string                        `json:"id"`
	OperationID string                        `json:"operationId"`
	Properties  DeploymentOperationProperties `json:"properties"`
}

// DeploymentOperationProperties are an operation's properties, in the
// cloud's shape.
type DeploymentOperationProperties struct {
	ProvisioningOperation string    `json:"provisioningOperation"`
	ProvisioningState     string    `json:"provisioningState"`
	Timestamp             time.Time `json:"timestamp"`
	Duration              string    `json:"duration"`
	TrackingID            string    `json:"trackingId"`
	StatusCode            string    `json:"statusCode"`
	StatusMessage         any       `json:"statusMessage,omitempty"`
	TargetResource        Dependent `json:"targetResource"`
}

// storedDeployment is a deployment record's properties.
type storedDeployment struct {
	Properties DeploymentProperties  `json:"properties"`
	Operations []DeploymentOperation `json:"operations"`
}

var deploymentName = regexp.MustCompile(`^[-\w.()]{1,64}$`)

func deploymentID(sub, group, name string) resourceid.ID {
	return resourceid.Resource(sub, group, resourcetype.Deployment, name)
}

// deploymentScope checks the subscription, the name, the caller's right
// and the group, and returns the group.
func (s *Service) deploymentScope(ctx context.Context, c Caller, id resourceid.ID, action string) (store.Subscription, store.ResourceGroup, error) {
	if !deploymentName.MatchString(id.Name()) {
		return store.Subscription{}, store.ResourceGroup{}, fail(ErrBadRequest, "InvalidDeploymentName",
			"The deployment name '%s' is invalid. It can be up to 64 characters long and may contain letters, digits, underscores, hyphens, periods and parentheses.", id.Name())
	}
	sub, err := s.subscription(ctx, c, id.Subscription)
	if err != nil {
		return sub, store.ResourceGroup{}, err
	}
	if err := s.authorize(ctx, c, id.String(), action); err != nil {
		return sub, store.ResourceGroup{}, err
	}
	g, err := s.Store.GetResourceGroup(ctx, id.Subscription, id.ResourceGroup)
	if errors.Is(err, store.ErrNotFound) {
		return sub, g, groupNotFound(id.ResourceGroup)
	}
	return sub, g, err
}

// prepared is a deployment evaluated and checked, ready to run.
type prepared struct {
	plan  *template.Plan
	props DeploymentProperties
}

// prepare evaluates a template for a deployment and checks that berth
// serves each of its resources' types and that the caller may write
// each.
func (s *Service) prepare(ctx context.Context, c Caller, sub store.Subscription, g store.ResourceGroup, id resourceid.ID, in DeploymentInput) (*prepared, error) {
	if in.TemplateLink {
		return nil, fail(ErrBadRequest, "InvalidTemplate", "Deployment template validation failed: 'berth does not fetch templates by link: send the template in the request'.")
	}
	if len(in.Template) == 0 || string(in.Template) == "null" {
		return nil, fail(ErrBadRequest, "InvalidRequestContent", "The request content has neither a template nor a template link.")
	}
	switch strings.ToLower(in.Mode) {
	case "", "incremental":
	default:
		return nil, fail(ErrBadRequest, "InvalidDeploymentMode", "The deployment mode '%s' is not supported: berth deploys in Incremental mode only.", in.Mode)
	}
	t, err := template.Parse(in.Template)
	if err != nil {
		return nil, templateError(err)
	}
	params := map[string]any{}
	for name, raw := range in.Parameters {
		var p struct {
			Value     json.RawMessage `json:"value"`
			Reference json.RawMessage `json:"reference"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fail(ErrBadRequest, "InvalidRequestContent", "The value of the deployment parameter '%s' is not valid: %v.", name, err)
		}
		if len(p.Reference) > 0 {
			return nil, fail(ErrBadRequest, "InvalidTemplate", "Deployment template validation failed: 'The deployment parameter '%s' is a key vault reference, which berth does not resolve'.", name)
		}
		var v any
		if len(p.Value) > 0 {
			// Integers stay exact: a number is read as the template's
			// evaluator reads it.
			d := json.NewDecoder(bytes.NewReader(p.Value))
			d.UseNumber()
			if err := d.Decode(&v); err != nil {
				return nil, fail(ErrBadRequest, "InvalidRequestContent", "The value of the deployment parameter '%s' is not valid: %v.", name, err)
			}
		}
		params[name] = template.Value(v)
	}
	plan, err := t.Plan(template.Scope{TenantID: sub.TenantID, SubscriptionID: sub.ID, SubscriptionName: sub.DisplayName,
		ResourceGroup: g.Name, Location: g.Location, GroupTags: g.Tags, DeploymentName: id.Name()}, params)
	if err != nil {
		return nil, templateError(err)
	}
	var problems []*Error
	for _, r := range plan.Resources {
		action, at, err := s.writeAction(r, g.Location)
		if err == nil {
			err = s.authorize(ctx, c, at, action)
		}
		var e *Error
		if errors.As(err, &e) {
			problems = append(problems, e)
		} else if err != nil {
			return nil, err
		}
	}
	if len(problems) > 0 {
		return nil, &Error{Kind: ErrBadRequest, Code: "InvalidTemplateDeployment",
			Message: fmt.Sprintf("The template deployment '%s' is not valid according to the validation procedure. The tracking id is '%s'. See inner errors for details.", id.Name(), ids.New()),
			Details: problems}
	}
	sum := sha256.Sum256(in.Template)
	p := &prepared{plan: plan, props: DeploymentProperties{
		TemplateHash: strconv.FormatUint(binary.BigEndian.Uint64(sum[:8])>>1, 10), Mode: "Incremental",
		Parameters: map[string]DeploymentValue{}, Providers: []any{}, Dependencies: []DeploymentDependency{}, CorrelationID: ids.New(),
	}}
	for name, v := range plan.Parameters {
		dv := DeploymentValue{Type: template.DisplayType(v.Type), Value: v.Value}
		if template.IsSecure(v.Type) {
			dv.Value = nil
		}
		p.props.Parameters[name] = dv
	}
	for _, r := range plan.Resources {
		if len(r.DependsOn) == 0 {
			continue
		}
		d := DeploymentDependency{ID: r.ID, ResourceType: r.Type, ResourceName: r.Name}
		for _, dep := range r.DependsOn {
			d.DependsOn = append(d.DependsOn, dependent(plan, dep))
		}
		p.props.Dependencies = append(p.props.Dependencies, d)
	}
	return p, nil
}

func dependent(plan *template.Plan, id string) Dependent {
	for _, r := range plan.Resources {
		if r.ID == id {
			return Dependent{ID: r.ID, ResourceType: r.Type, ResourceName: r.Name}
		}
	}
	return Dependent{ID: id}
}

// templateError is a template's refusal as the management API's error.
func templateError(err error) error {
	var te *template.Error
	if errors.As(err, &te) {
		return &Error{Kind: ErrBadRequest, Code: te.Code, Message: te.Message}
	}
	return err
}

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: "InternalServerError", Message: "The server encountered an internal error."}
}

// writeAction is the action and scope that making r needs, for the types
// a deployment can make.
func (s *Service) writeAction(r *template.Resource, location string) (action, scope string, err error) {
	typ := strings.ToLower(r.Type)
	switch {
	case typ == "microsoft.authorization/roleassignments":
		scope, err := assignmentScope(r)
		if err != nil {
			return "", "", err
		}
		return actionAssignmentWrite, scope.String(), nil
	case r.Scope != "":
		return "", "", invalidTemplateResource(r, errors.New("berth deploys role assignments only as extension resources (with a scope)"))
	case typ == strings.ToLower(resourcetype.FederatedIdentityCredential):
		return resourcetype.FederatedIdentityCredential + "/write", r.ID, nil
	}
	if k, ok := kinds[typ]; ok {
		return k.Type() + "/write", r.ID, nil
	}
	_, t, _ := strings.Cut(r.Type, "/")
	var versions []string
	if canon, ok := resourcetype.Canonical(r.Type); ok {
		versions = resourcetype.APIVersions(canon)
	}
	return "", "", fail(ErrBadRequest, "NoRegisteredProviderFound",
		"No registered resource provider found for location '%s' and API version '%s' for type '%s'. The supported api-versions are '%s'. The supported locations are ''. berth deploys registries, user-assigned identities and their federated identity credentials, role assignments, virtual machines, managed clusters, and records of virtual networks, network security groups, public IP addresses and network interfaces.",
		location, r.APIVersion, t, strings.Join(versions, ", "))
}

// assignmentScope is where a role assignment of a template is made: its
// scope, or the group when it states none.
func assignmentScope(r *template.Resource) (resourceid.ID, error) {
	scope := r.Scope
	if scope == "" {
		scope = strings.TrimSuffix(r.ID, "/providers/"+r.Type+"/"+r.Name)
	}
	id, err := resourceid.Parse(scope)
	if err != nil {
		return id, invalidTemplateResource(r, err)
	}
	return id, nil
}

func invalidTemplateResource(r *template.Resource, err error) error {
	return fail(ErrBadRequest, "InvalidTemplate", "Deployment template validation failed: 'The template resource '%s' is not valid: %v'.", r.Name, err)
}

// ValidateDeployment evaluates and checks a deployment as PutDeployment
// would, and makes nothing.
func (s *Service) ValidateDeployment(ctx context.Context, c Caller, id resourceid.ID, in DeploymentInput) (Deployment, error) {
	id = deploymentID(id.Subscription, id.ResourceGroup, id.Name())
	sub, g, err := s.deploymentScope(ctx, c, id, actionDeploymentValidate)
	if err != nil {
		return Deployment{}, err
	}
	p, err := s.prepare(ctx, c, sub, g, id, in)
	if err != nil {
		return Deployment{}, err
	}
	p.props.ProvisioningState, p.props.Timestamp, p.props.Duration = "Succeeded", time.Now().UTC(), "PT0S"
	for _, r := range p.plan.Resources {
		p.props.ValidatedResources = append(p.props.ValidatedResources, ResourceRef{ID: r.ID})
	}
	return Deployment{ID: id.String(), Name: id.Name(), Type: resourcetype.Deployment, Properties: p.props}, nil
}

// PutDeployment deploys a template. A template refused before anything
// is made is the error; a deployment that fails after is answered with
// provisioningState Failed and its error (see above). created says
// whether the deployment record is new.
func (s *Service) PutDeployment(ctx context.Context, c Caller, id resourceid.ID, in DeploymentInput) (d Deployment, created bool, err error) {
	id = deploymentID(id.Subscription, id.ResourceGroup, id.Name())
	defer func() {
		what := ""
		if err == nil {
			what = fmt.Sprintf("%s: %d resources deployed", strings.ToLower(d.Properties.ProvisioningState), len(d.Properties.OutputResources))
		}
		s.record(ctx, c, actionDeploymentWrite, id, id.String(), what, err)
	}()
	sub, g, err := s.deploymentScope(ctx, c, id, actionDeploymentWrite)
	if err != nil {
		return Deployment{}, false, err
	}
	p, err := s.prepare(ctx, c, sub, g, id, in)
	if err != nil {
		return Deployment{}, false, err
	}
	// Once it starts, a deployment runs to its end even if its client
	// goes away, as in the cloud.
	ctx = context.WithoutCancel(ctx)
	start := time.Now().UTC()
	st := storedDeployment{Properties: p.props}
	st.Properties.ProvisioningState, st.Properties.Timestamp, st.Properties.Duration = "Running", start, "PT0S"
	rec := store.Resource{ID: id.String(), SubscriptionID: id.Subscription, ResourceGroup: g.Name, Type: resourcetype.Deployment,
		Name: id.Name(), Location: g.Location, CreatedAt: start, UpdatedAt: start}
	if created, err = s.saveDeployment(ctx, &rec, st, true); err != nil {
		return Deployment{}, false, err
	}
	ref := s.referencer(ctx, c)
	var failure *Error
	var internal error // a failure of berth's own, answered as one
	for _, r := range p.plan.Resources {
		opStart := time.Now().UTC()
		status, err := s.deployResource(ctx, c, g, p.plan, r, ref, in.IssuerBase)
		op := DeploymentOperation{OperationID: strings.ToUpper(strings.ReplaceAll(ids.New(), "-", "")[:16])}
		op.ID = id.String() + "/operations/" + op.OperationID
		op.Properties = DeploymentOperationProperties{ProvisioningOperation: "Create", ProvisioningState: "Succeeded", Timestamp: time.Now().UTC(),
			Duration: duration(time.Since(opStart)), TrackingID: ids.New(), StatusCode: http.StatusText(status),
			TargetResource: Dependent{ID: r.ID, ResourceType: r.Type, ResourceName: r.Name}}
		if err != nil {
			e := asError(err)
			if e.Code == "InternalServerError" {
				internal = err
			}
			op.Properties.ProvisioningState, op.Properties.StatusCode = "Failed", statusName(e)
			op.Properties.StatusMessage = map[string]any{"status": "Failed", "error": ErrorOut(e)}
			failure = e
		} else {
			st.Properties.OutputResources = append(st.Properties.OutputResources, ResourceRef{ID: r.ID})
		}
		st.Operations = append(st.Operations, op)
		if failure != nil {
			break
		}
	}
	if failure == nil {
		outs, err := p.plan.Outputs(ref)
		if err != nil {
			failure = asError(templateError(err))
			if failure.Code == "InternalServerError" {
				internal = err
			}
		} else if len(outs) > 0 {
			st.Properties.Outputs = map[string]DeploymentValue{}
			for k, o := range outs {
				v := DeploymentValue{Type: o.Type, Value: o.Value}
				if template.IsSecure(o.Type) {
					v.Value = nil
				}
				st.Properties.Outputs[k] = v
			}
		}
	}
	st.Properties.ProvisioningState = "Succeeded"
	if failure != nil {
		st.Properties.ProvisioningState = "Failed"
		st.Properties.Error = &ErrorJSON{Code: "DeploymentFailed",
			Message: "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
			Details: []*ErrorJSON{ErrorOut(failure)}}
	}
	st.Properties.Duration = duration(time.Since(start))
	rec.UpdatedAt = time.Now().UTC()
	if _, err := s.saveDeployment(ctx, &rec, st, false); err != nil {
		return Deployment{}, created, err
	}
	if internal != nil {
		return Deployment{}, created, internal
	}
	return Deployment{ID: id.String(), Name: id.Name(), Type: resourcetype.Deployment, Properties: st.Properties}, created, nil
}

// saveDeployment writes a deployment's record: first (create or
// replace what was there), or its outcome.
func (s *Service) saveDeployment(ctx context.Context, rec *store.Resource, st storedDeployment, first bool) (created bool, err error) {
	if rec.Properties, err = json.Marshal(st); err != nil {
		return false, err
	}
	if !first {
		return false, s.Store.UpdateResource(ctx, *rec)
	}
	err = s.Store.CreateResource(ctx, *rec)
	if !errors.Is(err, store.ErrExists) {
		return err == nil, err
	}
	old, err := s.Store.GetResource(ctx, rec.ID)
	if err != nil {
		return false, err
	}
	rec.CreatedAt = old.CreatedAt
	return false, s.Store.UpdateResource(ctx, *rec)
}

func duration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S"
}

func statusName(e *Error) string {
	switch {
	case errors.Is(e, ErrForbidden):
		return "Forbidden"
	case errors.Is(e, ErrNotFound):
		return "NotFound"
	case errors.Is(e, ErrConflict):
		return "Conflict"
	}
	return "BadRequest"
}

// deployResource makes one resource of a plan, as the caller, and says
// which status a client making it by hand would have seen.
func (s *Service) deployResource(ctx context.Context, c Caller, g store.ResourceGroup, plan *template.Plan, r *template.Resource, ref template.Reference, issuerBase string) (int, error) {
	body, err := plan.Body(r, ref)
	if err != nil {
		return 0, templateError(err)
	}
	raw := func(k string) (json.RawMessage, error) {
		v, ok := body[k]
		if !ok || v == nil {
			return nil, nil
		}
		return json.Marshal(v)
	}
	var props struct {
		Issuer           string   `json:"issuer"`
		Subject          string   `json:"subject"`
		Audiences        []string `json:"audiences"`
		RoleDefinitionID string   `json:"roleDefinitionId"`
		PrincipalID      string   `json:"principalId"`
		PrincipalType    string   `json:"principalType"`
	}
	pr, err := raw("properties")
	if err != nil {
		return 0, err
	}
	if len(pr) > 0 {
		if err := json.Unmarshal(pr, &props); err != nil {
			return 0, invalidTemplateResource(r, err)
		}
	}
	switch typ := strings.ToLower(r.Type); {
	case typ == "microsoft.authorization/roleassignments":
		scope, err := assignmentScope(r)
		if err != nil {
			return 0, err
		}
		_, err = s.CreateRoleAssignment(ctx, c, scope, r.Name, NewRoleAssignment{RoleDefinitionID: props.RoleDefinitionID, PrincipalID: props.PrincipalID, PrincipalType: props.PrincipalType})
		if errors.Is(err, ErrConflict) {
			// Deploying again: the same assignment under the same name
			// is already there.
			if a, gerr := s.assignmentAt(ctx, scope, strings.ToLower(r.Name)); gerr == nil && strings.EqualFold(a.PrincipalID, props.PrincipalID) &&
				strings.HasSuffix(strings.ToLower(props.RoleDefinitionID), strings.ToLower(a.RoleDefinitionID)) {
				return http.StatusOK, nil
			}
		}
		return http.StatusCreated, err
	case typ == strings.ToLower(resourcetype.FederatedIdentityCredential):
		id, err := resourceid.Parse(r.ID)
		if err != nil {
			return 0, invalidTemplateResource(r, err)
		}
		_, created, err := s.PutFederatedCredential(ctx, c, id, FederatedCredentialInput{Issuer: props.Issuer, Subject: props.Subject, Audiences: props.Audiences})
		return createdStatus(created), err
	}
	id, err := resourceid.Parse(r.ID)
	if err != nil {
		return 0, invalidTemplateResource(r, err)
	}
	in := ResourceInput{IssuerBase: issuerBase}
	if loc, ok := body["location"].(string); ok {
		in.Location = loc
	}
	if t, ok := body["tags"].(map[string]any); ok {
		in.Tags = map[string]string{}
		for k, v := range t {
			sv, ok := v.(string)
			if !ok {
				return 0, invalidTemplateResource(r, fmt.Errorf("the tag '%s' must be a string", k))
			}
			in.Tags[k] = sv
		}
	}
	if in.SKU, err = raw("sku"); err != nil {
		return 0, err
	}
	in.Properties = pr
	if in.Identity, err = raw("identity"); err != nil {
		return 0, err
	}
	_, created, err := s.PutResource(ctx, c, id, in)
	return createdStatus(created), err
}

func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// referencer reads resources for reference(), as the caller: its
// properties, or its whole body (with "Full").
func (s *Service) referencer(ctx context.Context, c Caller) template.Reference {
	return func(rid string, full bool) (any, error) {
		id, err := resourceid.Parse(rid)
		if err != nil {
			return nil, fail(ErrBadRequest, "InvalidTemplate", "Deployment template validation failed: 'reference() names '%s', which is not a resource id'.", rid)
		}
		r, err := s.GetResource(ctx, c, id)
		if err != nil {
			return nil, err
		}
		props := map[string]any{}
		if len(r.Properties) > 0 {
			if err := json.Unmarshal(r.Properties, &props); err != nil {
				return nil, err
			}
		}
		if strings.EqualFold(r.Type, resourcetype.Registry) {
			props["loginServer"] = s.LoginServer(r.Name)
		}
		if !full {
			return template.Value(props), nil
		}
		out := map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "location": r.Location, "properties": props}
		tags := map[string]any{}
		for k, v := range r.Tags {
			tags[k] = v
		}
		out["tags"] = tags
		for k, raw := range map[string]json.RawMessage{"sku": r.SKU, "identity": r.Identity} {
			if len(raw) > 0 {
				var v any
				if err := json.Unmarshal(raw, &v); err != nil {
					return nil, err
				}
				out[k] = v
			}
		}
		return template.Value(out), nil
	}
}

// deploymentRecord reads a deployment the caller may read.
func (s *Service) deploymentRecord(ctx context.Context, c Caller, id resourceid.ID) (resourceid.ID, storedDeployment, error) {
	id = deploymentID(id.Subscription, id.ResourceGroup, id.Name())
	if _, _, err := s.deploymentScope(ctx, c, id, actionDeploymentRead); err != nil {
		return id, storedDeployment{}, err
	}
	r, err := s.Store.GetResource(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return id, storedDeployment{}, fail(ErrNotFound, "DeploymentNotFound", "Deployment '%s' could not be found.", id.Name())
	}
	if err != nil {
		return id, storedDeployment{}, err
	}
	var st storedDeployment
	return deploymentID(id.Subscription, r.ResourceGroup, r.Name), st, json.Unmarshal(r.Properties, &st)
}

// GetDeployment returns a deployment.
func (s *Service) GetDeployment(ctx context.Context, c Caller, id resourceid.ID) (Deployment, error) {
	id, st, err := s.deploymentRecord(ctx, c, id)
	if err != nil {
		return Deployment{}, err
	}
	return Deployment{ID: id.String(), Name: id.Name(), Type: resourcetype.Deployment, Properties: st.Properties}, nil
}

// DeploymentOperations lists what a deployment did, resource by
// resource.
func (s *Service) DeploymentOperations(ctx context.Context, c Caller, id resourceid.ID) ([]DeploymentOperation, error) {
	_, st, err := s.deploymentRecord(ctx, c, id)
	return st.Operations, err
}

// ListDeployments lists a group's deployments.
func (s *Service) ListDeployments(ctx context.Context, c Caller, group resourceid.ID) ([]Deployment, error) {
	if _, err := s.subscription(ctx, c, group.Subscription); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, group.String(), actionDeploymentRead); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetResourceGroup(ctx, group.Subscription, group.ResourceGroup); errors.Is(err, store.ErrNotFound) {
		return nil, groupNotFound(group.ResourceGroup)
	} else if err != nil {
		return nil, err
	}
	rs, err := s.Store.ListResources(ctx, store.ResourceQuery{SubscriptionID: group.Subscription, ResourceGroup: group.ResourceGroup, Type: resourcetype.Deployment})
	if err != nil {
		return nil, err
	}
	var out []Deployment
	for _, r := range rs {
		var st storedDeployment
		if err := json.Unmarshal(r.Properties, &st); err != nil {
			return nil, err
		}
		out = append(out, Deployment{ID: r.ID, Name: r.Name, Type: resourcetype.Deployment, Properties: st.Properties})
	}
	return out, nil
}

// DeleteDeployment deletes a deployment's record; what it made stays.
// found is false when there was none.
func (s *Service) DeleteDeployment(ctx context.Context, c Caller, id resourceid.ID) (found bool, err error) {
	id = deploymentID(id.Subscription, id.ResourceGroup, id.Name())
	defer func() {
		s.record(ctx, c, actionDeploymentDelete, id, id.String(), audit.Done(err, deletedOrNot(found)), err)
	}()
	if _, _, err := s.deploymentScope(ctx, c, id, actionDeploymentDelete); err != nil {
		return false, err
	}
	err = s.Store.DeleteResource(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// WhatIfChange is what a deployment would do to one resource.
type WhatIfChange struct {
	ResourceID string         `json:"resourceId"`
	ChangeType string         `json:"changeType"`
	After      map[string]any `json:"after,omitempty"`
}

// WhatIfDeployment checks a deployment as ValidateDeployment does and
// says which resources it would create and which it would deploy again
// (change type Deploy: berth does not predict how their properties would
// change).
func (s *Service) WhatIfDeployment(ctx context.Context, c Caller, id resourceid.ID, in DeploymentInput) ([]WhatIfChange, error) {
	id = deploymentID(id.Subscription, id.ResourceGroup, id.Name())
	sub, g, err := s.deploymentScope(ctx, c, id, actionDeploymentWhatIf)
	if err != nil {
		return nil, err
	}
	p, err := s.prepare(ctx, c, sub, g, id, in)
	if err != nil {
		return nil, err
	}
	out := []WhatIfChange{}
	for _, r := range p.plan.Resources {
		exists, err := s.exists(ctx, c, r)
		if err != nil {
			return nil, err
		}
		ch := WhatIfChange{ResourceID: r.ID, ChangeType: "Create",
			After: map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "apiVersion": r.APIVersion}}
		if exists {
			ch.ChangeType = "Deploy"
		}
		out = append(out, ch)
	}
	return out, nil
}

// exists reports whether a resource of a template is there already.
func (s *Service) exists(ctx context.Context, c Caller, r *template.Resource) (bool, error) {
	var err error
	switch typ := strings.ToLower(r.Type); {
	case typ == "microsoft.authorization/roleassignments":
		scope, serr := assignmentScope(r)
		if serr != nil {
			return false, serr
		}
		_, err = s.assignmentAt(ctx, scope, strings.ToLower(r.Name))
	case typ == strings.ToLower(resourcetype.FederatedIdentityCredential):
		id, perr := resourceid.Parse(r.ID)
		if perr != nil {
			return false, invalidTemplateResource(r, perr)
		}
		_, err = s.GetFederatedCredential(ctx, c, id)
	default:
		_, err = s.Store.GetResource(ctx, r.ID)
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
