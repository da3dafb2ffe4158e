package main

import "github.com/berthhq/berth/internal/cli"

// The activity log: what was changed in the current subscription, by whom,
// from where.
var monitorCommands = []command{
	{words: "monitor", summary: "Read what happened in the subscription."},
	{words: "monitor activity-log", summary: "Read the activity log: every change to resource groups, resources, their settings and role assignments."},
	{
		words:   "monitor activity-log list",
		summary: "List the activity log's events, newest first.",
		more: "The window is --start-time to --end-time; give one and --offset reaches from it, give neither and it is the last --offset " +
			"up to now. Events are kept 90 days. Directory changes and sign-ins are the tenant's, not the subscription's: they are in " +
			"the server's log, not here.",
		uses: usesManagement,
		examples: []example{
			{"Who changed role assignments in the last day.", "berth monitor activity-log list --offset 1d --query \"[?operationName.value=='Microsoft.Authorization/roleAssignments/write'].[eventTimestamp, caller, resourceId]\" -o tsv"},
			{"What failed in a resource group.", "berth monitor activity-log list -g G --status Failed -o table"},
		},
		flags: func(f *flagSet) runFunc {
			var q cli.ActivityLogQuery
			f.StringVar(&q.StartTime, "start-time", "The start of the window: 2026-12-31T12:59:59Z, 2026-12-31T12:59Z or 2026-12-31 (UTC unless a zone is given).")
			f.StringVar(&q.EndTime, "end-time", "The end of the window (default: now, or --offset after --start-time).")
			q.Offset = "6h"
			f.StringVar(&q.Offset, "offset", "The window's length where one end is not given: days, hours, minutes, seconds, such as 6h or 1d12h.")
			f.StringVar(&q.ResourceGroup, "resource-group g", "Only events in this resource group.")
			f.StringVar(&q.ResourceID, "resource-id", "Only events of this resource and what is below it.")
			f.StringVar(&q.CorrelationID, "correlation-id", "Only the events of the request with this correlation id.")
			f.StringVar(&q.Caller, "caller", "Only events of this caller (its object id).")
			f.StringVar(&q.Status, "status", "Only events with this status: Succeeded or Failed.")
			q.MaxEvents = 50
			f.IntVar(&q.MaxEvents, "max-events", "The most events to list.")
			return func(c *call) (any, error) { return c.m.ActivityLog(c.ctx, q) }
		},
	},
}
