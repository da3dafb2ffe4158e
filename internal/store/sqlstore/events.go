package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/store"
)

func (db *DB) AppendEvent(ctx context.Context, e store.Event) error {
	return insertErr(db.exec(ctx, `INSERT INTO events (id, at, tenant_id, subscription_id, resource_group, group_key, caller_id, caller_kind,
		client_ip, correlation_id, operation, target, target_key, status, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		e.ID, nanos(e.Time), e.TenantID, e.SubscriptionID, e.ResourceGroup, key(e.ResourceGroup), e.CallerID, e.CallerKind,
		e.ClientIP, e.CorrelationID, e.Operation, e.Target, scopeKey(e.Target), e.Status, e.Description))
}

func (db *DB) ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, error) {
	var where []string
	var args []any
	cond := func(format string, values ...any) {
		n := make([]any, len(values))
		for i, v := range values {
			args = append(args, v)
			n[i] = len(args)
		}
		where = append(where, fmt.Sprintf(format, n...))
	}
	cond("tenant_id = $%d AND subscription_id = $%d AND at >= $%d AND at <= $%d", q.TenantID, q.SubscriptionID, nanos(q.From), nanos(q.To))
	if q.ResourceGroup != "" {
		cond("group_key = $%d", key(q.ResourceGroup))
	}
	if q.Under != "" {
		from, to := belowRange(q.Under)
		cond("(target_key = $%d OR (target_key >= $%d AND target_key < $%d))", scopeKey(q.Under), from, to)
	}
	for _, c := range []struct{ column, value string }{{"correlation_id", q.CorrelationID}, {"caller_id", q.CallerID}, {"status", q.Status}} {
		if c.value != "" {
			cond(c.column+" = $%d", c.value)
		}
	}
	if q.After != nil {
		cond("(at < $%d OR (at = $%d AND id < $%d))", nanos(q.After.Time), nanos(q.After.Time), q.After.ID)
	}
	query := `SELECT id, at, tenant_id, subscription_id, resource_group, caller_id, caller_kind, client_ip, correlation_id,
		operation, target, status, description FROM events WHERE ` + strings.Join(where, " AND ") + " ORDER BY at DESC, id DESC"
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.TenantID, &e.SubscriptionID, &e.ResourceGroup, &e.CallerID, &e.CallerKind, &e.ClientIP,
			&e.CorrelationID, &e.Operation, &e.Target, &e.Status, &e.Description); err != nil {
			return nil, err
		}
		e.Time = fromNanos(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (db *DB) DeleteEventsBefore(ctx context.Context, t time.Time) error {
	return db.exec(ctx, "DELETE FROM events WHERE at < $1", nanos(t))
}
