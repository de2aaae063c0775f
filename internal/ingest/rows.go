package ingest

import (
	"context"
	"encoding/json"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/pgarray"
)

// The hot inserts of a batch (one activity and one sync log row per event)
// go to PostgreSQL as one INSERT ... SELECT FROM unnest(arrays): a handful of
// parameters instead of thousands, so parsing, binding and building the
// statement cost nearly nothing. SQLite takes ent's multi-row inserts. The
// tenant is stamped explicitly here; row-level security checks it.

func (b *batch) insertActivities(ctx context.Context) error {
	if len(b.acts) == 0 {
		return nil
	}
	if b.p.cfg.Dialect != dialect.Postgres {
		c := b.tx.Client()
		return insertChunks(ctx, b.acts, 500, func(ctx context.Context, part []*ent.Activity) error {
			builders := make([]*ent.ActivityCreate, len(part))
			for i, a := range part {
				builders[i] = c.Activity.Create().SetID(a.ID).SetCustomerID(a.CustomerID).SetType(a.Type).
					SetCategory(a.Category).SetNillableChannel(a.Channel).SetNillableDirection(a.Direction).
					SetTitle(a.Title).SetNillableDescription(a.Description).SetMetadata(a.Metadata).
					SetSourceService(a.SourceService).SetNillableSourceID(a.SourceID).SetNillableStaffID(a.StaffID).
					SetOccurredAt(a.OccurredAt).SetCreatedAt(a.CreatedAt)
			}
			return c.Activity.CreateBulk(builders...).Exec(ctx)
		})
	}
	n := len(b.acts)
	ids, tenants, customers := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]uuid.UUID, n)
	types, cats, channels, titles, descs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	metas, services, sources, occurred, created := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	b.actMeta = make([][]byte, n)
	for i, a := range b.acts {
		ids[i], tenants[i], customers[i] = a.ID, a.TenantID, a.CustomerID
		types[i], cats[i], titles[i] = string(a.Type), string(a.Category), a.Title
		channels[i], descs[i], sources[i] = deref(a.Channel), deref(a.Description), deref(a.SourceID)
		m, err := json.Marshal(a.Metadata)
		if err != nil {
			return err
		}
		b.actMeta[i] = m
		metas[i], services[i] = string(m), a.SourceService
		occurred[i], created[i] = a.OccurredAt.UTC().Format(time.RFC3339Nano), a.CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	_, err := b.tx.ExecContext(ctx, `INSERT INTO activities (id, tenant_id, customer_id, type, category, channel, title,
  description, metadata, source_service, source_id, occurred_at, created_at)
SELECT id, tenant_id, customer_id, type, category, NULLIF(channel, ''), title, NULLIF(description, ''),
  metadata::jsonb, source_service, NULLIF(source_id, ''), occurred_at, created_at
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
  $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::timestamptz[])
  AS t(id, tenant_id, customer_id, type, category, channel, title, description, metadata, source_service,
  source_id, occurred_at, created_at)`,
		pgarray.UUID(ids), pgarray.UUID(tenants), pgarray.UUID(customers), pgarray.Text(types), pgarray.Text(cats),
		pgarray.Text(channels), pgarray.Text(titles), pgarray.Text(descs), pgarray.Text(metas), pgarray.Text(services),
		pgarray.Text(sources), pgarray.Text(occurred), pgarray.Text(created))
	return err
}

func syncLogCreate(c *ent.SyncLogCreate, l *ent.SyncLog) *ent.SyncLogCreate {
	return c.SetID(l.ID).SetSource(l.Source).SetEventID(l.EventID).SetEventType(l.EventType).
		SetStatus(l.Status).SetNillableReason(l.Reason).SetNillableCustomerID(l.CustomerID).
		SetNillableOccurredAt(l.OccurredAt).SetProcessedAt(l.ProcessedAt)
}

func (b *batch) insertSyncLogs(ctx context.Context) error {
	if len(b.logs) == 0 {
		return nil
	}
	if b.p.cfg.Dialect != dialect.Postgres {
		c := b.tx.Client()
		return insertChunks(ctx, b.logs, 1000, func(ctx context.Context, part []*ent.SyncLog) error {
			builders := make([]*ent.SyncLogCreate, len(part))
			for i, l := range part {
				builders[i] = syncLogCreate(c.SyncLog.Create(), l)
			}
			return c.SyncLog.CreateBulk(builders...).Exec(ctx)
		})
	}
	n := len(b.logs)
	ids := make([]uuid.UUID, n)
	sources, events, types, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	reasons, customers, occurred, processed := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, l := range b.logs {
		ids[i], sources[i], events[i], types[i], statuses[i] = l.ID, l.Source, l.EventID, l.EventType, string(l.Status)
		reasons[i] = deref(l.Reason)
		if l.CustomerID != nil {
			customers[i] = l.CustomerID.String()
		}
		if l.OccurredAt != nil {
			occurred[i] = l.OccurredAt.UTC().Format(time.RFC3339Nano)
		}
		processed[i] = l.ProcessedAt.UTC().Format(time.RFC3339Nano)
	}
	_, err := b.tx.ExecContext(ctx, `INSERT INTO sync_logs (id, tenant_id, source, event_id, event_type, status, reason,
  customer_id, occurred_at, processed_at)
SELECT id, $1::uuid, source, event_id, event_type, status, NULLIF(reason, ''), NULLIF(customer_id, '')::uuid,
  NULLIF(occurred_at, '')::timestamptz, processed_at
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
  $10::timestamptz[]) AS t(id, source, event_id, event_type, status, reason, customer_id, occurred_at, processed_at)`,
		b.tenantID, pgarray.UUID(ids), pgarray.Text(sources), pgarray.Text(events), pgarray.Text(types), pgarray.Text(statuses),
		pgarray.Text(reasons), pgarray.Text(customers), pgarray.Text(occurred), pgarray.Text(processed))
	return err
}
