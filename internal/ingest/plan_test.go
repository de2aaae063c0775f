package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestBatchPlansIgnoreStaleStatistics: the statements that lock and update a
// batch's profiles probe them by id even for an organization the
// statistics think empty, as a new club's first import or events find it
// until the next ANALYZE.
func TestBatchPlansIgnoreStaleStatistics(t *testing.T) {
	tg := testenv.PostgresOnly(t)
	db := testenv.Open(t, tg)
	ctx := context.Background()
	old, err := organization.Ensure(ctx, db.Client, "old-club", "Old Club")
	if err != nil {
		t.Fatal(err)
	}
	club, err := organization.Ensure(ctx, db.Client, "new-club", "New Club")
	if err != nil {
		t.Fatal(err)
	}
	testenv.EstablishedOrganization(t, tg, old.ID, 20000)
	tctx := tenancy.WithTenant(ctx, club.ID)
	ids := testenv.CreateProfiles(t, tctx, db.Client, 2000, func(i int, c *ent.CustomerProfileCreate) { c.SetLastName(fmt.Sprintf("m%d", i)) })
	ids = ids[:300]
	tx, err := db.Client.Tx(tctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	check := func(what, q string, args ...any) {
		t.Helper()
		// On a table this small a sequential scan may be cheapest; what
		// must not happen is a walk of the organization by a tenant index,
		// costed as empty.
		if plan := testenv.Plan(t, tctx, tx, q, args...); testenv.ReadsByTenantIndex(plan) {
			t.Errorf("%s reads the new organization by its tenant index:\n%s", what, plan)
		}
	}
	sids := make([]string, len(ids))
	zeros := make([]int64, len(ids))
	for i, id := range ids {
		sids[i] = id.String()
	}
	check("lock", lockSQL, club.ID, pq.Array(sids))
	check("metrics", metricsSQL, time.Now(), club.ID, pq.Array(sids), pq.Array(make([]string, len(ids))), pq.Array(zeros), pq.Array(zeros), pq.Array(zeros))
	muts := make([]ent.Mutation, len(ids))
	for i := range muts {
		muts[i] = tx.CustomerProfile.Update().SetFirstName("Ann").Mutation()
	}
	err = pgBulkUpdate(tctx, func(ctx context.Context, q string, args ...any) error {
		check("facts", q, args...)
		return nil
	}, "customer_profiles", factColumns, club.ID, ids, muts)
	if err != nil {
		t.Fatal(err)
	}
}
