package database

import (
	"context"
	"database/sql"
	"fmt"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/rapportcrm/rapport/internal/tenancy"
)

// TenantSetting is the PostgreSQL setting the row-level security policies
// compare tenant_id with.
const TenantSetting = "rapport.tenant_id"

const setTenantSQL = "SELECT set_config('" + TenantSetting + "', $1, $2)"

// tenantDriver runs every statement with the context's tenant set on its
// connection. The ent interceptors already filter by tenant; this makes
// PostgreSQL's row-level security a second, independent wall.
//
// Outside a transaction a statement pins one pooled connection, sets the
// tenant for the session and runs on that connection (two round trips; the
// setting is rewritten before every use, so a value left by an earlier user of
// the connection never applies). A transaction sets it locally once.
type tenantDriver struct {
	*entsql.Driver
	db *sql.DB
}

func tenantValue(ctx context.Context) string {
	if id, ok := tenancy.FromContext(ctx); ok {
		return id.String()
	}
	// No tenant: the policies compare with '' and match no row.
	return ""
}

// Exec runs a statement on a connection scoped to the tenant.
func (d *tenantDriver) Exec(ctx context.Context, query string, args, v any) error {
	conn, err := d.scopedConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return entsql.Conn{ExecQuerier: conn}.Exec(ctx, query, args, v)
}

// Query runs a query on a connection scoped to the tenant; the connection
// goes back to the pool when the rows are closed.
func (d *tenantDriver) Query(ctx context.Context, query string, args, v any) error {
	vr, ok := v.(*entsql.Rows)
	if !ok {
		return fmt.Errorf("database: invalid type %T, expect *sql.Rows", v)
	}
	argv, ok := args.([]any)
	if !ok {
		return fmt.Errorf("database: invalid type %T, expect []any for args", args)
	}
	conn, err := d.scopedConn(ctx)
	if err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, query, argv...)
	if err != nil {
		conn.Close()
		return err
	}
	*vr = entsql.Rows{ColumnScanner: connRows{Rows: rows, conn: conn}}
	return nil
}

func (d *tenantDriver) scopedConn(ctx context.Context) (*sql.Conn, error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, setTenantSQL, tenantValue(ctx), false); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set tenant: %w", err)
	}
	return conn, nil
}

// Tx starts a transaction scoped to the tenant.
func (d *tenantDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	return d.BeginTx(ctx, nil)
}

// BeginTx starts a transaction with options, scoped to the tenant.
func (d *tenantDriver) BeginTx(ctx context.Context, opts *entsql.TxOptions) (dialect.Tx, error) {
	tx, err := d.Driver.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := tx.Exec(ctx, setTenantSQL, []any{tenantValue(ctx), true}, nil); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("set tenant: %w", err)
	}
	return tx, nil
}

// connRows releases the pinned connection when the rows are closed.
type connRows struct {
	*sql.Rows
	conn *sql.Conn
}

func (r connRows) Close() error {
	err := r.Rows.Close()
	if cerr := r.conn.Close(); err == nil {
		err = cerr
	}
	return err
}
