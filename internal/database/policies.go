package database

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	entmigrate "github.com/rapportcrm/rapport/ent/migrate"
)

// TenantTables lists the tables that carry a tenant_id column, read from the
// ent schema so a new tenant-owned table is covered without anyone
// remembering to add it.
func TenantTables() []string {
	var out []string
	for _, t := range entmigrate.Tables {
		for _, c := range t.Columns {
			if c.Name == "tenant_id" {
				out = append(out, t.Name)
				break
			}
		}
	}
	return out
}

// applyPostgresPolicies enables and forces row-level security on every
// tenant table with one policy: a row is visible and writable only when its
// tenant_id equals the rapport.tenant_id setting of the transaction or
// session. FORCE makes the policy apply to the table owner too; superusers
// and BYPASSRLS roles still skip it, so production connects as an ordinary
// role (see README). It also adds the trigram index free-text search uses
// and the name and e-mail domain index of the duplicate check.
// Every statement is idempotent.
func applyPostgresPolicies(ctx context.Context, conn *sql.Conn) error {
	// Only missing pieces are created, so a service connecting as an
	// ordinary role (which may not ALTER tables it does not own) starts fine
	// once the owner has migrated.
	missing, err := tablesWithoutPolicy(ctx, conn)
	if err != nil {
		return err
	}
	var hasIndex bool
	if err := conn.QueryRowContext(ctx, "SELECT to_regclass('customer_profiles_search_trgm') IS NOT NULL AND to_regclass('customer_profiles_last_name_domain') IS NOT NULL").Scan(&hasIndex); err != nil {
		return err
	}
	if err := markLeakproof(ctx, conn); err != nil {
		return fmt.Errorf("search under row-level security: %w", err)
	}
	if len(missing) == 0 && hasIndex {
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range missing {
		q := quoteIdent(t)
		stmts := []string{
			"ALTER TABLE " + q + " ENABLE ROW LEVEL SECURITY",
			"ALTER TABLE " + q + " FORCE ROW LEVEL SECURITY",
			"DROP POLICY IF EXISTS tenant_isolation ON " + q,
			"CREATE POLICY tenant_isolation ON " + q + " USING (tenant_id = " + policyTenant + ") WITH CHECK (tenant_id = " + policyTenant + ")",
			"COMMENT ON POLICY tenant_isolation ON " + q + " IS '" + policyVersion + "'",
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("row-level security on %s: %w", t, err)
			}
		}
	}
	// Ingestion's "similar name, same e-mail domain" duplicate check looks
	// profiles up by last name and domain; an expression ent cannot declare.
	if _, err := tx.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS customer_profiles_last_name_domain ON customer_profiles (tenant_id, last_name, split_part(email, '@', 2))"); err != nil {
		return fmt.Errorf("name and domain index: %w", err)
	}
	// pg_trgm is a trusted extension: a database owner may create it. Where
	// it is unavailable, search still works, only without the index.
	if _, err := tx.ExecContext(ctx, "SAVEPOINT trgm"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm"); err == nil {
		if _, err := tx.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS customer_profiles_search_trgm ON customer_profiles USING gin (search_text gin_trgm_ops)"); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
	} else if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT trgm"); err != nil {
		return err
	}
	return tx.Commit()
}

// leakproofFunctions are the functions of indexed conditions the service
// runs that PostgreSQL does not mark leakproof: LIKE (free-text search on
// the trigram index) and split_part (the duplicate check's name and
// e-mail domain index). None raises an error that depends on the row, only
// on its other arguments (a pattern, a field position), so they reveal
// nothing about rows the policy hides.
var leakproofFunctions = []string{"pg_catalog.textlike(text, text)", "pg_catalog.split_part(text, text, integer)"}

// markLeakproof marks leakproofFunctions leakproof when the migrating role
// may, that is a superuser. Under row-level security PostgreSQL checks the
// policy before any condition whose function is not leakproof, so for the
// ordinary role the service connects as such a condition cannot be an
// index condition: free-text search read every profile of the table
// (measured on 1M profiles: 1.0–1.1 s for a term nothing matches, against
// 4.6 ms through the index), and the duplicate check read every profile of
// a last name (about 1 s per ingestion batch instead of 7 ms). An owner
// that is not a superuser leaves them as they are;
// deploy/postgres-init.sql has the statements for the administrator.
func markLeakproof(ctx context.Context, conn *sql.Conn) error {
	var super bool
	if err := conn.QueryRowContext(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || !super {
		return err
	}
	for _, f := range leakproofFunctions {
		var leakproof bool
		if err := conn.QueryRowContext(ctx, "SELECT proleakproof FROM pg_proc WHERE oid = $1::regprocedure", f).Scan(&leakproof); err != nil {
			return err
		}
		if leakproof {
			continue
		}
		if _, err := conn.ExecContext(ctx, "ALTER FUNCTION "+f+" LEAKPROOF"); err != nil {
			return err
		}
	}
	return nil
}

// policyTenant is the tenant a policy admits: the setting read once per
// statement (a scalar subquery is an InitPlan) and compared as a uuid. The
// first policies compared tenant_id::text with the setting on every row:
// the cast and the lookup cost per row, and the planner, knowing nothing of
// the expression, guessed 1 row in 200 and chose plans for that. A setting
// that is unset or empty admits no row; one that is not a uuid fails the
// statement.
const policyTenant = "(SELECT NULLIF(current_setting('" + TenantSetting + "', true), '')::uuid)"

// policyVersion is the comment on the policies this code makes, so a
// database with the earlier form has them replaced.
const policyVersion = "rapport tenant policy v2"

// tablesWithoutPolicy lists tenant tables whose row-level security is not
// fully in place (enabled, forced, with the tenant_isolation policy of
// policyVersion).
func tablesWithoutPolicy(ctx context.Context, conn *sql.Conn) ([]string, error) {
	var missing []string
	for _, t := range TenantTables() {
		var ok bool
		err := conn.QueryRowContext(ctx, `SELECT COALESCE((SELECT c.relrowsecurity AND c.relforcerowsecurity
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relname = $1 AND n.nspname = current_schema()), false)
			AND EXISTS (SELECT 1 FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE c.relname = $1 AND n.nspname = current_schema() AND p.polname = 'tenant_isolation'
				AND obj_description(p.oid, 'pg_policy') = $2)`, t, policyVersion).Scan(&ok)
		if err != nil {
			return nil, fmt.Errorf("inspect row-level security of %s: %w", t, err)
		}
		if !ok {
			missing = append(missing, t)
		}
	}
	return missing, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
