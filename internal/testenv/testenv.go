// Package testenv gives tests real databases: a fresh SQLite file always,
// and a fresh PostgreSQL database when RAPPORT_TEST_DATABASE_URL is set. With
// RAPPORT_TEST_REQUIRE_SERVICES=1 (CI) an unreachable service fails the test
// instead of skipping it.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/lib/pq" // PostgreSQL driver
	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/dbrow"
)

// AppRole is the ordinary (non-superuser) role the service connects as in
// PostgreSQL tests, so row-level security is really in force.
const AppRole = "rapport_app"

// Target is one database a test runs against.
type Target struct {
	// Name is "sqlite" or "postgres".
	Name string
	// DatabaseURL is empty for SQLite (use DataDir) or a postgres:// URL
	// for the application role.
	DatabaseURL string
	// DataDir is a fresh directory for the embedded database.
	DataDir string
	// AdminURL connects to the same PostgreSQL database as its owner.
	AdminURL string
	// RedisURL, when set, connects the service to Redis. The PostgreSQL
	// target carries it when RAPPORT_TEST_REDIS_URL is set: that target is
	// the production configuration.
	RedisURL string
	// RedisPrefix isolates this target's streams and channels from other
	// tests sharing the Redis server (see app.Config.RedisPrefix).
	RedisPrefix string
}

// Required reports whether CI demands the real services.
func Required() bool { return os.Getenv("RAPPORT_TEST_REQUIRE_SERVICES") == "1" }

// Targets returns SQLite and, when configured, PostgreSQL.
func Targets(t testing.TB) []Target {
	out := []Target{{Name: "sqlite", DataDir: t.TempDir()}}
	if os.Getenv("RAPPORT_TEST_DATABASE_URL") != "" || Required() {
		pg := Postgres(t)
		pg.RedisURL, pg.RedisPrefix = Redis(t)
		out = append(out, pg)
	}
	return out
}

