// Package database opens the system of record (embedded SQLite or
// PostgreSQL), applies the versioned migrations and scopes every statement to
// the request's tenant for PostgreSQL row-level security.
package database

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
	"modernc.org/sqlite"

	"github.com/rapportcrm/rapport/ent"
	// The runtime registers the schema's defaults, hooks and interceptors
	// (the tenant filter among them): without it they would silently not run.
	_ "github.com/rapportcrm/rapport/ent/runtime"
)

var registerSQLite sync.Once

// RegisterSQLite registers the pure-Go SQLite driver under the name ent
// expects ("sqlite3"); modernc registers itself as "sqlite".
func RegisterSQLite() {
	registerSQLite.Do(func() {
		for _, d := range sql.Drivers() {
			if d == "sqlite3" {
				return
			}
		}
		sql.Register("sqlite3", &sqlite.Driver{})
	})
}

// DB is an open database with its ent client.
type DB struct {
	// SQL is the underlying pool, for bulk tools and raw checks.
	SQL *sql.DB
	// Dialect is dialect.Postgres or dialect.SQLite.
	Dialect string
	// Client is the ent client; on PostgreSQL every statement it runs is
	// scoped to the context's tenant.
	Client *ent.Client
}

// Close closes the pool.
func (d *DB) Close() error { return d.Client.Close() }

// Ping checks the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

// Option changes how a database is opened.
type Option func(*options)

type options struct {
	wrap func(dialect.Driver) dialect.Driver
}

// WithDriverWrapper wraps the ent driver, e.g. to log or count statements.
func WithDriverWrapper(f func(dialect.Driver) dialect.Driver) Option {
	return func(o *options) { o.wrap = f }
}

func newClient(drv dialect.Driver, opts []Option) *ent.Client {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.wrap != nil {
		drv = o.wrap(drv)
	}
	return ent.NewClient(ent.Driver(drv))
}

// Open connects to PostgreSQL when databaseURL is a postgres:// URL, and
// otherwise opens (creating if needed) the SQLite file rapport.db in dataDir.
func Open(ctx context.Context, databaseURL, dataDir string, opts ...Option) (*DB, error) {
	if databaseURL != "" {
		return OpenPostgres(ctx, databaseURL, opts...)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	return OpenSQLite(ctx, filepath.Join(dataDir, "rapport.db"), opts...)
}

// SQLiteDSN returns the DSN of a SQLite database file with the pragmas the
// service needs: foreign keys (ent's migrations refuse to run without them),
// WAL and a busy timeout so readers and the single writer coexist, and
// immediate transactions so two writers queue instead of deadlocking on a
// lock upgrade.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// OpenSQLite opens a SQLite database by file path or by full "file:" DSN.
func OpenSQLite(ctx context.Context, pathOrDSN string, opts ...Option) (*DB, error) {
	RegisterSQLite()
	dsn := pathOrDSN
	if !strings.HasPrefix(dsn, "file:") {
		dsn = SQLiteDSN(pathOrDSN)
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	// SQLite has one writer; a handful of connections serve concurrent
	// readers under WAL without piling up writers on the busy timeout.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	drv := entsql.OpenDB(dialect.SQLite, db)
	return &DB{SQL: db, Dialect: dialect.SQLite, Client: newClient(drv, opts)}, nil
}

// OpenPostgres connects to PostgreSQL. Statements run through the returned
// client carry the context's tenant in the rapport.tenant_id setting, which
// the row-level security policies read.
func OpenPostgres(ctx context.Context, databaseURL string, opts ...Option) (*DB, error) {
	// The wrapper lets each connection remember its tenant setting (see
	// tenantConn), which saves a round trip per statement.
	pc, err := pq.NewConnector(withoutJIT(databaseURL))
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	db := sql.OpenDB(tenantConnector{Connector: pc})
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(40)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	drv := &tenantDriver{Driver: entsql.OpenDB(dialect.Postgres, db), db: db}
	return &DB{SQL: db, Dialect: dialect.Postgres, Client: newClient(drv, opts)}, nil
}

// withoutJIT turns PostgreSQL's JIT compilation off for the service's
// connections unless the URL sets jit itself: compiling took 50 ms to
// seconds on the segment counts and score runs measured, longer than they
// ran (lib/pq passes the parameter on at connection start).
func withoutJIT(databaseURL string) string {
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		u, err := url.Parse(databaseURL)
		if err != nil {
			return databaseURL // pq reports the error
		}
		q := u.Query()
		if q.Has("jit") {
			return databaseURL
		}
		q.Set("jit", "off")
		u.RawQuery = q.Encode()
		return u.String()
	}
	if strings.Contains(databaseURL, "jit=") {
		return databaseURL
	}
	return strings.TrimSpace(databaseURL + " jit=off")
}
