// Package dbrow reads the one row a raw SQL statement returns, for the
// set-based statements ent's builders do not express (scoring, segment
// diffs).
package dbrow

import (
	"context"
	"database/sql"
)

// Querier runs a query: an *ent.Tx, an *ent.Client or a *sql.DB.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Scan runs q and scans its first row into dest; sql.ErrNoRows when it
// returns none.
func Scan(ctx context.Context, db Querier, q string, args []any, dest ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}
