package database_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// copyDir copies the committed migration directory so a diff can be
// attempted without touching the repository.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestMigrationsMatchSchema fails when the ent schema changed without a new
// migration (run `make migration name=…`).
func TestMigrationsMatchSchema(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		dev, err := database.ScratchSQLite()
		if err != nil {
			t.Fatal(err)
		}
		defer dev.Close()
		dir := copyDir(t, "../../ent/migrate/migrations/sqlite")
		wrote, err := database.DiffMigrations(ctx, dialect.SQLite, dev, dir, "drift")
		if err != nil {
			t.Fatal(err)
		}
		if wrote {
			t.Fatal("the ent schema and ent/migrate/migrations/sqlite disagree: run `make migration name=<change>` and commit the result")
		}
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("RAPPORT_TEST_DATABASE_URL")
		if base == "" {
			if testenv.Required() {
				t.Fatal("RAPPORT_TEST_DATABASE_URL is required")
			}
			t.Skip("RAPPORT_TEST_DATABASE_URL not set")
		}
		dev, drop, err := database.ScratchPostgres(ctx, base, "rapport_drift_"+filepath.Base(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		defer drop()
		dir := copyDir(t, "../../ent/migrate/migrations/postgres")
		wrote, err := database.DiffMigrations(ctx, dialect.Postgres, dev, dir, "drift")
		if err != nil {
			t.Fatal(err)
		}
		if wrote {
			t.Fatal("the ent schema and ent/migrate/migrations/postgres disagree: run `make migration name=<change>` and commit the result")
		}
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	first, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) == 0 {
		t.Fatal("a new database applied no migrations")
	}
	again, err := db.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second run applied %v, err %v", again, err)
	}
}
