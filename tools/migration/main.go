// Command migration writes a new versioned migration for each dialect when
// the ent schema differs from ent/migrate/migrations (make migration name=…).
// The PostgreSQL diff needs a server: RAPPORT_DEV_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; a scratch
// database is created next to it and dropped afterwards.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"entgo.io/ent/dialect"

	"github.com/rapportcrm/rapport/internal/database"
)

func main() {
	name := flag.String("name", "", "migration name, e.g. add_segments")
	flag.Parse()
	if *name == "" {
		fmt.Fprintln(os.Stderr, "usage: migration -name NAME")
		os.Exit(2)
	}
	if err := run(context.Background(), *name); err != nil {
		fmt.Fprintln(os.Stderr, "migration:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, name string) error {
	lite, err := database.ScratchSQLite()
	if err != nil {
		return err
	}
	defer lite.Close()
	wrote, err := database.DiffMigrations(ctx, dialect.SQLite, lite, "ent/migrate/migrations/sqlite", name)
	if err != nil {
		return err
	}
	fmt.Println("sqlite:", verdict(wrote))

	admin := os.Getenv("RAPPORT_DEV_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	pg, drop, err := database.ScratchPostgres(ctx, admin, fmt.Sprintf("rapport_migration_dev_%d", os.Getpid()))
	if err != nil {
		return err
	}
	defer drop()
	wrote, err = database.DiffMigrations(ctx, dialect.Postgres, pg, "ent/migrate/migrations/postgres", name)
	if err != nil {
		return err
	}
	fmt.Println("postgres:", verdict(wrote))
	return nil
}

func verdict(wrote bool) string {
	if wrote {
		return "new migration written"
	}
	return "schema and migrations agree"
}