// ForEach runs fn as a subtest per target.
func ForEach(t *testing.T, fn func(t *testing.T, tg Target)) {
	for _, tg := range Targets(t) {
		t.Run(tg.Name, func(t *testing.T) { fn(t, tg) })
	}
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// PostgresOnly is Postgres for a test that only means something on
// PostgreSQL: it skips when PostgreSQL is neither configured nor required.
func PostgresOnly(t testing.TB) Target {
	t.Helper()
	if !Required() && os.Getenv("RAPPORT_TEST_DATABASE_URL") == "" {
		t.Skip("RAPPORT_TEST_DATABASE_URL not set")
	}
	return Postgres(t)
}

// Postgres creates a fresh database, migrated by its owner, and returns a
// Target whose DatabaseURL connects as the ordinary AppRole. The database
// is dropped when the test ends.
func Postgres(t testing.TB) Target {
	t.Helper()
	base := os.Getenv("RAPPORT_TEST_DATABASE_URL")
	if base == "" {
		t.Fatal("RAPPORT_TEST_DATABASE_URL is required (RAPPORT_TEST_REQUIRE_SERVICES=1)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		if Required() {
			t.Fatalf("PostgreSQL at RAPPORT_TEST_DATABASE_URL is unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	name := "rapport_t_" + randomSuffix()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	// The role is cluster-wide; creating it races between parallel test
	// binaries, so a duplicate is fine.
	_, _ = admin.ExecContext(ctx, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '"+AppRole+"') THEN CREATE ROLE "+AppRole+" LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD 'rapport'; END IF; END $$")
	t.Cleanup(func() {
		c, err := sql.Open("postgres", base)
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	ownerURL, err := database.WithDatabase(base, name)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := database.OpenPostgres(ctx, ownerURL)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	defer owner.Close()
	if _, err := owner.Migrate(ctx); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	for _, s := range []string{
		"GRANT USAGE ON SCHEMA public TO " + AppRole,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + AppRole,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + AppRole,
	} {
		if _, err := owner.SQL.ExecContext(ctx, s); err != nil {
			t.Fatalf("grant: %v", err)
		}
	}
	u, _ := url.Parse(ownerURL)
	u.User = url.UserPassword(AppRole, "rapport")
	return Target{Name: "postgres", DatabaseURL: u.String(), AdminURL: ownerURL, DataDir: t.TempDir()}
}

// SQLiteFile returns the path of the embedded database of a target.
func (tg Target) SQLiteFile() string { return filepath.Join(tg.DataDir, "rapport.db") }

// Redis returns the test Redis URL and a fresh key prefix whose keys are
// deleted when the test ends; the URL is empty when Redis is not configured
// (and the test fails instead when CI requires the services).
func Redis(t testing.TB) (url, prefix string) {
	t.Helper()
	url = os.Getenv("RAPPORT_TEST_REDIS_URL")
	if url == "" {
		if Required() {
			t.Fatal("RAPPORT_TEST_REDIS_URL is required (RAPPORT_TEST_REQUIRE_SERVICES=1)")
		}
		return "", ""
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("RAPPORT_TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		t.Fatalf("redis unreachable: %v", err)
	}
	prefix = "test:" + randomSuffix() + ":"
	t.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
	})
	return url, prefix
}

// RedisClient is Redis with a client on it, closed when the test ends; the
// test is skipped when Redis is not configured (and fails when CI requires
// the services).
func RedisClient(t testing.TB) (client *redis.Client, url, prefix string) {
	t.Helper()
	url, prefix = Redis(t)
	if url == "" {
		t.Skip("RAPPORT_TEST_REDIS_URL not set")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("RAPPORT_TEST_REDIS_URL: %v", err)
	}
	client = redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	return client, url, prefix
}

// Open opens the target's database, applies the migrations and installs the
// audit hook, as the service does; it is closed when the test ends.
func Open(t testing.TB, tg Target) *database.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, tg.DatabaseURL, tg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.Client.Use(audit.Hook())
	return db
}

// EstablishedOrganization gives the organization n bare profiles, inserted
// and analyzed by the database's owner, so the statistics know it as the
// large tenant beside which a plan test adds a new one.
func EstablishedOrganization(t testing.TB, tg Target, tenantID uuid.UUID, n int) {
	t.Helper()
	owner, err := sql.Open("postgres", tg.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	ctx := context.Background()
	if _, err := owner.ExecContext(ctx, `INSERT INTO customer_profiles (id, tenant_id, created_at, updated_at, external_ids, status, lifecycle_stage, lifetime_value, activity_count_30d, booking_count_30d, email_opt_in, sms_opt_in, push_opt_in, whatsapp_opt_in, search_text)
		SELECT gen_random_uuid(), $1, now(), now(), '{}', 'ACTIVE', 'PROSPECT', 0, 0, 0, false, false, false, false, 'member ' || i
		FROM generate_series(1, $2::int) AS i`, tenantID, n); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.ExecContext(ctx, "ANALYZE customer_profiles, activities"); err != nil {
		t.Fatal(err)
	}
}

// CreateProfiles creates n profiles in the context's organization, 500 per
// statement, each as set (which may be nil) shapes it, and returns their ids.
func CreateProfiles(t testing.TB, ctx context.Context, client *ent.Client, n int, set func(i int, c *ent.CustomerProfileCreate)) []uuid.UUID {
	t.Helper()
	builders := make([]*ent.CustomerProfileCreate, n)
	for i := range builders {
		builders[i] = client.CustomerProfile.Create()
		if set != nil {
			set(i, builders[i])
		}
	}
	ids := make([]uuid.UUID, 0, n)
	for part := range slices.Chunk(builders, 500) {
		saved, err := client.CustomerProfile.CreateBulk(part...).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range saved {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

// Plan returns PostgreSQL's plan for q, one line per plan line.
func Plan(t testing.TB, ctx context.Context, db dbrow.Querier, q string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(ctx, "EXPLAIN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}

// ReadsByTenantIndex reports whether a plan walks an organization through
// an index on its tenant, which a statement about chosen profiles must not.
func ReadsByTenantIndex(plan string) bool {
	return strings.Contains(plan, "Index Cond: (tenant_id") || strings.Contains(plan, "Index Cond: ((tenant_id")
}
