package seed

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/schollz/progressbar/v3"
)

const (
	// sqliteMaxVars is SQLite's default limit on bound variables per
	// statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
	sqliteMaxVars = 32_766
	// sqliteBatch is the number of profiles per SQLite transaction.
	sqliteBatch = 10_000
	// sqliteRows caps the rows of one INSERT; beyond about a thousand rows
	// SQLite gains nothing and the statement text only grows.
	sqliteRows = 1000
)

// insertSQL returns a multi-row INSERT of rows rows.
func insertSQL(table string, columns []string, rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + quoteSQLite(table) + " (")
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteSQLite(c))
	}
	b.WriteString(") VALUES ")
	tuple := "(" + strings.Repeat("?, ", len(columns)-1) + "?)"
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
	}
	return b.String()
}

func quoteSQLite(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// stmtCache prepares each (table, row count) INSERT once per run; only the
// full-size statements and the last, shorter ones are ever needed.
type stmtCache struct {
	db    *sql.DB
	stmts map[stmtKey]*sql.Stmt
}

type stmtKey struct {
	table string
	rows  int
}

func (c *stmtCache) get(ctx context.Context, tx *sql.Tx, table string, columns []string, rows int) (*sql.Stmt, error) {
	k := stmtKey{table, rows}
	s, ok := c.stmts[k]
	if !ok {
		var err error
		if s, err = c.db.PrepareContext(ctx, insertSQL(table, columns, rows)); err != nil {
			return nil, err
		}
		c.stmts[k] = s
	}
	// A statement prepared on the pool is prepared once more on the
	// transaction's connection the first time, then reused there.
	return tx.StmtContext(ctx, s), nil
}

func (c *stmtCache) close() {
	for _, s := range c.stmts {
		_ = s.Close()
	}
}

// insertSQLite writes the rows with multi-row INSERTs, sqliteBatch profiles
// per transaction.
func insertSQLite(ctx context.Context, db *sql.DB, g *generator, n int, bar *progressbar.ProgressBar) (Stats, error) {
	var st Stats
	pRows := min(sqliteMaxVars/len(profileColumns), sqliteRows)
	// Each profile has up to two aliases.
	aRows := min(sqliteMaxVars/len(aliasColumns), 2*pRows)
	cache := &stmtCache{db: db, stmts: map[stmtKey]*sql.Stmt{}}
	defer cache.close()

	pvals := make([]any, 0, pRows*len(profileColumns))
	avals := make([]any, 0, aRows*len(aliasColumns))
	rows := make([]row, 0, pRows)
	one := make([]any, len(profileColumns))
	oneAlias := make([]any, len(aliasColumns))

	for start := 0; start < n; start += sqliteBatch {
		end := min(start+sqliteBatch, n)
		aliases := 0
		err := func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }()
			for cs := start; cs < end; cs += pRows {
				ce := min(cs+pRows, end)
				rows, pvals, avals = rows[:0], pvals[:0], avals[:0]
				for i := cs; i < ce; i++ {
					rw, err := g.next(i)
					if err != nil {
						return err
					}
					rows = append(rows, rw)
					g.profileValues(one, &rows[len(rows)-1])
					pvals = append(pvals, one...)
				}
				stmt, err := cache.get(ctx, tx, "customer_profiles", profileColumns, len(rows))
				if err != nil {
					return fmt.Errorf("insert profiles: %w", err)
				}
				if _, err := stmt.ExecContext(ctx, pvals...); err != nil {
					return fmt.Errorf("insert profiles: %w", err)
				}

				for i := range rows {
					rw := &rows[i]
					if err := g.aliasValues(oneAlias, rw, "EMAIL", rw.email); err != nil {
						return err
					}
					avals = append(avals, oneAlias...)
					if p, ok := rw.phone.(string); ok {
						if err := g.aliasValues(oneAlias, rw, "PHONE", p); err != nil {
							return err
						}
						avals = append(avals, oneAlias...)
					}
				}
				count := len(avals) / len(aliasColumns)
				stmt, err = cache.get(ctx, tx, "identity_aliases", aliasColumns, count)
				if err != nil {
					return fmt.Errorf("insert identity aliases: %w", err)
				}
				if _, err := stmt.ExecContext(ctx, avals...); err != nil {
					return fmt.Errorf("insert identity aliases: %w", err)
				}
				aliases += count
				if bar != nil {
					_ = bar.Add(len(rows))
				}
			}
			return tx.Commit()
		}()
		if err != nil {
			return st, fmt.Errorf("seed: rows %d–%d: %w", start, end, err)
		}
		st.Profiles += end - start
		st.Aliases += aliases
	}
	return st, nil
}
