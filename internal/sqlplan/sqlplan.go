// Package sqlplan marks the statements that PostgreSQL must plan for their
// argument values on every execution.
//
// The service's connections keep its statements prepared (see
// internal/database), and after five executions PostgreSQL may switch a
// prepared statement to a generic plan, chosen without the values. For a
// lookup by key that plan is as good and saves the planning. For a
// statement whose best plan depends on the values, such as a segment's rules
// ("tier in (Gold, Platinum)" wants the tier index, "status = ACTIVE" a scan)
// or a score run, the generic plan can be several times slower. Statements
// run with a context from PerExecution go unprepared instead, so each
// execution gets a plan for its values.
package sqlplan

import "context"

type perExecutionKey struct{}

// PerExecution returns ctx marked so that the statements run with it are
// planned afresh on every execution.
func PerExecution(ctx context.Context) context.Context {
	return context.WithValue(ctx, perExecutionKey{}, true)
}

// IsPerExecution reports whether ctx carries the PerExecution mark.
func IsPerExecution(ctx context.Context) bool {
	v, _ := ctx.Value(perExecutionKey{}).(bool)
	return v
}
