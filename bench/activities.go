package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// activityKind is one kind of seeded timeline entry, with how often it
// occurs relative to the others. The values are those ingestion writes for
// the event behind the kind (see internal/event), so seeded rows look like
// ingested ones to every reader.
type activityKind struct {
	typ, category, channel, source, title string
	weight                                int
}

// activityKinds is the mix of a club's timeline: mostly golf and messaging,
// some payments and membership changes.
var activityKinds = []activityKind{
	{"TEETIME_BOOKED", "BOOKING", "WEB", "teetime", "Booked a tee time at Championship for Sat 14 Jun 07:30 UTC", 20},
	{"TEETIME_COMPLETED", "GOLF", "IN_PERSON", "teetime", "Played a round at Championship (score 86)", 14},
	{"HANDICAP_UPDATED", "GOLF", "", "teetime", "Handicap updated from 14.2 to 13.8", 4},
	{"COMPETITION_ENTERED", "GOLF", "", "teetime", "Entered Saturday Medal", 3},
	{"MESSAGE_SENT", "COMMUNICATION", "EMAIL", "messaging", "E-mail sent: Your monthly club newsletter", 12},
	{"MESSAGE_DELIVERED", "COMMUNICATION", "EMAIL", "messaging", "E-mail delivered: Your monthly club newsletter", 12},
	{"MESSAGE_DELIVERED", "COMMUNICATION", "SMS", "messaging", "SMS delivered: Course closed for maintenance", 4},
	{"EMAIL_OPENED", "ENGAGEMENT", "EMAIL", "messaging", "Opened an e-mail: Your monthly club newsletter", 14},
	{"EMAIL_CLICKED", "ENGAGEMENT", "EMAIL", "messaging", "Clicked a link in an e-mail", 5},
	{"PAYMENT_RECEIVED", "FINANCIAL", "", "scl", "Payment of ZAR 1250.00 received", 7},
	{"MEMBER_UPDATED", "MEMBERSHIP", "", "scl", "Membership details updated", 2},
	{"TIER_CHANGED", "MEMBERSHIP", "", "scl", "Tier changed from Weekday to Full", 1},
	{"CONTACT_PREFERENCE_UPDATED", "COMMUNICATION", "", "messaging", "Contact preferences: e-mail opted in", 2},
}

// uuidV7SQL is a UUIDv7 (current Unix milliseconds, then random bits) in
// SQL: PostgreSQL 15 has no generator for it. Ids that grow with time keep
// the primary key's inserts at its right edge, as the service's own ids do,
// instead of scattering them over an index larger than the buffer cache.
const uuidV7SQL = `(substr(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0'), 1, 8) || '-' ||
  substr(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0'), 9, 4) || '-7' ||
  substr(gen_random_uuid()::text, 16))::uuid`

// seedChunk is how many profiles one INSERT gives entries to: about half a
// million rows per statement, so progress shows and an interruption loses
// little.
const seedChunk = 25_000

// ensureActivities makes the activities table hold at least want rows,
// seeding the missing ones over the tenant's profiles unless skipSeed, and
// returns about how many it holds. The planner's estimate answers when it
// is close enough (an exact count of 20M rows takes seconds, every run).
func ensureActivities(ctx context.Context, db *sql.DB, tenantID uuid.UUID, want int64, skipSeed bool, stdout, stderr io.Writer) (int64, error) {
	have, err := estimateRows(ctx, db, "activities")
	if err != nil {
		return 0, err
	}
	// The estimate of a fully vacuumed table is within a fraction of a
	// percent; a short one is counted exactly before seeding on top of it.
	if float64(have) < 0.99*float64(want) {
		if err := inTenantTx(ctx, db, tenantID, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, "SELECT count(*) FROM activities").Scan(&have)
		}); err != nil {
			return 0, fmt.Errorf("count activities: %w", err)
		}
	}
	if have >= want || skipSeed || float64(have) >= 0.99*float64(want) {
		fmt.Fprintf(stdout, "activities table holds ~%s rows (%s)\n", thousands(have), relationSize(ctx, db, "activities"))
		return have, nil
	}
	if err := seedActivities(ctx, db, tenantID, want-have, stdout, stderr); err != nil {
		return 0, err
	}
	start := time.Now()
	// As after the profile seed: fresh statistics for the planner, and hint
	// bits and the visibility map set now rather than by the first readers.
	if _, err := db.ExecContext(ctx, "VACUUM (ANALYZE) activities"); err != nil {
		return 0, fmt.Errorf("vacuum analyze activities: %w", err)
	}
	fmt.Fprintf(stdout, "VACUUM (ANALYZE) activities took %s; the table holds %s rows (%s)\n",
		time.Since(start).Round(time.Millisecond), thousands(want), relationSize(ctx, db, "activities"))
	return want, nil
}

