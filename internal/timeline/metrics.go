package timeline

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// Window is the span of the rolling activity and booking counts.
const Window = 30 * 24 * time.Hour

// RecomputeWindowCounts sets every profile's 30-day activity and booking
// counts from its timeline (system entries such as imports and merges do
// not count), in one statement per organization. Ingestion
// only ever adds to the counts; this is what lets entries age out of the
// window. Only profiles whose counts change are written. It returns how many
// profiles changed.
func RecomputeWindowCounts(ctx context.Context, client *ent.Client, dialectName string, tenantID uuid.UUID, now time.Time) (int64, error) {
	ctx = tenancy.WithTenant(ctx, tenantID)
	since := now.Add(-Window).UTC()
	q := `WITH recent AS (
  SELECT customer_id, count(*) AS n, count(*) FILTER (WHERE type = 'TEETIME_BOOKED') AS b
  FROM activities WHERE tenant_id = $1 AND occurred_at >= $2 AND category <> 'SYSTEM' GROUP BY customer_id)
UPDATE customer_profiles AS p SET activity_count_30d = COALESCE(r.n, 0), booking_count_30d = COALESCE(r.b, 0), updated_at = $3
FROM customer_profiles AS q LEFT JOIN recent AS r ON r.customer_id = q.id
WHERE p.id = q.id AND p.tenant_id = $1
  AND (p.activity_count_30d <> COALESCE(r.n, 0) OR p.booking_count_30d <> COALESCE(r.b, 0))`
	args := []any{tenantID, since, now.UTC()}
	if dialectName != dialect.Postgres {
		// SQLite numbers parameters ?1, ?2 and compares the stored time text.
		q = `WITH recent AS (
  SELECT customer_id, count(*) AS n, count(*) FILTER (WHERE type = 'TEETIME_BOOKED') AS b
  FROM activities WHERE tenant_id = ?1 AND occurred_at >= ?2 AND category <> 'SYSTEM' GROUP BY customer_id)
UPDATE customer_profiles SET activity_count_30d = COALESCE(r.n, 0), booking_count_30d = COALESCE(r.b, 0), updated_at = ?3
FROM customer_profiles AS q LEFT JOIN recent AS r ON r.customer_id = q.id
WHERE customer_profiles.id = q.id AND customer_profiles.tenant_id = ?1
  AND (customer_profiles.activity_count_30d <> COALESCE(r.n, 0) OR customer_profiles.booking_count_30d <> COALESCE(r.b, 0))`
	}
	// A transaction sets the tenant for row-level security on the raw
	// statement.
	tx, err := client.Tx(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("recompute 30-day counts: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}
