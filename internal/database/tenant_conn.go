package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/lib/pq"

	"github.com/rapportcrm/rapport/internal/sqlplan"
)

// The PostgreSQL pool is opened through tenantConnector, whose connections
// remember the tenant setting they hold at session level, so a statement
// whose tenant equals it skips the set_config round trip.
//
// The remembered value is only believed while nothing else could have
// changed the setting. Statements the tenantDriver issues (ent's generated
// SQL, and set_config itself) carry a mark in their context; any other
// statement run on the connection (raw SQL through DB.SQL, prepared
// statements, COPY, ent's raw ExecContext/QueryContext) forgets the value,
// as does any failure of set_config and a connection found bad. A
// transaction's set_config(..., true) is local: it reverts at COMMIT or
// ROLLBACK and leaves the remembered session value as it was.
//
// database/sql calls ResetSession every time a pooled connection is reused;
// lib/pq's only reports a broken connection and leaves the server session
// (and so the setting) untouched, so only a failed reset forgets the value.

// setTenantCount counts session-level set_config statements sent; tests read
// it to see the round trip skipped.
var setTenantCount atomic.Int64

// trustedKey marks the context of a statement the tenantDriver issued.
type trustedKey struct{}

func markTrusted(ctx context.Context) context.Context {
	return context.WithValue(ctx, trustedKey{}, true)
}

func isTrusted(ctx context.Context) bool {
	v, _ := ctx.Value(trustedKey{}).(bool)
	return v
}

// setTenantStatement is set_config with the value inlined as a literal: lib/pq
// sends a statement without arguments as one simple query (one round trip),
// while one with arguments costs a parse and an execute round trip.
func setTenantStatement(tenant string, local bool) string {
	scope := "false"
	if local {
		scope = "true"
	}
	return "SELECT set_config('" + TenantSetting + "', " + pq.QuoteLiteral(tenant) + ", " + scope + ")"
}

// tenantConnector wraps lib/pq's connector so each connection remembers its
// session's tenant setting.
type tenantConnector struct {
	driver.Connector
}

// Connect opens a lib/pq connection and wraps it.
func (c tenantConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := cn.(pqConn)
	if !ok {
		cn.Close()
		return nil, fmt.Errorf("database: driver connection %T lacks an interface the tenant wrapper forwards", cn)
	}
	return &tenantConn{conn: inner}, nil
}

// pqConn is every optional interface lib/pq's connection implements that
// database/sql uses. (Its Execer and Queryer are not forwarded: database/sql
// prefers the Context variants.)
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// tenantConn is a lib/pq connection that remembers the tenant setting of its
// session. database/sql never uses a driver connection from two goroutines
// at once, so the fields need no lock.
type tenantConn struct {
	conn pqConn
	// tenant is the session's rapport.tenant_id when known is true.
	tenant string
	known  bool
	// stmts caches prepared statements of the tenantDriver's queries by
	// their text (see prepared).
	stmts map[string]driver.Stmt
}

// stmtCacheSize bounds the prepared statements kept per connection; the
// service issues a few hundred distinct statements at most.
const stmtCacheSize = 256

// prepared returns a cached prepared statement for a statement the
// tenantDriver issued with arguments. PostgreSQL then plans it once per
// connection instead of on every execution (planning cost more than running
// a lookup by key), and lib/pq sends one round trip instead of two (an
// unnamed statement with arguments is parsed and described first).
func (c *tenantConn) prepared(ctx context.Context, query string) (driver.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	if c.stmts == nil || len(c.stmts) >= stmtCacheSize {
		c.closeStmts()
		c.stmts = make(map[string]driver.Stmt)
	}
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		// In a transaction a failed prepare has aborted it: report this
		// error, not the abort a retry unprepared would meet.
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

func (c *tenantConn) closeStmts() {
	for q, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, q)
	}
}

// dropStmt forgets a cached statement that failed in a way a fresh one may
// not (a table changed under its cached plan: SQLSTATE 0A000).
func (c *tenantConn) dropStmt(query string, err error) bool {
	var pqe *pq.Error
	if !errors.As(err, &pqe) || pqe.Code != "0A000" {
		return false
	}
	if st, ok := c.stmts[query]; ok {
		_ = st.Close()
		delete(c.stmts, query)
	}
	return true
}

// cacheable reports whether a statement should run prepared: one the
// tenantDriver issued, with arguments, unless its caller asked for a plan
// per execution (sqlplan); session commands and set_config (no arguments)
// stay simple queries.
func cacheable(ctx context.Context, query string, args []driver.NamedValue) bool {
	return len(args) > 0 && isTrusted(ctx) && !sqlplan.IsPerExecution(ctx) &&
		!hasPrefixFold(query, "SET ") && !hasPrefixFold(query, "RESET ")
}

