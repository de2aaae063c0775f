package segment

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	st "github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/ent/segment"
	"github.com/rapportcrm/rapport/ent/segmentmembership"
	"github.com/rapportcrm/rapport/internal/apperr"
)

// ExplainedNode is one node of the rule tree with its result for a profile.
type ExplainedNode struct {
	Path       string
	Combinator st.Combinator
	Field      string
	Operator   st.Operator
	Expected   any
	Actual     any
	Result     bool
}

// Explanation says why a profile is or is not in a segment.
type Explanation struct {
	Customer *ent.CustomerProfile
	// Matches is whether the rules hold for the profile now.
	Matches bool
	// Member is whether it is a stored member.
	Member bool
	Nodes  []ExplainedNode
}

// Explain evaluates every node of the segment's rules for one profile in
// one query: the results come from the very SQL that decides membership,
// so an explanation can never disagree with it. Actual values come from the
// profile (and, for behaviour, from the same activity subqueries).
func (s *Service) Explain(ctx context.Context, segmentID, customerID uuid.UUID) (*Explanation, error) {
	seg, err := s.client.Segment.Get(ctx, segmentID)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "segment %s not found", segmentID)
	}
	if err != nil {
		return nil, err
	}
	p, err := s.client.CustomerProfile.Get(ctx, customerID)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "customer %s not found", customerID)
	}
	if err != nil {
		return nil, err
	}
	member, err := s.client.SegmentMembership.Query().
		Where(segmentmembership.SegmentID(segmentID), segmentmembership.CustomerID(customerID)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	ex := &Explanation{Customer: p, Member: member}
	if seg.Type == segment.TypeSTATIC {
		ex.Matches = member
		return ex, nil
	}
	rules, err := s.compileSegment(seg)
	if err != nil {
		return nil, err
	}
	var nodes []*node
	parts := []any{"SELECT "}
	i := 0
	var exprs []any
	walk(rules.root, func(n *node) {
		if i > 0 {
			exprs = append(exprs, ", ")
		}
		i++
		exprs = append(exprs, "CASE WHEN ", rules.render(n, profileCol), " THEN 1 ELSE 0 END")
		if n.beh != nil {
			exprs = append(exprs, ", ", rules.behaviourActual(n, profileCol))
		}
		nodes = append(nodes, n)
	})
	parts = append(parts, exprs...)
	parts = append(parts, ` FROM customer_profiles p WHERE p."tenant_id" = `, arg(seg.TenantID), ` AND p."id" = `, arg(customerID))
	var vals []any
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		q, args := statement(s.dialect, parts...)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return apperr.New(apperr.NotFound, "customer %s not found", customerID)
		}
		vals = make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return nil, err
	}
	k := 0
	for _, n := range nodes {
		en := ExplainedNode{Path: n.path, Result: truthy(vals[k])}
		k++
		if n.children != nil {
			en.Combinator = n.rule.Combinator
		} else {
			en.Field, en.Operator, en.Expected = n.rule.Field, n.rule.Operator, n.rule.Value
			switch {
			case n.beh != nil:
				en.Actual = actualValue(vals[k], n.beh.days == 0)
				k++
			case n.field.Type == Attribute:
				en.Actual = p.Attributes[n.attr]
			default:
				en.Actual = n.field.value(p)
			}
		}
		ex.Nodes = append(ex.Nodes, en)
	}
	ex.Matches = ex.Nodes[0].Result
	return ex, nil
}

func walk(n *node, fn func(*node)) {
	fn(n)
	for _, c := range n.children {
		walk(c, fn)
	}
}

// behaviourActual is the measured behaviour: the count in the window, or
// the time of the last activity.
func (r *Rules) behaviourActual(n *node, col func(string) string) any {
	parts := []any{"(SELECT "}
	if n.beh.days > 0 {
		parts = append(parts, "count(*)")
	} else {
		parts = append(parts, "max(a.occurred_at)")
	}
	parts = append(parts, " FROM activities a WHERE a.customer_id = "+col("id")+" AND ")
	parts = append(parts, r.activityFilter(n)...)
	if n.beh.days > 0 {
		parts = append(parts, " AND a.occurred_at >= ", arg(r.o.Now.Add(-time.Duration(n.beh.days)*24*time.Hour)))
	}
	return raw(append(parts, ")")...)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case int:
		return x != 0
	case float64:
		return x != 0
	case []byte:
		return string(x) == "1" || string(x) == "t" || string(x) == "true"
	}
	return false
}

// actualValue converts a scanned behaviour figure: a count, or a time (NULL
// when there was none; SQLite returns its stored text).
func actualValue(v any, isTime bool) any {
	if !isTime {
		switch x := v.(type) {
		case int64:
			return x
		case []byte:
			var n int64
			fmt.Sscan(string(x), &n)
			return n
		}
		return v
	}
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case string:
		return parseStoredTime(x)
	case []byte:
		return parseStoredTime(string(x))
	}
	return nil
}

func parseStoredTime(s string) any {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return s
}
