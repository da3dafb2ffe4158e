// Package audit is berth's audit trail: who changed what, when, and from
// where.
//
// Services record one event per change through a Recorder: the directory
// (applications and their credentials, owners, service principals and
// consent, users, directory roles; package graph), resource groups,
// resources with their settings and actions, and role assignments
// (package controlplane); and the sign-in pages record every refused
// sign-in (package web). An attempt refused for lack of rights, or ended
// by a fault (which may have left part of a change made), is recorded too,
// as Failed; one refused as bad input, as naming nothing or as
// conflicting changed nothing and is not recorded.
//
// Trail, the recorder the server uses, writes each event as one
// structured log line (message "audit") and appends it to the store, from
// which the management API serves a subscription's activity log. The
// change has happened when it is recorded, so recording never fails it: an
// event the store refuses is still in the log line, and the refusal is
// logged at error level. Events are kept for Retention and then deleted.
//
// Where a request came from (the peer's address, its correlation id) is
// attached to its context by each wire surface with Attach, and read from
// there; services never see requests.
package audit
