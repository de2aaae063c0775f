package scoring

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/dbrow"
)

// EvalSQL evaluates one of the statement's expressions (built by fn for the
// dialect) in tx, for tests of its edges.
func EvalSQL(ctx context.Context, tx *ent.Tx, pg bool, fn func(d SQLExprs) string) (string, error) {
	var s string
	err := dbrow.Scan(ctx, tx, "SELECT CAST(("+fn(SQLExprs{sqlDialect{pg: pg}})+") AS TEXT)", nil, &s)
	return s, err
}

// SQLExprs exposes the expression builders to the tests.
type SQLExprs struct{ d sqlDialect }

// Band is the health band of x.
func (SQLExprs) Band(x string) string { return bandExpr(x) }

// RoundInt rounds x (a double) half up.
func (e SQLExprs) RoundInt(x string) string { return e.d.roundInt(e.d.float(x)) }

// StoredRound is how the stored components round x (a double) to n
// decimals.
func (e SQLExprs) StoredRound(x string, n int) string {
	if e.d.pg {
		return fastRound(x, n)
	}
	return e.d.roundTo(x, n)
}

// Crossing holds when churn rose above 80 from previous.
func (SQLExprs) Crossing(churn, previous string) string { return crossingExpr(churn, previous) }

// Weights returns each score's component weights, in order.
func Weights() map[string][]int {
	out := map[string][]int{}
	for name, cs := range map[string][]component{"engagement": engagementComponents, "churnRisk": churnComponents, "health": healthComponents} {
		for _, c := range cs {
			out[name] = append(out[name], c.Weight)
		}
	}
	return out
}

// AfterChunk runs f after each chunk of a full run commits.
func AfterChunk(f func(chunk int)) Option { return func(s *Service) { s.afterChunk = f } }

// VerboseComponents returns, by profile id, the organization's components
// in the verbose form rows held before the compact one, computed by the
// same statement a full run at now with the reference runs.
func VerboseComponents(ctx context.Context, tx *ent.Tx, pg bool, tenant uuid.UUID, now time.Time, ref float64) (map[uuid.UUID]string, error) {
	d := sqlDialect{pg: pg}
	b, err := build(d, plan{tenant: tenant, now: now, ltvReference: ref, resetStale: true})
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, b.with+"\nSELECT f.id, CAST("+d.jsonObject(
		"'engagement'", d.componentsJSON(engagementComponents, "f."),
		"'churnRisk'", d.componentsJSON(churnComponents, "f."),
		"'health'", d.componentsJSON(healthComponents, "f."))+" AS TEXT) FROM f", b.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID]string{}
	for rows.Next() {
		var (
			id uuid.UUID
			js string
		)
		if err := rows.Scan(&id, &js); err != nil {
			return nil, err
		}
		out[id] = js
	}
	return out, rows.Err()
}

// IncrementalSQL returns the PostgreSQL statement, with its arguments, that
// rescores ids.
func IncrementalSQL(tenant uuid.UUID, now time.Time, ids []uuid.UUID) (string, []any, error) {
	b, err := build(sqlDialect{pg: true}, plan{tenant: tenant, now: now, ltvReference: 100000, ids: ids})
	if err != nil {
		return "", nil, err
	}
	return b.postgres(), b.args, nil
}
