package arm

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/template"
)

// maxTemplateBody bounds a deployment's request: the cloud takes
// templates of up to 4 MiB.
const maxTemplateBody = 4 << 20

// deployments serves .../resourceGroups/{g}/providers/Microsoft.Resources/deployments[/{name}[/...]].
//
// A deployment PUT runs to its end before it is answered; the answer
// still names an operation status to poll (Azure-AsyncOperation), as the
// cloud's does, because that is where clients read why a deployment
// failed.
func (h *Handler) deployments(w http.ResponseWriter, r *http.Request, c controlplane.Caller, sub, group string, rest []string) error {
	ctx := r.Context()
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r)
		}
		ds, err := h.Service.ListDeployments(ctx, c, resourceid.ID{Subscription: sub, ResourceGroup: group})
		if err != nil {
			return err
		}
		return list(w, ds)
	}
	id := resourceid.Resource(sub, group, resourcetype.Deployment, rest[0])
	switch {
	case len(rest) == 1:
		switch r.Method {
		case http.MethodPut:
			in, err := decodeDeployment(r)
			if err != nil {
				return err
			}
			d, created, err := h.Service.PutDeployment(ctx, c, id, in)
			if err != nil {
				return err
			}
			w.Header().Set("Azure-AsyncOperation", baseURL(r)+d.ID+"/operationStatuses/"+d.Properties.CorrelationID+"?api-version="+url.QueryEscape(r.URL.Query().Get("api-version")))
			w.Header().Set("Retry-After", "1")
			return writeJSON(w, createdOr(created), d)
		case http.MethodGet:
			d, err := h.Service.GetDeployment(ctx, c, id)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, d)
		case http.MethodDelete:
			found, err := h.Service.DeleteDeployment(ctx, c, id)
			return deleted(w, found, err)
		}
		return methodNotAllowed(r)
	case len(rest) == 2 && strings.EqualFold(rest[1], "validate"):
		if r.Method != http.MethodPost {
			return methodNotAllowed(r)
		}
		in, err := decodeDeployment(r)
		if err != nil {
			return err
		}
		d, err := h.Service.ValidateDeployment(ctx, c, id, in)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, d)
	case len(rest) == 2 && strings.EqualFold(rest[1], "whatIf"):
		if r.Method != http.MethodPost {
			return methodNotAllowed(r)
		}
		in, err := decodeDeployment(r)
		if err != nil {
			return err
		}
		changes, err := h.Service.WhatIfDeployment(ctx, c, id, in)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{"status": "Succeeded", "properties": map[string]any{"changes": changes}})
	case len(rest) == 2 && strings.EqualFold(rest[1], "operations"):
		if r.Method != http.MethodGet {
			return methodNotAllowed(r)
		}
		ops, err := h.Service.DeploymentOperations(ctx, c, id)
		if err != nil {
			return err
		}
		return list(w, ops)
	case len(rest) == 3 && strings.EqualFold(rest[1], "operations"):
		if r.Method != http.MethodGet {
			return methodNotAllowed(r)
		}
		ops, err := h.Service.DeploymentOperations(ctx, c, id)
		if err != nil {
			return err
		}
		for _, op := range ops {
			if strings.EqualFold(op.OperationID, rest[2]) {
				return writeJSON(w, http.StatusOK, op)
			}
		}
		return &controlplane.Error{Kind: controlplane.ErrNotFound, Code: "DeploymentOperationNotFound",
			Message: "The operation '" + rest[2] + "' of deployment '" + rest[0] + "' could not be found."}
	case len(rest) == 3 && strings.EqualFold(rest[1], "operationStatuses"):
		if r.Method != http.MethodGet {
			return methodNotAllowed(r)
		}
		d, err := h.Service.GetDeployment(ctx, c, id)
		if err != nil {
			return err
		}
		if !strings.EqualFold(d.Properties.CorrelationID, rest[2]) {
			return &controlplane.Error{Kind: controlplane.ErrNotFound, Code: "OperationNotFound",
				Message: "The operation '" + rest[2] + "' of deployment '" + d.Name + "' could not be found."}
		}
		out := map[string]any{"status": d.Properties.ProvisioningState}
		if d.Properties.Error != nil {
			out["error"] = d.Properties.Error
		}
		return writeJSON(w, http.StatusOK, out)
	}
	return notSupported(r)
}

// decodeDeployment reads a deployment's body. The cloud's CLI sends it as
// relaxed JSON: the template spliced in as written, comments and all,
// under an unquoted property name.
func decodeDeployment(r *http.Request) (controlplane.DeploymentInput, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTemplateBody+1))
	if err != nil {
		return controlplane.DeploymentInput{}, err
	}
	if len(body) > maxTemplateBody {
		return controlplane.DeploymentInput{}, &controlplane.Error{Kind: controlplane.ErrBadRequest, Code: "RequestContentTooLarge",
			Message: "The request content is larger than 4 MiB, the most a deployment may send."}
	}
	bad := func(err error) error {
		return &controlplane.Error{Kind: controlplane.ErrBadRequest, Code: "InvalidRequestContent",
			Message: "The request content was invalid and could not be deserialized: " + err.Error() + "."}
	}
	plain, err := template.JSONC(body)
	if err != nil {
		return controlplane.DeploymentInput{}, bad(err)
	}
	var in struct {
		Properties struct {
			Template     json.RawMessage            `json:"template"`
			TemplateLink json.RawMessage            `json:"templateLink"`
			Parameters   map[string]json.RawMessage `json:"parameters"`
			Mode         string                     `json:"mode"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(plain, &in); err != nil {
		return controlplane.DeploymentInput{}, bad(err)
	}
	p := in.Properties
	return controlplane.DeploymentInput{Template: p.Template, TemplateLink: len(p.TemplateLink) > 0 && string(p.TemplateLink) != "null",
		Parameters: p.Parameters, Mode: p.Mode, IssuerBase: baseURL(r)}, nil
}
