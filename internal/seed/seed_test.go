package seed

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	_ "github.com/lib/pq"
	"modernc.org/sqlite"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/migrate"
	_ "github.com/rapportcrm/rapport/ent/runtime"
	"github.com/rapportcrm/rapport/internal/identity"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

var (
	bulk     = flag.Int("seed.bulk", 0, "with RAPPORT_TEST_DATABASE_URL: seed this many profiles into a scratch schema and report the time")
	bulkTrgm = flag.Bool("seed.trgm", false, "with -seed.bulk: add the trigram search index the production schema has")
	bulkRLS  = flag.Bool("seed.rls", false, "with -seed.bulk: seed as an ordinary role under row-level security")
)

var registerSQLite sync.Once

func openSQLite(t *testing.T, name string) (*sql.DB, *ent.Client) {
	t.Helper()
	registerSQLite.Do(func() {
		for _, d := range sql.Drivers() {
			if d == "sqlite3" {
				return
			}
		}
		sql.Register("sqlite3", &sqlite.Driver{})
	})
	db, err := sql.Open("sqlite3", "file:"+name+"?mode=memory&cache=shared&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, db)))
	t.Cleanup(func() { client.Close() })
	if err := client.Schema.Create(tenancy.WithSystem(context.Background())); err != nil {
		t.Fatal(err)
	}
	return db, client
}

func TestSQLiteTwice(t *testing.T) {
	ctx := context.Background()
	db, client := openSQLite(t, "seed_test")
	tid := uuid.New()

	st, err := Profiles(ctx, db, dialect.SQLite, tid, 2000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Profiles != 2000 || st.Aliases != 4000 {
		t.Fatalf("first run wrote %+v, want 2000 profiles and 4000 aliases", st)
	}
	// The second run draws the bar, so the progress path is exercised too.
	if _, err := Profiles(ctx, db, dialect.SQLite, tid, 2000, io.Discard); err != nil {
		t.Fatalf("second run: %v", err)
	}

	tctx := tenancy.WithTenant(ctx, tid)
	n, err := client.CustomerProfile.Query().Count(tctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4000 {
		t.Errorf("%d profiles through ent, want 4000", n)
	}
	if n := client.IdentityAlias.Query().CountX(tctx); n != 8000 {
		t.Errorf("%d aliases through ent, want 8000", n)
	}
	if n := client.CustomerProfile.Query().CountX(tenancy.WithTenant(ctx, uuid.New())); n != 0 {
		t.Errorf("another tenant sees %d profiles", n)
	}
	var distinctEmails, distinctPhones int
	if err := db.QueryRow(`SELECT count(DISTINCT email), count(DISTINCT phone_number) FROM customer_profiles`).Scan(&distinctEmails, &distinctPhones); err != nil {
		t.Fatal(err)
	}
	if distinctEmails != 4000 || distinctPhones != 4000 {
		t.Errorf("%d distinct e-mails and %d distinct phones, want 4000 each", distinctEmails, distinctPhones)
	}

	// Every column reads back through ent.
	ps, err := client.CustomerProfile.Query().Limit(200).All(tctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		checkProfile(t, p, tid)
	}
	a := client.IdentityAlias.Query().FirstX(tctx)
	if !a.Primary || a.Source != aliasSource || a.CreatedAt.IsZero() {
		t.Errorf("alias %+v", a)
	}
}

func checkProfile(t *testing.T, p *ent.CustomerProfile, tid uuid.UUID) {
	t.Helper()
	if p.TenantID != tid {
		t.Errorf("tenant %s, want %s", p.TenantID, tid)
	}
	if p.Email == nil || p.PhoneNumber == nil || p.FirstName == nil || p.LastName == nil || p.DisplayName == nil {
		t.Fatalf("missing keys or names: %+v", p)
	}
	if e, err := identity.NormalizeEmail(*p.Email); err != nil || e != *p.Email {
		t.Errorf("e-mail %q normalizes to %q, %v", *p.Email, e, err)
	}
	if ph, err := identity.NormalizePhone(*p.PhoneNumber, "ZA"); err != nil || ph != *p.PhoneNumber {
		t.Errorf("phone %q normalizes to %q, %v", *p.PhoneNumber, ph, err)
	}
	if want := identity.SearchText(*p.FirstName, *p.LastName, *p.DisplayName, *p.Email, *p.PhoneNumber); p.SearchText != want {
		t.Errorf("search text %q, want %q", p.SearchText, want)
	}
	if p.Attributes["seed"] != true || p.Tags == nil {
		t.Errorf("attributes %v, tags %v", p.Attributes, p.Tags)
	}
	if p.CreatedAt.IsZero() || p.UpdatedAt.Before(p.CreatedAt) {
		t.Errorf("updated %v before created %v", p.UpdatedAt, p.CreatedAt)
	}
}

func TestPhoneRange(t *testing.T) {
	for _, k := range []int64{0, 1, 12_345_678, phoneSpace - 1} {
		g := newGenerator(uuid.New(), k, time.Now())
		rw, err := g.next(0)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := rw.phone.(string)
		if !ok {
			t.Fatalf("index %d: no phone", k)
		}
		if n, err := identity.NormalizePhone(p, "ZA"); err != nil || n != p {
			t.Errorf("index %d: %q normalizes to %q, %v", k, p, n, err)
		}
	}
	g := newGenerator(uuid.New(), phoneSpace-1, time.Now())
	if rw, _ := g.next(1); rw.phone != nil {
		t.Errorf("past the range: phone %v, want none", rw.phone)
	}
}

// postgres returns a connection to a fresh schema of the test database and
// drops the schema when the test ends. It skips without
// RAPPORT_TEST_DATABASE_URL.
func postgres(t testing.TB) (dsn string, db *sql.DB, client *ent.Client) {
	t.Helper()
	base := os.Getenv("RAPPORT_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("RAPPORT_TEST_DATABASE_URL not set")
	}
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := fmt.Sprintf("seed_test_%d_%08x", time.Now().Unix(), rand.Uint32())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn = u.String()
	db, err = sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	client = ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, db)))
	t.Cleanup(func() { client.Close() })
	if err := client.Schema.Create(tenancy.WithSystem(context.Background())); err != nil {
		t.Fatal(err)
	}
	return dsn, db, client
}

