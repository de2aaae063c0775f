package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/rapportcrm/rapport/internal/tenancy"
)

// TenantSetting is the PostgreSQL setting the row-level security policies
// compare tenant_id with.
const TenantSetting = "rapport.tenant_id"

// tenantDriver runs every statement with the context's tenant set on its
// connection. The ent interceptors already filter by tenant; this makes
// PostgreSQL's row-level security a second, independent wall.
//
// Outside a transaction a statement pins one pooled connection, makes its
// session's setting the context's tenant and runs on that connection. The
// connection (tenantConn) remembers the value it holds, so set_config is sent
// only when the value differs or is not known; a value left by an earlier user
// therefore never applies to another tenant (see tenant_conn.go). A
// transaction sets it locally once, at BEGIN.
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
	ctx = markTrusted(ctx)
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
	ctx = markTrusted(ctx)
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

// scopedConn pins a pooled connection whose session holds the context's
// tenant. ctx must carry the trusted mark, or set_config itself would make the
// connection forget the value.
func (d *tenantDriver) scopedConn(ctx context.Context) (*sql.Conn, error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	tenant := tenantValue(ctx)
	err = conn.Raw(func(dc any) error {
		if tc, ok := dc.(*tenantConn); ok {
			return tc.setTenant(ctx, tenant)
		}
		// Not opened through tenantConnector: set it every time.
		ex, ok := dc.(driver.ExecerContext)
		if !ok {
			return fmt.Errorf("database: driver connection %T cannot execute", dc)
		}
		_, err := ex.ExecContext(ctx, setTenantStatement(tenant, false), nil)
		return err
	})
	if err != nil {
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
	tx, err := d.Driver.BeginTx(markTrusted(ctx), opts)
	if err != nil {
		return nil, err
	}
	// Local: it reverts at COMMIT or ROLLBACK, so the connection's
	// remembered session value stays right.
	if err := tx.Exec(markTrusted(ctx), setTenantStatement(tenantValue(ctx), true), []any{}, nil); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("set tenant: %w", err)
	}
	return scopedTx{tx}, nil
}

// scopedTx marks the statements ent runs in the transaction as the
// tenantDriver's, so they do not make the connection forget its session's
// tenant. Raw SQL (ExecContext, QueryContext) stays unmarked.
type scopedTx struct {
	dialect.Tx
}

func (t scopedTx) Exec(ctx context.Context, query string, args, v any) error {
	return t.Tx.Exec(markTrusted(ctx), query, args, v)
}

func (t scopedTx) Query(ctx context.Context, query string, args, v any) error {
	return t.Tx.Query(markTrusted(ctx), query, args, v)
}

// ExecContext runs raw SQL in the transaction, for ent's ExecContext.
func (t scopedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ex, ok := t.Tx.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	})
	if !ok {
		return nil, errors.New("Tx.ExecContext is not supported")
	}
	return ex.ExecContext(ctx, query, args...)
}

// QueryContext runs a raw query in the transaction, for ent's QueryContext.
func (t scopedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, ok := t.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	})
	if !ok {
		return nil, errors.New("Tx.QueryContext is not supported")
	}
	return q.QueryContext(ctx, query, args...)
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

// errRawOutsideTx is returned for raw SQL outside a transaction: such a
// statement would run with whatever tenant setting its pooled connection
// happens to hold. In a transaction the setting is set for it.
var errRawOutsideTx = errors.New("database: raw SQL must run in a transaction, where the tenant setting applies")

// ExecContext refuses raw SQL outside a transaction (see errRawOutsideTx).
func (d *tenantDriver) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, errRawOutsideTx
}

// QueryContext refuses raw SQL outside a transaction (see errRawOutsideTx).
func (d *tenantDriver) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errRawOutsideTx
}
