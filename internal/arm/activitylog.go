package arm

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/odata"
	"github.com/berthhq/berth/internal/store"
)

// activityPage is how many events one answer holds; nextLink has the
// rest.
const activityPage = 200

type localized struct {
	Value          string `json:"value"`
	LocalizedValue string `json:"localizedValue"`
}

func loc(s string) localized { return localized{s, s} }

// eventJSON is an activity log event in the cloud's shape (its EventData).
type eventJSON struct {
	Authorization struct {
		Action string `json:"action"`
		Scope  string `json:"scope"`
	} `json:"authorization"`
	Caller        string    `json:"caller"`
	Category      localized `json:"category"`
	Channels      string    `json:"channels"`
	CorrelationID string    `json:"correlationId"`
	Description   string    `json:"description"`
	EventDataID   string    `json:"eventDataId"`
	EventName     localized `json:"eventName"`
	HTTPRequest   struct {
		ClientIPAddress string `json:"clientIpAddress"`
	} `json:"httpRequest"`
	ID                   string            `json:"id"`
	Level                string            `json:"level"`
	OperationID          string            `json:"operationId"`
	OperationName        localized         `json:"operationName"`
	Properties           map[string]string `json:"properties"`
	ResourceGroupName    string            `json:"resourceGroupName"`
	ResourceID           string            `json:"resourceId"`
	ResourceProviderName localized         `json:"resourceProviderName"`
	ResourceType         localized         `json:"resourceType"`
	Status               localized         `json:"status"`
	SubStatus            localized         `json:"subStatus"`
	EventTimestamp       string            `json:"eventTimestamp"`
	SubmissionTimestamp  string            `json:"submissionTimestamp"`
	SubscriptionID       string            `json:"subscriptionId"`
	TenantID             string            `json:"tenantId"`
}

// ticksAtUnixEpoch is the Unix epoch in .NET ticks (100 ns since year 1),
// which the cloud's event ids end with.
const ticksAtUnixEpoch = 621355968000000000

func eventOut(e store.Event) eventJSON {
	// The type is the operation without its verb ("write") or action
	// ("regenerateCredential/action").
	typ := e.Operation[:max(0, strings.LastIndex(e.Operation, "/"))]
	if strings.HasSuffix(e.Operation, "/action") {
		typ = typ[:max(0, strings.LastIndex(typ, "/"))]
	}
	provider, _, _ := strings.Cut(typ, "/")
	out := eventJSON{
		Caller: e.CallerID, Category: loc("Administrative"), Channels: "Operation", CorrelationID: e.CorrelationID,
		Description: e.Description, EventDataID: e.ID, EventName: localized{"EndRequest", "End request"},
		ID:    e.Target + "/events/" + e.ID + "/ticks/" + strconv.FormatInt(e.Time.UnixNano()/100+ticksAtUnixEpoch, 10),
		Level: "Informational", OperationID: e.CorrelationID, OperationName: loc(e.Operation),
		Properties: map[string]string{
			"eventCategory": "Administrative", "entity": e.Target, "message": e.Operation, "callerType": e.CallerKind,
		},
		ResourceGroupName: e.ResourceGroup, ResourceID: e.Target, ResourceProviderName: loc(provider), ResourceType: loc(typ),
		Status: loc(e.Status), EventTimestamp: timestamp(e.Time), SubmissionTimestamp: timestamp(e.Time),
		SubscriptionID: e.SubscriptionID, TenantID: e.TenantID,
	}
	if e.Status == audit.Failed {
		out.Level = "Error"
	}
	out.Authorization.Action, out.Authorization.Scope = e.Operation, e.Target
	out.HTTPRequest.ClientIPAddress = e.ClientIP
	return out
}

