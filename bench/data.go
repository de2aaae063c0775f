package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/internal/database"
)

// sample is a profile the requests ask for.
type sample struct {
	id    string
	email string
}

// inTenantTx runs fn in a read-only transaction scoped to the tenant, so the
// queries see the tenant's rows whether or not row-level security applies to
// the connecting role.
func inTenantTx(ctx context.Context, db *sql.DB, tenantID uuid.UUID, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT set_config('"+database.TenantSetting+"', $1, true)", tenantID.String()); err != nil {
		return fmt.Errorf("set tenant: %w", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// countProfiles returns how many profiles the tenant holds.
func countProfiles(ctx context.Context, db *sql.DB, tenantID uuid.UUID) (int, error) {
	var n int
	err := inTenantTx(ctx, db, tenantID, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM customer_profiles WHERE tenant_id = $1", tenantID).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count profiles: %w", err)
	}
	return n, nil
}

// sampleProfiles draws up to n random profiles of the tenant that have an
// e-mail, in random order. Block sampling reads a few percent of a large
// table instead of sorting all of it; when that yields too few rows (a small
// table, or one the tenant shares) every row is drawn from instead.
func sampleProfiles(ctx context.Context, db *sql.DB, tenantID uuid.UUID, n int) ([]sample, error) {
	var out []sample
	err := inTenantTx(ctx, db, tenantID, func(tx *sql.Tx) error {
		var rows float64
		// reltuples is the planner's row estimate: -1 before the first ANALYZE.
		if err := tx.QueryRowContext(ctx, "SELECT reltuples FROM pg_class WHERE oid = 'customer_profiles'::regclass").Scan(&rows); err != nil {
			return err
		}
		if rows > 0 {
			// Twice the share needed, so that a sample of whole pages
			// nearly always holds enough rows.
			percent := min(100, 100*2*float64(n)/rows)
			s, err := queryProfiles(ctx, tx, "SELECT id, email FROM customer_profiles TABLESAMPLE SYSTEM ($2) WHERE tenant_id = $1 AND email IS NOT NULL", tenantID, percent)
			if err != nil {
				return err
			}
			out = s
		}
		if len(out) >= n {
			return nil
		}
		s, err := queryProfiles(ctx, tx, "SELECT id, email FROM customer_profiles WHERE tenant_id = $1 AND email IS NOT NULL ORDER BY random() LIMIT $2", tenantID, n)
		out = s
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sample profiles: %w", err)
	}
	// Pages come back in physical order; shuffle so that a prefix is random.
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(n, len(out))], nil
}

// queryProfiles runs a query returning (id, email) rows.
func queryProfiles(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]sample, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sample
	for rows.Next() {
		var s sample
		if err := rows.Scan(&s.id, &s.email); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// activePeople returns up to n profiles of the tenant that have an e-mail,
// the same ones every run: the members the upstream systems report on. A
// hash of the id picks one profile in every `every`, spread over the whole
// table as active members are, and stable (the profiles a run creates
// change neither the stride nor the choice) so that the upstream ids a run
// links to them are already linked on the next.
func activePeople(ctx context.Context, db *sql.DB, tenantID uuid.UUID, n, every int) ([]sample, error) {
	var out []sample
	err := inTenantTx(ctx, db, tenantID, func(tx *sql.Tx) error {
		s, err := queryProfiles(ctx, tx, `SELECT id, email FROM customer_profiles
WHERE tenant_id = $1 AND email IS NOT NULL AND abs(hashtext(id::text)) % $2 = 0 LIMIT $3`, tenantID, max(1, every), n)
		out = s
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("active people: %w", err)
	}
	return out, nil
}
