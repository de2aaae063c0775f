package seed

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/schollz/progressbar/v3"
)

// pgBatch is the number of profiles per PostgreSQL transaction: large enough
// that commits cost nothing, small enough that a failure loses little and
// the progress bar moves.
const pgBatch = 50_000

// copyStatement is COPY ... FROM STDIN for lib/pq, which streams the rows
// given to Exec until an Exec without arguments ends the copy.
func copyStatement(table string, columns []string) string {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = pq.QuoteIdentifier(c)
	}
	return "COPY " + pq.QuoteIdentifier(table) + " (" + strings.Join(quoted, ", ") + ") FROM STDIN"
}

// target is where one table's rows are copied to.
type target struct {
	table   string
	columns []string
	// staging is a temporary table to copy into first, when PostgreSQL
	// refuses COPY into the table itself: it does for roles its row-level
	// security applies to (SQLSTATE 0A000). INSERT ... SELECT from the
	// staging table then applies the policy's WITH CHECK as one statement.
	staging string
}

// begin prepares the target in tx and returns the COPY statement to use.
func (t target) begin(ctx context.Context, tx *sql.Tx) (string, error) {
	if t.staging == "" {
		return copyStatement(t.table, t.columns), nil
	}
	q := "CREATE TEMPORARY TABLE " + pq.QuoteIdentifier(t.staging) + " (LIKE " + pq.QuoteIdentifier(t.table) + " INCLUDING DEFAULTS) ON COMMIT DROP"
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return "", err
	}
	return copyStatement(t.staging, t.columns), nil
}

// finish moves staged rows into the table.
func (t target) finish(ctx context.Context, tx *sql.Tx) error {
	if t.staging == "" {
		return nil
	}
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = pq.QuoteIdentifier(c)
	}
	list := strings.Join(cols, ", ")
	_, err := tx.ExecContext(ctx, "INSERT INTO "+pq.QuoteIdentifier(t.table)+" ("+list+") SELECT "+list+" FROM "+pq.QuoteIdentifier(t.staging))
	return err
}

// targets returns the profile and alias targets, staged when row-level
// security applies to the connecting role.
func targets(ctx context.Context, db *sql.DB, tenantID uuid.UUID) (profiles, aliases target, err error) {
	profiles = target{table: "customer_profiles", columns: profileColumns}
	aliases = target{table: "identity_aliases", columns: aliasColumns}
	var rls bool
	err = inTenantTx(ctx, db, tenantID, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT row_security_active('customer_profiles') OR row_security_active('identity_aliases')`).Scan(&rls)
	})
	if err != nil {
		return profiles, aliases, fmt.Errorf("seed: check row-level security: %w", err)
	}
	if rls {
		profiles.staging, aliases.staging = "seed_customer_profiles", "seed_identity_aliases"
	}
	return profiles, aliases, nil
}

// copyPostgres writes the rows with COPY, one tenant-scoped transaction per
// pgBatch profiles. Profiles are written before their aliases so the foreign
// key holds at every row.
func copyPostgres(ctx context.Context, db *sql.DB, g *generator, n int, bar *progressbar.ProgressBar) (Stats, error) {
	var st Stats
	tenantID, err := uuid.Parse(g.tenant)
	if err != nil {
		return st, err
	}
	pt, at, err := targets(ctx, db, tenantID)
	if err != nil {
		return st, err
	}
	rows := make([]row, 0, min(n, pgBatch))
	vals := make([]any, len(profileColumns))
	avals := make([]any, len(aliasColumns))
	for start := 0; start < n; start += pgBatch {
		end := min(start+pgBatch, n)
		aliases := 0
		err := inTenantTx(ctx, db, tenantID, func(tx *sql.Tx) error {
			rows = rows[:0]
			q, err := pt.begin(ctx, tx)
			if err != nil {
				return fmt.Errorf("stage profiles: %w", err)
			}
			stmt, err := tx.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("copy profiles: %w", err)
			}
			defer stmt.Close()
			for i := start; i < end; i++ {
				rw, err := g.next(i)
				if err != nil {
					return err
				}
				rows = append(rows, rw)
				g.profileValues(vals, &rows[len(rows)-1])
				if _, err := stmt.ExecContext(ctx, vals...); err != nil {
					return fmt.Errorf("copy profiles: %w", err)
				}
				if bar != nil && (i+1)%1000 == 0 {
					_ = bar.Add(1000)
				}
			}
			if _, err := stmt.ExecContext(ctx); err != nil {
				return fmt.Errorf("copy profiles: %w", err)
			}
			if err := pt.finish(ctx, tx); err != nil {
				return fmt.Errorf("insert staged profiles: %w", err)
			}

			q, err = at.begin(ctx, tx)
			if err != nil {
				return fmt.Errorf("stage identity aliases: %w", err)
			}
			astmt, err := tx.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("copy identity aliases: %w", err)
			}
			defer astmt.Close()
			for i := range rows {
				rw := &rows[i]
				for _, k := range [...]struct {
					kind  string
					value any
				}{{"EMAIL", rw.email}, {"PHONE", rw.phone}} {
					if k.value == nil {
						continue
					}
					if err := g.aliasValues(avals, rw, k.kind, k.value.(string)); err != nil {
						return err
					}
					if _, err := astmt.ExecContext(ctx, avals...); err != nil {
						return fmt.Errorf("copy identity aliases: %w", err)
					}
					aliases++
				}
			}
			if _, err := astmt.ExecContext(ctx); err != nil {
				return fmt.Errorf("copy identity aliases: %w", err)
			}
			if err := at.finish(ctx, tx); err != nil {
				return fmt.Errorf("insert staged identity aliases: %w", err)
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("seed: rows %d–%d: %w", start, end, err)
		}
		st.Profiles += end - start
		st.Aliases += aliases
		if bar != nil {
			_ = bar.Set(st.Profiles)
		}
	}
	return st, nil
}