// estimateRows is the planner's row count of a table, 0 before its first
// VACUUM or ANALYZE.
func estimateRows(ctx context.Context, db *sql.DB, table string) (int64, error) {
	var rows float64
	if err := db.QueryRowContext(ctx, "SELECT reltuples FROM pg_class WHERE oid = $1::regclass", table).Scan(&rows); err != nil {
		return 0, fmt.Errorf("estimate rows of %s: %w", table, err)
	}
	return int64(max(rows, 0)), nil
}

// relationSize is the disk space of a table with its indexes, for people.
func relationSize(ctx context.Context, db *sql.DB, table string) string {
	var size string
	if err := db.QueryRowContext(ctx, "SELECT pg_size_pretty(pg_total_relation_size($1::regclass))", table).Scan(&size); err != nil {
		return "size unknown"
	}
	return size + " with indexes"
}

// seedActivities inserts n timeline entries spread over the tenant's
// profiles, set-based: one INSERT … SELECT per chunk of profiles in id
// order. A profile's number of entries is skewed (most have a few, some
// many, as members are) by a hash of its id; occurred_at is spread over the
// past two years. When one pass over the profiles falls short, another
// follows. Progress goes to stderr, the outcome to stdout.
func seedActivities(ctx context.Context, db *sql.DB, tenantID uuid.UUID, n int64, stdout, stderr io.Writer) error {
	profiles, err := countProfiles(ctx, db, tenantID)
	if err != nil {
		return err
	}
	if profiles == 0 {
		return fmt.Errorf("seed activities: the bench tenant has no profiles")
	}
	var types, categories, channels, sources, titles []string
	for _, k := range activityKinds {
		for range k.weight {
			types, categories, channels = append(types, k.typ), append(categories, k.category), append(channels, k.channel)
			sources, titles = append(sources, k.source), append(titles, k.title)
		}
	}
	// A profile's count is round(3·mean·u²) for u uniform in [0, 1): mean
	// entries on average, from none up to three times as many. Below one
	// entry each, most profiles would round to none and a pass could add
	// nothing; the LIMIT stops at n anyway.
	mean := max(float64(n)/float64(profiles), 1)
	q := `INSERT INTO activities (id, tenant_id, customer_id, type, category, channel, title,
  source_service, source_id, metadata, occurred_at, created_at)
SELECT ` + uuidV7SQL + `, $1, r.customer_id, ($5::text[])[r.k], ($6::text[])[r.k], NULLIF(($7::text[])[r.k], ''),
  ($8::text[])[r.k], ($9::text[])[r.k], 'seed-' || (random() * 1e12)::bigint, '{"seed": true}',
  now() - random() * interval '730 days', now()
FROM (
  SELECT p.id AS customer_id, 1 + floor(random() * $10)::int AS k
  FROM (SELECT id FROM customer_profiles WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3) AS p
  CROSS JOIN LATERAL generate_series(1, round(3 * $11::float8 * power((hashtext(p.id::text) & 1023) / 1024.0, 2))::int) AS g
  LIMIT $4
) AS r`
	fmt.Fprintf(stdout, "seeding %s activities over %s profiles (~%.1f each)…\n", thousands(n), thousands(int64(profiles)), mean)
	start := time.Now()
	var done, passStart int64
	after := uuid.Nil
	for done < n {
		var last uuid.UUID
		err := inTenantTxRW(ctx, db, tenantID, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, q, tenantID, after, seedChunk, n-done,
				pq.Array(types), pq.Array(categories), pq.Array(channels), pq.Array(titles), pq.Array(sources), len(types), mean)
			if err != nil {
				return err
			}
			rows, err := res.RowsAffected()
			if err != nil {
				return err
			}
			done += rows
			// The chunk's last profile is where the next one starts; none
			// past the end.
			err = tx.QueryRowContext(ctx, `SELECT id FROM (SELECT id FROM customer_profiles WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3) AS p
ORDER BY id DESC LIMIT 1`, tenantID, after, seedChunk).Scan(&last)
			if errors.Is(err, sql.ErrNoRows) {
				last, err = uuid.Nil, nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("seed activities: %w", err)
		}
		// Past the last profile, start over from the first.
		if after = last; after == uuid.Nil {
			if done == passStart {
				return fmt.Errorf("seed activities: a pass over every profile added nothing")
			}
			passStart = done
		}
		elapsed := time.Since(start)
		rate := float64(done) / elapsed.Seconds()
		eta := time.Duration(float64(n-done) / rate * float64(time.Second))
		fmt.Fprintf(stderr, "  %s / %s activities (%.0f rows/s, %s to go)\n", thousands(done), thousands(n), rate, eta.Round(time.Second))
	}
	fmt.Fprintf(stdout, "seeded %s activities in %s\n", thousands(done), time.Since(start).Round(time.Second))
	return nil
}