// enableRLS applies the service's tenant policy to the schema's tables and
// returns a DSN for an ordinary role the policy binds, so the test proves the
// seeder sets the tenant the way the policies expect.
func enableRLS(t *testing.T, db *sql.DB, dsn string) string {
	t.Helper()
	var schema string
	if err := db.QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	role := schema + "_app"
	stmts := []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
	}
	for _, table := range migrate.Tables {
		for _, c := range table.Columns {
			if c.Name != "tenant_id" {
				continue
			}
			stmts = append(stmts,
				"ALTER TABLE "+table.Name+" ENABLE ROW LEVEL SECURITY",
				"ALTER TABLE "+table.Name+" FORCE ROW LEVEL SECURITY",
				"CREATE POLICY tenant_isolation ON "+table.Name+" USING (tenant_id = (SELECT NULLIF(current_setting('rapport.tenant_id', true), '')::uuid)) WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('rapport.tenant_id', true), '')::uuid))")
		}
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		// This runs before the schema is dropped (cleanups run last-in
		// first-out), so the grants still exist and must go first.
		_, _ = db.Exec("REVOKE ALL ON ALL TABLES IN SCHEMA " + schema + " FROM " + role)
		_, _ = db.Exec("REVOKE ALL ON SCHEMA " + schema + " FROM " + role)
		if _, err := db.Exec("DROP ROLE " + role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}

func TestPostgres(t *testing.T) {
	ctx := context.Background()
	dsn, db, client := postgres(t)
	appDSN := enableRLS(t, db, dsn)
	app, err := sql.Open("postgres", appDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	tid, other := uuid.New(), uuid.New()
	st, err := Profiles(ctx, app, dialect.Postgres, tid, 20_000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Profiles != 20_000 || st.Aliases != 40_000 {
		t.Fatalf("wrote %+v, want 20000 profiles and 40000 aliases", st)
	}
	if _, err := Profiles(ctx, app, dialect.Postgres, tid, 1500, nil); err != nil {
		t.Fatalf("second run: %v", err)
	}
	// The schema owner is not bound by row-level security, so this run
	// copies straight into the tables instead of through staging tables.
	if _, err := Profiles(ctx, db, dialect.Postgres, other, 10, nil); err != nil {
		t.Fatalf("other tenant: %v", err)
	}
	t.Logf("20,000 profiles in %v", st.Elapsed)

	// The test client connects as the schema owner (a superuser here), so
	// ent's own tenant filter is what scopes these counts.
	tctx := tenancy.WithTenant(ctx, tid)
	if n := client.CustomerProfile.Query().CountX(tctx); n != 21_500 {
		t.Errorf("%d profiles, want 21500", n)
	}
	if n := client.IdentityAlias.Query().CountX(tctx); n != 43_000 {
		t.Errorf("%d aliases, want 43000", n)
	}
	if n := client.CustomerProfile.Query().CountX(tenancy.WithTenant(ctx, other)); n != 10 {
		t.Errorf("other tenant has %d profiles, want 10", n)
	}
	ps, err := client.CustomerProfile.Query().Limit(200).All(tctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		checkProfile(t, p, tid)
	}
	// Without the tenant setting the ordinary role sees nothing.
	var visible int
	if err := app.QueryRow("SELECT count(*) FROM customer_profiles").Scan(&visible); err != nil {
		t.Fatal(err)
	}
	if visible != 0 {
		t.Errorf("row-level security let %d rows through without a tenant", visible)
	}
}

// TestPostgresBulk times a large run, e.g. with RAPPORT_TEST_DATABASE_URL set:
// go test ./internal/seed -run PostgresBulk -v -timeout 30m -seed.bulk=1000000 [-seed.trgm] [-seed.rls]
func TestPostgresBulk(t *testing.T) {
	if *bulk <= 0 {
		t.Skip("-seed.bulk not set")
	}
	dsn, db, _ := postgres(t)
	if *bulkTrgm {
		// An extension lives in one schema per database. Use it where it
		// is, or install it in the scratch schema so that dropping the
		// schema leaves the database as it was.
		var ext string
		err := db.QueryRow("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'").Scan(&ext)
		if errors.Is(err, sql.ErrNoRows) {
			if err = db.QueryRow("SELECT current_schema()").Scan(&ext); err == nil {
				_, err = db.Exec("CREATE EXTENSION pg_trgm WITH SCHEMA " + ext)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("CREATE INDEX customer_profiles_search_trgm ON customer_profiles USING gin (search_text " + ext + ".gin_trgm_ops)"); err != nil {
			t.Fatal(err)
		}
	}
	if *bulkRLS {
		app, err := sql.Open("postgres", enableRLS(t, db, dsn))
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		db = app
	}
	var progress io.Writer
	if testing.Verbose() {
		progress = os.Stderr
	}
	st, err := Profiles(context.Background(), db, dialect.Postgres, uuid.New(), *bulk, progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d profiles and %d aliases in %v (%.0f profiles/s; trigram index %v, row-level security %v)",
		st.Profiles, st.Aliases, st.Elapsed.Round(time.Millisecond), float64(st.Profiles)/st.Elapsed.Seconds(), *bulkTrgm, *bulkRLS)
}
