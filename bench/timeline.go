package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
)

// heavyActivities is how many timeline entries the measured customer has.
const heavyActivities = 10_000

const timelineQuery = `query($id: ID!) { customer(id: $id) { id timeline(first: 20) {
  edges { node { id type title occurredAt } } pageInfo { endCursor hasNextPage } } } }`

// ensureHeavyCustomer returns the customer of the tenant with at least
// heavyActivities timeline entries: the tenant's first profile by id, so
// that finding it again is one index probe rather than a count over the
// whole activities table. Missing entries are added set-based, in one
// statement.
func ensureHeavyCustomer(ctx context.Context, db *sql.DB, tenantID uuid.UUID, stdout io.Writer) (string, error) {
	var id string
	err := inTenantTxRW(ctx, db, tenantID, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT id FROM customer_profiles WHERE tenant_id = $1 ORDER BY id LIMIT 1", tenantID).Scan(&id); err != nil {
			return err
		}
		var have int
		// Counted on the timeline's own index: one customer's entries only.
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM activities WHERE customer_id = $1", id).Scan(&have); err != nil {
			return err
		}
		missing := heavyActivities - have
		if missing <= 0 {
			return nil
		}
		start := time.Now()
		_, err := tx.ExecContext(ctx, `INSERT INTO activities (id, tenant_id, customer_id, type, category, title,
  source_service, source_id, metadata, occurred_at, created_at)
SELECT `+uuidV7SQL+`, $1, $2, 'TEETIME_BOOKED', 'BOOKING', 'Booked a tee time at the Championship course',
  'teetime', 'bench-' || g, '{"courseName":"Championship"}', now() - g * interval '37 minutes', now()
FROM generate_series(1, $3) AS g`, tenantID, id, missing)
		if err == nil {
			fmt.Fprintf(stdout, "gave customer %s %d more timeline entries in %s\n", id, missing, time.Since(start).Round(time.Millisecond))
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("heavy customer: %w", err)
	}
	return id, nil
}

// inTenantTxRW runs fn in a read-write transaction scoped to the tenant.
func inTenantTxRW(ctx context.Context, db *sql.DB, tenantID uuid.UUID, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT set_config('rapport.tenant_id', $1, true)", tenantID.String()); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// checkTimeline accepts a first timeline page of the customer.
func checkTimeline(data []byte, wantID string) error {
	var d struct {
		Customer *struct {
			ID       string `json:"id"`
			Timeline struct {
				Edges []json.RawMessage `json:"edges"`
			} `json:"timeline"`
		} `json:"customer"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("decode data: %w", err)
	}
	if d.Customer == nil || d.Customer.ID != wantID || len(d.Customer.Timeline.Edges) != 20 {
		return errors.New("timeline page is not 20 entries of the customer")
	}
	return nil
}

// checkResolve accepts a resolveCustomer answer naming the profile.
func checkResolve(data []byte, wantID string) error {
	var d struct {
		ResolveCustomer struct {
			Customer *struct {
				ID string `json:"id"`
			} `json:"customer"`
		} `json:"resolveCustomer"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("decode data: %w", err)
	}
	if d.ResolveCustomer.Customer == nil || d.ResolveCustomer.Customer.ID != wantID {
		return errors.New("resolveCustomer did not find the profile")
	}
	return nil
}
