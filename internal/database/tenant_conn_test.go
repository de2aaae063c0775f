package database_test

import (
	"context"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/seed"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestTenantSwitchOnOneConnection runs every statement on one pooled
// connection, as the ordinary application role, switching between tenants,
// no tenant, transactions and raw SQL that changes the setting behind the
// driver's back. Row-level security alone (the raw query bypasses ent's
// tenant filter) must show each statement only its tenant's rows, and the
// set_config round trip must be skipped exactly when the connection already
// holds the tenant.
func TestTenantSwitchOnOneConnection(t *testing.T) {
	tg := testenv.PostgresOnly(t)
	ctx := context.Background()
	var drv dialect.Driver
	db, err := database.OpenPostgres(ctx, tg.DatabaseURL, database.WithDriverWrapper(func(d dialect.Driver) dialect.Driver {
		drv = d
		return d
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SQL.SetMaxOpenConns(1)

	orgA, err := organization.Ensure(ctx, db.Client, "switch-a", "")
	if err != nil {
		t.Fatal(err)
	}
	orgB, err := organization.Ensure(ctx, db.Client, "switch-b", "")
	if err != nil {
		t.Fatal(err)
	}
	ctxA, ctxB := tenancy.WithTenant(ctx, orgA.ID), tenancy.WithTenant(ctx, orgB.ID)
	for i, c := range []context.Context{ctxA, ctxA, ctxB} {
		if _, err := db.Client.CustomerProfile.Create().SetEmail(uuid.NewString() + "@x.co.za").SetSearchText("s").Save(c); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	// COPY (pq.CopyIn, prepared in a transaction, through staging tables as
	// row-level security binds this role) works through the wrapped
	// connector.
	if _, err := seed.Profiles(ctx, db.SQL, dialect.Postgres, orgB.ID, 5, nil); err != nil {
		t.Fatalf("seed through the wrapped connector: %v", err)
	}
	a, b := orgA.ID.String(), orgB.ID.String()

	// check reads the tenants of the visible rows through the tenant driver
	// and compares the set_config statements sent since the last check.
	last := database.SetTenantCount()
	check := func(step string, c context.Context, want map[string]int, wantSets int64) {
		t.Helper()
		var rows entsql.Rows
		if err := drv.Query(c, "SELECT tenant_id::text FROM customer_profiles", []any{}, &rows); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		got := map[string]int{}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			got[s]++
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || got[a] != want[a] || got[b] != want[b] {
			t.Errorf("%s: saw rows of tenants %v, want %v", step, got, want)
		}
		n := database.SetTenantCount()
		if wantSets >= 0 && n-last != wantSets {
			t.Errorf("%s: %d set_config statements, want %d", step, n-last, wantSets)
		}
		last = n
	}
	onlyA, onlyB, none := map[string]int{a: 2}, map[string]int{b: 6}, map[string]int{}

	check("A first", ctxA, onlyA, -1)
	check("A again", ctxA, onlyA, 0)
	check("B", ctxB, onlyB, 1)
	check("B again", ctxB, onlyB, 0)
	check("no tenant", ctx, none, 1)
	check("no tenant again", ctx, none, 0)
	check("A after no tenant", ctxA, onlyA, 1)

	// A transaction for B sets the tenant locally; afterwards the session
	// is A again, and the driver knows it.
	tx, err := db.Client.Tx(ctxB)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tx.CustomerProfile.Query().Count(ctxB); err != nil || n != 6 {
		t.Fatalf("count in B's transaction: %d, %v; want 6", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	check("A after B's transaction", ctxA, onlyA, 0)
	// ent statements through the driver (here an Exec) keep the value.
	var res entsql.Result
	if err := drv.Exec(ctxA, "UPDATE customer_profiles SET search_text = search_text", []any{}, &res); err != nil {
		t.Fatal(err)
	}
	check("A after an Exec for A", ctxA, onlyA, 0)

	// Raw SQL on the pool that sets another tenant for the session: the
	// connection forgets what it held and sets A again.
	if _, err := db.SQL.ExecContext(ctx, "SELECT set_config('rapport.tenant_id', $1, false)", b); err != nil {
		t.Fatal(err)
	}
	check("A after raw set_config to B", ctxA, onlyA, 1)
	if _, err := db.SQL.ExecContext(ctx, "SET rapport.tenant_id = '"+b+"'"); err != nil {
		t.Fatal(err)
	}
	check("A after raw SET to B", ctxA, onlyA, 1)
	// A prepared statement run later on the same connection.
	st, err := db.SQL.PrepareContext(ctx, "SELECT set_config('rapport.tenant_id', $1, false)")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	check("A after prepare", ctxA, onlyA, 1)
	if _, err := st.ExecContext(ctx, b); err != nil {
		t.Fatal(err)
	}
	check("A after prepared set_config to B", ctxA, onlyA, 1)
	check("B last", ctxB, onlyB, 1)
	check("A last", ctxA, onlyA, 1)
}

// TestStatementsArePreparedOncePerConnection: the driver's queries run as
// prepared statements cached on the connection, so a repeated lookup is
// planned once, and the cached statements keep answering per tenant.
func TestStatementsArePreparedOncePerConnection(t *testing.T) {
	tg := testenv.PostgresOnly(t)
	ctx := context.Background()
	db, err := database.OpenPostgres(ctx, tg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SQL.SetMaxOpenConns(1)
	orgA, _ := organization.Ensure(ctx, db.Client, "prep-a", "")
	orgB, _ := organization.Ensure(ctx, db.Client, "prep-b", "")
	ctxA, ctxB := tenancy.WithTenant(ctx, orgA.ID), tenancy.WithTenant(ctx, orgB.ID)
	p := db.Client.CustomerProfile.Create().SetEmail("prep@x.co.za").SetSearchText("s").SaveX(ctxA)
	prepared := func() int {
		var n int
		if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM pg_prepared_statements").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	db.Client.CustomerProfile.GetX(ctxA, p.ID)
	before := prepared()
	for range 5 {
		if got := db.Client.CustomerProfile.GetX(ctxA, p.ID); got.ID != p.ID {
			t.Fatal("wrong profile")
		}
		if n := db.Client.CustomerProfile.Query().CountX(ctxB); n != 0 {
			t.Fatalf("tenant B sees %d of A's profiles through a cached statement", n)
		}
	}
	if after := prepared(); after > before+1 {
		t.Errorf("prepared statements grew from %d to %d for repeated queries", before, after)
	}
	if before == 0 {
		t.Error("no prepared statement on the connection")
	}
}