// activityLog serves GET /subscriptions/{s}/providers/Microsoft.Insights/
// eventtypes/management/values: the subscription's activity log.
func (h *Handler) activityLog(w http.ResponseWriter, r *http.Request, c controlplane.Caller, sub string) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	q, err := activityFilter(r.URL.Query().Get("$filter"))
	if err != nil {
		return err
	}
	if token := r.URL.Query().Get("$skiptoken"); token != "" {
		if q.After, err = parseSkipToken(token); err != nil {
			return err
		}
	}
	q.Limit = activityPage
	es, err := h.Service.ActivityLog(r.Context(), c, sub, q)
	if err != nil {
		return err
	}
	out := struct {
		Value    []eventJSON `json:"value"`
		NextLink string      `json:"nextLink,omitempty"`
	}{Value: []eventJSON{}}
	for _, e := range es {
		out.Value = append(out.Value, eventOut(e))
	}
	if len(es) == activityPage {
		last := es[len(es)-1]
		next := url.Values{}
		for k, v := range r.URL.Query() {
			next[k] = v
		}
		next.Set("$skiptoken", strconv.FormatInt(last.Time.UnixNano(), 10)+"_"+last.ID)
		out.NextLink = baseURL(r) + r.URL.Path + "?" + next.Encode()
	}
	return writeJSON(w, http.StatusOK, out)
}

func parseSkipToken(s string) (*store.EventPosition, error) {
	at, id, ok := strings.Cut(s, "_")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" {
		return nil, filterError("BadRequest", "The $skiptoken '"+s+"' is not one this API gave.")
	}
	return &store.EventPosition{Time: time.Unix(0, n).UTC(), ID: id}, nil
}

// activityFilter reads the activity log's $filter: a time window,
// "eventTimestamp ge '<time>'" and optionally "eventTimestamp le
// '<time>'" (gt and lt too), and optionally one each of resourceGroupName,
// resourceUri (or resourceId), correlationId, caller and status eq
// '<value>', joined with "and". Times are RFC 3339, or without a zone
// (UTC), or a date; quoted or not, as the cloud's clients send them.
func activityFilter(s string) (controlplane.ActivityQuery, error) {
	var q controlplane.ActivityQuery
	fields := map[string]*string{
		"resourcegroupname": &q.ResourceGroup, "resourceuri": &q.ResourceID, "resourceid": &q.ResourceID,
		"correlationid": &q.CorrelationID, "caller": &q.Caller, "status": &q.Status,
	}
	terms, err := odata.Parse(s)
	given := map[any]bool{}
	for _, t := range terms {
		prop := strings.ToLower(t.Prop)
		if prop == "eventtimestamp" {
			at, terr := parseTime(t.Value)
			bound := map[string]*time.Time{"ge": &q.From, "gt": &q.From, "le": &q.To, "lt": &q.To}[t.Func]
			if terr != nil || bound == nil || given[bound] {
				err = odata.ErrSyntax
				continue
			}
			given[bound] = true
			// The store's window is inclusive at both ends.
			switch t.Func {
			case "gt":
				at = at.Add(time.Nanosecond)
			case "lt":
				at = at.Add(-time.Nanosecond)
			}
			*bound = at
			continue
		}
		field := fields[prop]
		if field == nil || t.Func != "eq" || t.Bare || given[field] {
			err = odata.ErrSyntax
			continue
		}
		given[field] = true
		*field = t.Value
	}
	if err != nil || q.From.IsZero() {
		return q, filterError("BadRequest", "The $filter '"+s+"' is not supported. It needs the start of the time window, "+
			"eventTimestamp ge '<time>', and may have eventTimestamp le '<time>' and one each of resourceGroupName, resourceUri, "+
			"correlationId, caller and status eq '<value>', joined with 'and'; times are RFC 3339.")
	}
	return q, nil
}

// timeLayouts are the forms of time the cloud's clients send: RFC 3339,
// ISO 8601 without a zone (the cloud CLI's, meaning UTC), and a date.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02"}

func parseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, odata.ErrSyntax
}
