package database

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"

	entmigrate "github.com/rapportcrm/rapport/ent/migrate"
)

// DiffMigrations replays the migration directory dirPath onto the empty dev
// database, compares the result with the ent schema and, when they differ,
// writes a new migration file named name. It reports whether it wrote one.
// The dev database must be empty: it is scratch space.
func DiffMigrations(ctx context.Context, dialectName string, dev *sql.DB, dirPath, name string) (bool, error) {
	before, err := os.ReadDir(dirPath)
	if err != nil {
		return false, err
	}
	dir, err := atlas.NewLocalDir(dirPath)
	if err != nil {
		return false, err
	}
	drv := entsql.OpenDB(dialectName, dev)
	m, err := schema.NewMigrate(drv,
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialectName),
		schema.WithFormatter(atlas.DefaultFormatter),
		schema.WithDropIndex(true),
		schema.WithDropColumn(true),
	)
	if err == nil {
		err = m.NamedDiff(ctx, name, desiredTables(dialectName)...)
	}
	if err != nil {
		return false, fmt.Errorf("diff %s migrations: %w", dialectName, err)
	}
	after, err := os.ReadDir(dirPath)
	if err != nil {
		return false, err
	}
	return len(after) != len(before), nil
}

// withoutForeignKey lists the foreign keys the PostgreSQL schema leaves out
// although ent declares the edge. Each would make every activity and
// identity key inserted take a key-share lock on its profile's row (and
// write it): at thousands of events a second on the same busy profiles
// that lock traffic cost more than the check was worth. The code that
// removes a profile removes its activities and keys itself, under the
// profile's row lock, and ingestion checks its profiles still exist when
// it locks them (ingest.lockProfiles). SQLite, a single writer, keeps them.
var withoutForeignKey = map[string]bool{
	"activities_customer_profiles_activities":    true,
	"identity_aliases_customer_profiles_aliases": true,
}

// desiredTables is ent's schema as the migrations of the dialect hold it.
func desiredTables(dialectName string) []*schema.Table {
	if dialectName != dialect.Postgres {
		return entmigrate.Tables
	}
	out := make([]*schema.Table, len(entmigrate.Tables))
	for i, t := range entmigrate.Tables {
		keep := make([]*schema.ForeignKey, 0, len(t.ForeignKeys))
		for _, fk := range t.ForeignKeys {
			if !withoutForeignKey[fk.Symbol] {
				keep = append(keep, fk)
			}
		}
		cp := *t
		cp.ForeignKeys = keep
		out[i] = &cp
	}
	return out
}

// ScratchSQLite opens an empty in-memory SQLite database for DiffMigrations.
func ScratchSQLite() (*sql.DB, error) {
	RegisterSQLite()
	db, err := sql.Open("sqlite3", "file:scratch?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	// One connection: every connection to ":memory:" is its own database.
	db.SetMaxOpenConns(1)
	return db, nil
}

// ScratchPostgres creates an empty database next to the one adminURL points
// at and returns it with a function that drops it.
func ScratchPostgres(ctx context.Context, adminURL, name string) (*sql.DB, func(), error) {
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return nil, nil, err
	}
	q := quoteIdent(name)
	admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+q)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+q); err != nil {
		admin.Close()
		return nil, nil, fmt.Errorf("create scratch database: %w", err)
	}
	u, err := withDatabase(adminURL, name)
	if err != nil {
		admin.Close()
		return nil, nil, err
	}
	db, err := sql.Open("postgres", u)
	if err != nil {
		admin.Close()
		return nil, nil, err
	}
	drop := func() {
		db.Close()
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)")
		admin.Close()
	}
	return db, drop, nil
}
