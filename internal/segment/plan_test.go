package segment_test

import (
	"context"
	"testing"

	st "github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/segment"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestPreviewIsPlannedForItsValues: a preview's statements are planned for
// the rules' values every time, not kept prepared on the connection, where
// PostgreSQL may switch to a generic plan after five runs (on 1,000,000
// profiles, counting the 2,339 suspended Gold members took 190 ms with it
// against 40 ms). The same count through ent without the mark is kept prepared,
// which shows the test sees the cache.
func TestPreviewIsPlannedForItsValues(t *testing.T) {
	tg := testenv.PostgresOnly(t)
	db := testenv.Open(t, tg)
	db.SQL.SetMaxOpenConns(1)
	bg := context.Background()
	org, err := organization.Ensure(bg, db.Client, "plans", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := tenancy.WithTenant(bg, org.ID)
	for i, tier := range []string{"Gold", "Silver", "Platinum"} {
		db.Client.CustomerProfile.Create().SetMembershipStatus("ACTIVE").SetMembershipTier(tier).
			SetSearchText("p" + string(rune('a'+i))).SaveX(ctx)
	}
	svc := segment.NewService(db.Client, db.Dialect, nil)
	rs := rules(t, `[{"field":"membershipStatus","operator":"eq","value":"ACTIVE"},
		{"field":"membershipTier","operator":"in","value":["Gold","Platinum"]}]`)
	prepared := func() int {
		t.Helper()
		var n int
		if err := db.SQL.QueryRowContext(bg, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT %membership_tier%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 7 {
		n, members, err := svc.Preview(ctx, st.And, rs, 10)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 || len(members) != 2 {
			t.Fatalf("preview: %d matches, %d members; want 2 and 2", n, len(members))
		}
	}
	if n := prepared(); n != 0 {
		t.Errorf("%d preview statements kept prepared on the connection", n)
	}
	r, err := svc.Compile(ctx, "rules", st.And, rs)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		db.Client.CustomerProfile.Query().Where(segment.Predicate(r)).CountX(ctx)
	}
	if n := prepared(); n != 1 {
		t.Errorf("the unmarked count: %d prepared statements, want 1", n)
	}
}
