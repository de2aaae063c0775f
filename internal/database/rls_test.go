package database_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestRowLevelSecurity proves the PostgreSQL backstop: connected as the
// ordinary application role, a raw query without the tenant setting sees no
// row, with another tenant's setting sees only that tenant's rows, and a row
// cannot be written into another tenant.
func TestRowLevelSecurity(t *testing.T) {
	tg := testenv.PostgresOnly(t)
	ctx := context.Background()
	db, err := database.OpenPostgres(ctx, tg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate as application role: %v", err)
	}
	orgA, err := organization.Ensure(ctx, db.Client, "rls-a", "")
	if err != nil {
		t.Fatal(err)
	}
	orgB, err := organization.Ensure(ctx, db.Client, "rls-b", "")
	if err != nil {
		t.Fatal(err)
	}
	for i, org := range []uuid.UUID{orgA.ID, orgA.ID, orgB.ID} {
		_, err := db.Client.CustomerProfile.Create().SetEmail(uuid.NewString() + "@x.co.za").
			SetSearchText("r").Save(tenancy.WithTenant(ctx, org))
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	count := func(setting string) int {
		conn, err := db.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT set_config('rapport.tenant_id', $1, false)", setting); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM customer_profiles").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	raw, err := sql.Open("postgres", tg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRowContext(ctx, "SELECT count(*) FROM customer_profiles").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("a raw query without the tenant setting saw %d rows; want 0", n)
	}
	if got := count(orgA.ID.String()); got != 2 {
		t.Fatalf("tenant A sees %d rows, want 2", got)
	}
	if got := count(orgB.ID.String()); got != 1 {
		t.Fatalf("tenant B sees %d rows, want 1", got)
	}
	// Writing a row for tenant B while scoped to tenant A is refused.
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT set_config('rapport.tenant_id', $1, true)", orgA.ID.String()); err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO customer_profiles (id, tenant_id, created_at, updated_at, external_ids, status, lifecycle_stage, lifetime_value, activity_count_30d, booking_count_30d, email_opt_in, sms_opt_in, push_opt_in, whatsapp_opt_in, search_text)
		VALUES ($1, $2, now(), now(), '{}', 'ACTIVE', 'PROSPECT', 0, 0, 0, false, false, false, false, '')`, uuid.New(), orgB.ID)
	if err == nil {
		t.Fatal("inserting another tenant's row succeeded; row-level security should refuse it")
	}
}

// TestIndexedConditionsUnderRLS checks that free-text search and the
// duplicate check's probe, run as the ordinary application role, are still
// answered from their indexes: the migration (run by a superuser here)
// marks LIKE and split_part leakproof, or row-level security would make
// them read every profile of the tenant or of the last name.
func TestIndexedConditionsUnderRLS(t *testing.T) {
	tg := testenv.PostgresOnly(t)
	ctx := context.Background()
	raw, err := sql.Open("postgres", tg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	tenant := uuid.NewString()
	if _, err := tx.ExecContext(ctx, "SELECT set_config('rapport.tenant_id', $1, true)", tenant); err != nil {
		t.Fatal(err)
	}
	// Enough profiles of the tenant, analyzed, for the planner to prefer the
	// trigram index for a rare term; were LIKE not leakproof, it could not
	// use it whatever it cost.
	if _, err := tx.ExecContext(ctx, `INSERT INTO customer_profiles (id, tenant_id, created_at, updated_at, external_ids, status, lifecycle_stage, lifetime_value, activity_count_30d, booking_count_30d, email_opt_in, sms_opt_in, push_opt_in, whatsapp_opt_in, search_text)
		SELECT gen_random_uuid(), $1, now(), now(), '{}', 'ACTIVE', 'PROSPECT', 0, 0, 0, false, false, false, false, 'member ' || md5(i::text)
		FROM generate_series(1, 5000) AS i`, tenant); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	owner, err := sql.Open("postgres", tg.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	// VACUUM also moves the new rows out of the trigram index's pending
	// list, which the planner would otherwise cost as read for every search.
	if _, err := owner.ExecContext(ctx, "VACUUM ANALYZE customer_profiles"); err != nil {
		t.Fatal(err)
	}
	tx, err = raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT set_config('rapport.tenant_id', $1, true)", tenant); err != nil {
		t.Fatal(err)
	}
	// Small as it is, the table is still read whole unless told otherwise;
	// the tenant's own indexes then compete on cost alone.
	if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	plan := testenv.Plan(t, ctx, tx, "SELECT id FROM customer_profiles WHERE tenant_id = $1 AND search_text LIKE '%qzxvwjkqzxvwjk%'", tenant)
	// The duplicate check's probe: split_part must be part of the index
	// condition, not a filter over every profile of the last name.
	dup := testenv.Plan(t, ctx, tx, "SELECT id FROM customer_profiles WHERE tenant_id = $1 AND last_name = 'Smith' AND split_part(email, '@', 2) = 'club.co.za'", tenant)
	if !strings.Contains(dup, "Index Cond: ((tenant_id = ") || !strings.Contains(dup, "split_part((email)::text") || strings.Contains(dup, "Filter: (split_part") {
		t.Errorf("the duplicate check as the application role does not probe the name and domain index with the domain:\n%s", dup)
	}
	if !strings.Contains(plan, "customer_profiles_search_trgm") {
		t.Fatalf("search as the application role does not use the trigram index:\n%s", plan)
	}
}

// TestFirstPolicyFormReplaced checks the upgrade path: a table whose policy
// has the first form (tenant_id::text = current_setting(...)) gets the
// current one when its owner migrates.
func TestFirstPolicyFormReplaced(t *testing.T) {
	tg := testenv.PostgresOnly(t)
	ctx := context.Background()
	owner, err := database.OpenPostgres(ctx, tg.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	for _, q := range []string{
		"DROP POLICY tenant_isolation ON activities",
		"CREATE POLICY tenant_isolation ON activities USING (tenant_id::text = current_setting('rapport.tenant_id', true)) WITH CHECK (tenant_id::text = current_setting('rapport.tenant_id', true))",
	} {
		if _, err := owner.SQL.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := owner.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var qual, check string
	if err := owner.SQL.QueryRowContext(ctx, "SELECT qual, with_check FROM pg_policies WHERE tablename = 'activities' AND policyname = 'tenant_isolation'").Scan(&qual, &check); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{qual, check} {
		if strings.Contains(e, "::text = current_setting") || !strings.Contains(e, "NULLIF") {
			t.Errorf("policy after migrating is %q, want the current form", e)
		}
	}
}
