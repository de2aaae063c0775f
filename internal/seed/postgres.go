package seed

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

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

// pgWorkers is the most COPY streams run at once. One stream keeps one
// PostgreSQL backend busy (index maintenance is the cost, not this process),
// so a stream per core lets the server use them all.
const pgWorkers = 4

// copyPostgres writes the rows with COPY in tenant-scoped transactions of
// pgBatch profiles, several at a time. Rows are numbered before they are
// handed out, so concurrent batches never produce the same keys. A failure
// stops the run; batches already committed stay.
func copyPostgres(ctx context.Context, db *sql.DB, g *generator, n int, bar *progressbar.ProgressBar) (Stats, error) {
	tenantID, err := uuid.Parse(g.tenant)
	if err != nil {
		return Stats{}, err
	}
	pt, at, err := targets(ctx, db, tenantID)
	if err != nil {
		return Stats{}, err
	}
	batches := (n + pgBatch - 1) / pgBatch
	workers := min(runtime.GOMAXPROCS(0), pgWorkers, batches)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		nextBatch atomic.Int64
		wg        sync.WaitGroup
		mu        sync.Mutex
		st        Stats
		firstErr  error
	)
	for range workers {
		wg.Add(1)
		go func(g *generator) {
			defer wg.Done()
			w := &pgWriter{g: g, bar: bar, profiles: pt, aliases: at, tenantID: tenantID}
			for {
				b := int(nextBatch.Add(1) - 1)
				if b >= batches || ctx.Err() != nil {
					return
				}
				start, end := b*pgBatch, min((b+1)*pgBatch, n)
				aliases, err := w.batch(ctx, db, start, end)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("seed: rows %d–%d: %w", start, end, err)
					}
					cancel()
				} else {
					st.Profiles += end - start
					st.Aliases += aliases
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}(g.fork())
	}
	wg.Wait()
	return st, firstErr
}

// pgWriter copies batches on behalf of one worker, reusing its buffers.
type pgWriter struct {
	g        *generator
	bar      *progressbar.ProgressBar
	profiles target
	aliases  target
	tenantID uuid.UUID
	rows     []row
	vals     []any
	avals    []any
}

// batch writes profiles start..end-1 and their aliases in one transaction
// and returns the number of aliases written.
func (w *pgWriter) batch(ctx context.Context, db *sql.DB, start, end int) (aliases int, err error) {
	g := w.g
	if w.vals == nil {
		w.vals = make([]any, len(profileColumns))
		w.avals = make([]any, len(aliasColumns))
	}
	err = inTenantTx(ctx, db, w.tenantID, func(tx *sql.Tx) error {
		w.rows = w.rows[:0]
		q, err := w.profiles.begin(ctx, tx)
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
			w.rows = append(w.rows, rw)
			g.profileValues(w.vals, &w.rows[len(w.rows)-1])
			if _, err := stmt.ExecContext(ctx, w.vals...); err != nil {
				return fmt.Errorf("copy profiles: %w", err)
			}
			if w.bar != nil && (i-start+1)%1000 == 0 {
				_ = w.bar.Add(1000)
			}
		}
		if w.bar != nil {
			_ = w.bar.Add((end - start) % 1000)
		}
		if _, err := stmt.ExecContext(ctx); err != nil {
			return fmt.Errorf("copy profiles: %w", err)
		}
		if err := w.profiles.finish(ctx, tx); err != nil {
			return fmt.Errorf("insert staged profiles: %w", err)
		}

		q, err = w.aliases.begin(ctx, tx)
		if err != nil {
			return fmt.Errorf("stage identity aliases: %w", err)
		}
		astmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("copy identity aliases: %w", err)
		}
		defer astmt.Close()
		for i := range w.rows {
			rw := &w.rows[i]
			for _, k := range [...]struct {
				kind  string
				value any
			}{{"EMAIL", rw.email}, {"PHONE", rw.phone}} {
				if k.value == nil {
					continue
				}
				if err := g.aliasValues(w.avals, rw, k.kind, k.value.(string)); err != nil {
					return err
				}
				if _, err := astmt.ExecContext(ctx, w.avals...); err != nil {
					return fmt.Errorf("copy identity aliases: %w", err)
				}
				aliases++
			}
		}
		if _, err := astmt.ExecContext(ctx); err != nil {
			return fmt.Errorf("copy identity aliases: %w", err)
		}
		if err := w.aliases.finish(ctx, tx); err != nil {
			return fmt.Errorf("insert staged identity aliases: %w", err)
		}
		return nil
	})
	return aliases, err
}