var _ pqConn = (*tenantConn)(nil)

func (c *tenantConn) forget() { c.tenant, c.known = "", false }

// setTenant makes the session's setting tenant, sending set_config only when
// the remembered value differs (or none is remembered).
func (c *tenantConn) setTenant(ctx context.Context, tenant string) error {
	if c.known && c.tenant == tenant {
		return nil
	}
	c.forget()
	setTenantCount.Add(1)
	if _, err := c.conn.ExecContext(ctx, setTenantStatement(tenant, false), nil); err != nil {
		return err
	}
	c.tenant, c.known = tenant, true
	return nil
}

// untrustedQuery forgets the setting unless the tenantDriver issued the
// statement, and for a SET or RESET even then: ent runs those for session
// variables put in the context with entsql.WithVar.
func (c *tenantConn) untrustedQuery(ctx context.Context, query string) {
	if !isTrusted(ctx) || hasPrefixFold(query, "SET ") || hasPrefixFold(query, "RESET ") {
		c.forget()
	}
}

func hasPrefixFold(s, prefix string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func (c *tenantConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.untrustedQuery(ctx, query)
	if cacheable(ctx, query, args) {
		st, err := c.prepared(ctx, query)
		if err != nil {
			return nil, err
		}
		res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
		if err == nil || !c.dropStmt(query, err) {
			return res, err
		}
	}
	return c.conn.ExecContext(ctx, query, args)
}

func (c *tenantConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.untrustedQuery(ctx, query)
	if cacheable(ctx, query, args) {
		st, err := c.prepared(ctx, query)
		if err != nil {
			return nil, err
		}
		rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
		if err == nil || !c.dropStmt(query, err) {
			return rows, err
		}
	}
	return c.conn.QueryContext(ctx, query, args)
}

func (c *tenantConn) Prepare(query string) (driver.Stmt, error) {
	c.forget()
	st, err := c.conn.Prepare(query)
	if err != nil {
		return nil, err
	}
	return &tenantStmt{Stmt: st, conn: c, query: query}, nil
}

func (c *tenantConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.untrustedQuery(ctx, query)
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &tenantStmt{Stmt: st, conn: c, query: query}, nil
}

// Begin is the deprecated form of BeginTx; BEGIN leaves the setting alone.
func (c *tenantConn) Begin() (driver.Tx, error) { return c.conn.Begin() } //nolint:staticcheck // driver.Conn requires it.

func (c *tenantConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.conn.BeginTx(ctx, opts)
}

func (c *tenantConn) Close() error {
	c.forget()
	c.closeStmts()
	return c.conn.Close()
}

func (c *tenantConn) Ping(ctx context.Context) error {
	err := c.conn.Ping(ctx)
	if err != nil {
		c.forget()
	}
	return err
}

func (c *tenantConn) ResetSession(ctx context.Context) error {
	err := c.conn.ResetSession(ctx)
	if err != nil {
		c.forget()
	}
	return err
}

func (c *tenantConn) IsValid() bool {
	ok := c.conn.IsValid()
	if !ok {
		c.forget()
	}
	return ok
}

func (c *tenantConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.conn.CheckNamedValue(nv)
}

// tenantStmt is a prepared statement (or lib/pq COPY stream) on a tenantConn.
// Running it forgets the setting unless the tenantDriver issued it. lib/pq's
// statements implement neither ColumnConverter nor NamedValueChecker (the
// connection's checker applies), so nothing else needs forwarding.
type tenantStmt struct {
	driver.Stmt
	conn  *tenantConn
	query string
}

func (s *tenantStmt) Exec(args []driver.Value) (driver.Result, error) { //nolint:staticcheck // driver.Stmt requires it.
	s.conn.forget()
	return s.Stmt.Exec(args) //nolint:staticcheck
}

func (s *tenantStmt) Query(args []driver.Value) (driver.Rows, error) { //nolint:staticcheck // driver.Stmt requires it.
	s.conn.forget()
	return s.Stmt.Query(args) //nolint:staticcheck
}

func (s *tenantStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.conn.untrustedQuery(ctx, s.query)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	// As database/sql does for a statement without the Context variant
	// (lib/pq's COPY stream).
	vals, err := namedValuesToValues(args)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Stmt.Exec(vals) //nolint:staticcheck
}

func (s *tenantStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.conn.untrustedQuery(ctx, s.query)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	vals, err := namedValuesToValues(args)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Stmt.Query(vals) //nolint:staticcheck
}

func namedValuesToValues(named []driver.NamedValue) ([]driver.Value, error) {
	vals := make([]driver.Value, len(named))
	for i, nv := range named {
		if nv.Name != "" {
			return nil, errors.New("sql: driver does not support the use of Named Parameters")
		}
		vals[i] = nv.Value
	}
	return vals, nil
}
