package database

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	entmigrate "github.com/rapportcrm/rapport/ent/migrate"
)

// MigrationDir returns the directory of the dialect's migration files inside
// the embedded ent/migrate/migrations tree.
func MigrationDir(dialectName string) string {
	if dialectName == dialect.Postgres {
		return "migrations/postgres"
	}
	return "migrations/sqlite"
}

// migration is one versioned file.
type migration struct {
	Version  string
	Name     string
	SQL      string
	Checksum string
}

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		base := strings.TrimSuffix(e.Name(), ".sql")
		version, name, _ := strings.Cut(base, "_")
		sum := sha256.Sum256(b)
		out = append(out, migration{Version: version, Name: name, SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Migrate applies the versioned migrations the database has not seen, each in
// its own transaction, then (on PostgreSQL) the row-level security policies
// and search indexes. It is safe to run from several replicas at once: on
// PostgreSQL an advisory lock serializes them, on SQLite the write lock does.
// It returns the versions it applied.
func (d *DB) Migrate(ctx context.Context) ([]string, error) {
	migs, err := loadMigrations(entmigrate.Migrations, MigrationDir(d.Dialect))
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if d.Dialect == dialect.Postgres {
		// Any constant works; it only has to be the same for every replica.
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7355608001)"); err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7355608001)")
	}
	if err := ensureMigrationsTable(ctx, conn, d.Dialect); err != nil {
		return nil, err
	}
	applied := map[string]string{}
	rows, err := conn.QueryContext(ctx, "SELECT version, checksum FROM rapport_schema_migrations")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var v, c string
		if err := rows.Scan(&v, &c); err != nil {
			rows.Close()
			return nil, err
		}
		applied[v] = c
	}
	rows.Close()
	var done []string
	for _, m := range migs {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return done, fmt.Errorf("migration %s_%s was changed after it was applied (checksum mismatch); add a new migration instead", m.Version, m.Name)
			}
			continue
		}
		if err := applyOne(ctx, conn, d.Dialect, m); err != nil {
			return done, fmt.Errorf("migration %s_%s: %w", m.Version, m.Name, err)
		}
		done = append(done, m.Version)
	}
	if d.Dialect == dialect.Postgres {
		if err := applyPostgresPolicies(ctx, conn); err != nil {
			return done, err
		}
	}
	return done, nil
}

// ensureMigrationsTable creates the bookkeeping table unless it exists
// (checked first: an ordinary role may lack CREATE on the schema).
func ensureMigrationsTable(ctx context.Context, conn *sql.Conn, dialectName string) error {
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'rapport_schema_migrations'"
	if dialectName == dialect.Postgres {
		q = "SELECT count(*) FROM (SELECT to_regclass('rapport_schema_migrations') AS t) s WHERE t IS NOT NULL"
	}
	var n int
	if err := conn.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return fmt.Errorf("inspect migrations table: %w", err)
	}
	if n > 0 {
		return nil
	}
	_, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS rapport_schema_migrations (
		version varchar(32) PRIMARY KEY,
		name varchar(255) NOT NULL,
		checksum varchar(64) NOT NULL,
		applied_at timestamp NOT NULL)`)
	if err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	return nil
}

func applyOne(ctx context.Context, conn *sql.Conn, dialectName string, m migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	q := "INSERT INTO rapport_schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)"
	if dialectName == dialect.Postgres {
		q = "INSERT INTO rapport_schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)"
	}
	if _, err := tx.ExecContext(ctx, q, m.Version, m.Name, m.Checksum, time.Now().UTC()); err != nil {
		return err
	}
	return tx.Commit()
}
