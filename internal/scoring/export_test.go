package scoring

import (
	"context"

	"github.com/rapportcrm/rapport/ent"
)

// EvalSQL evaluates one of the statement's expressions (built by fn for the
// dialect) in tx, for tests of its edges.
func EvalSQL(ctx context.Context, tx *ent.Tx, pg bool, fn func(d SQLExprs) string) (string, error) {
	var s string
	err := queryRow(ctx, tx, "SELECT CAST(("+fn(SQLExprs{sqlDialect{pg: pg}})+") AS TEXT)", nil, &s)
	return s, err
}

// SQLExprs exposes the expression builders to the tests.
type SQLExprs struct{ d sqlDialect }

// Band is the health band of x.
func (SQLExprs) Band(x string) string { return bandExpr(x) }

// RoundInt rounds x (a double) half up.
func (e SQLExprs) RoundInt(x string) string { return e.d.roundInt(e.d.float(x)) }

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
