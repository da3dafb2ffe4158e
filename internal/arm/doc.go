// Package arm serves the control plane in the resource manager's wire
// shape: /subscriptions/... paths matched ignoring case, an api-version on
// every call, bearer tokens for the management resource, JSON bodies in the
// cloud's shapes and errors in its {"error":{"code","message"}} envelope.
// It also serves /metadata/endpoints, which clients read to find the other
// endpoints, without authentication, and a subscription's activity log
// (Microsoft.Insights/eventtypes/management/values).
//
// The handler only translates: every decision is the controlplane
// service's.
package arm
