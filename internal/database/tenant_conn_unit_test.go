package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"slices"
	"testing"
)

// fakeConn records the statements a tenantConn sends.
type fakeConn struct {
	sent     []string
	execErr  error
	resetErr error
	invalid  bool
}

func (f *fakeConn) Prepare(q string) (driver.Stmt, error) { return fakeStmt{f, q}, nil }
func (f *fakeConn) PrepareContext(_ context.Context, q string) (driver.Stmt, error) {
	return fakeStmt{f, q}, nil
}
func (f *fakeConn) Close() error                             { return nil }
func (f *fakeConn) Begin() (driver.Tx, error)                { return nil, errors.New("unused") }
func (f *fakeConn) Ping(context.Context) error               { return nil }
func (f *fakeConn) IsValid() bool                            { return !f.invalid }
func (f *fakeConn) ResetSession(context.Context) error       { return f.resetErr }
func (f *fakeConn) CheckNamedValue(*driver.NamedValue) error { return driver.ErrSkip }
func (f *fakeConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	f.sent = append(f.sent, "BEGIN")
	return nil, nil
}
func (f *fakeConn) ExecContext(_ context.Context, q string, _ []driver.NamedValue) (driver.Result, error) {
	f.sent = append(f.sent, q)
	if f.execErr != nil {
		return nil, f.execErr
	}
	return driver.RowsAffected(0), nil
}
func (f *fakeConn) QueryContext(_ context.Context, q string, _ []driver.NamedValue) (driver.Rows, error) {
	f.sent = append(f.sent, q)
	return nil, nil
}

type fakeStmt struct {
	f *fakeConn
	q string
}

func (s fakeStmt) Close() error  { return nil }
func (s fakeStmt) NumInput() int { return -1 }
func (s fakeStmt) Exec([]driver.Value) (driver.Result, error) {
	s.f.sent = append(s.f.sent, s.q)
	return driver.RowsAffected(0), nil
}
func (s fakeStmt) Query([]driver.Value) (driver.Rows, error) {
	s.f.sent = append(s.f.sent, s.q)
	return nil, nil
}

func set(tenant string) string { return setTenantStatement(tenant, false) }

// TestTenantConnRemembersSetting checks when a connection sends set_config
// and when it forgets the value its session holds.
func TestTenantConnRemembersSetting(t *testing.T) {
	ctx := context.Background()
	tctx := markTrusted(ctx)
	f := &fakeConn{}
	c := &tenantConn{conn: f}
	step := func(name, tenant string, want ...string) {
		t.Helper()
		f.sent = nil
		if err := c.setTenant(tctx, tenant); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(f.sent, want) {
			t.Fatalf("%s: sent %q, want %q", name, f.sent, want)
		}
	}
	// A fresh connection sets even the empty tenant: its session value is
	// not known.
	step("fresh, no tenant", "", set(""))
	step("no tenant again", "")
	step("A", "a", set("a"))
	step("A again", "a")
	step("B", "b", set("b"))
	step("no tenant", "", set(""))
	step("A", "a", set("a"))

	// Statements the tenant driver issues keep the value; BEGIN too.
	_, _ = c.ExecContext(tctx, "UPDATE t SET x = 1", nil)
	_, _ = c.QueryContext(tctx, "SELECT 1", nil)
	_, _ = c.BeginTx(tctx, driver.TxOptions{})
	_, _ = c.ExecContext(tctx, setTenantStatement("b", true), nil)
	if err := c.ResetSession(ctx); err != nil {
		t.Fatal(err)
	}
	_ = c.IsValid()
	st, _ := c.PrepareContext(tctx, "SELECT 2")
	_, _ = st.(driver.StmtExecContext).ExecContext(tctx, nil)
	step("A after the driver's own statements", "a")

	forgets := map[string]func(){
		"untrusted exec":  func() { _, _ = c.ExecContext(ctx, "SELECT 1", nil) },
		"untrusted query": func() { _, _ = c.QueryContext(ctx, "SELECT 1", nil) },
		"trusted SET":     func() { _, _ = c.ExecContext(tctx, "SET rapport.tenant_id = 'b'", nil) },
		"trusted RESET":   func() { _, _ = c.ExecContext(tctx, " reset rapport.tenant_id", nil) },
		"untrusted prepare": func() {
			_, _ = c.PrepareContext(ctx, "SELECT 1")
		},
		"prepare": func() { _, _ = c.Prepare("SELECT 1") },
		"statement prepared by the driver, run unmarked": func() {
			_, _ = st.(driver.StmtQueryContext).QueryContext(ctx, nil)
		},
		"deprecated statement Exec": func() { _, _ = st.Exec(nil) }, //nolint:staticcheck
		"failed reset": func() {
			f.resetErr = driver.ErrBadConn
			_ = c.ResetSession(ctx)
			f.resetErr = nil
		},
		"invalid": func() {
			f.invalid = true
			_ = c.IsValid()
			f.invalid = false
		},
		"failed set_config": func() {
			c.forget()
			_ = c.setTenant(tctx, "b")
			f.execErr = errors.New("boom")
			if err := c.setTenant(tctx, "a"); err == nil {
				t.Fatal("set_config error not returned")
			}
			f.execErr = nil
		},
	}
	for name, fn := range forgets {
		c.forget()
		step("set before "+name, "a", set("a"))
		step("kept before "+name, "a")
		fn()
		step("A after "+name, "a", set("a"))
	}
}

func TestSetTenantStatementQuotes(t *testing.T) {
	if got, want := setTenantStatement(`x'y`, true), `SELECT set_config('rapport.tenant_id', 'x''y', true)`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestWithoutJIT(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h:5432/db?sslmode=disable": "postgres://u@h:5432/db?jit=off&sslmode=disable",
		"postgres://u@h/db?jit=on":               "postgres://u@h/db?jit=on",
		"host=h dbname=db":                       "host=h dbname=db jit=off",
		"host=h jit=on":                          "host=h jit=on",
	} {
		if got := withoutJIT(in); got != want {
			t.Errorf("withoutJIT(%q) = %q, want %q", in, got, want)
		}
	}
}
