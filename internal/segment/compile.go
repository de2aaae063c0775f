package segment

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	st "github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/internal/apperr"
)

// Limits of a rule tree: deep or huge trees are mistakes, and each
// condition costs the database work on every refresh.
const (
	maxDepth      = 8
	maxConditions = 100
	maxListValues = 1000
)

// Options are what compiling needs besides the rules.
type Options struct {
	Dialect  string
	TenantID uuid.UUID
	// Now anchors within_last and behaviour windows.
	Now time.Time
	// Path prefixes error paths and explanation paths; defaults to "rules".
	Path string
	// PerProfile counts behaviour conditions per profile through the
	// (customer, time) index instead of grouping the whole tenant's
	// activities of the type: the faster form when only a few profiles are
	// evaluated (real-time re-evaluation).
	PerProfile bool
}

// Rules is a validated rule tree, ready to be rendered as SQL.
type Rules struct {
	root *node
	o    Options
}

// node is one validated rule.
type node struct {
	path     string
	rule     *st.Rule
	children []*node

	field Field
	attr  string
	beh   *behaviour
	// args are the normalized values: one scalar, a list (in, nin) or a
	// pair (between); for exists, a bool; for within_last, the cut-off time.
	args []any
}

// Compile validates a rule tree (the root is a group) against the field
// registry. Errors are INVALID and name the failing rule's path, e.g.
// "rules[1].value: expected a number".
func Compile(root *st.Rule, o Options) (*Rules, error) {
	if o.Path == "" {
		o.Path = "rules"
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC()
	if root == nil {
		return nil, apperr.InvalidField(o.Path, "at least one rule is required")
	}
	count := 0
	n, err := compileGroup(root, o.Path, o, 1, &count)
	if err != nil {
		return nil, err
	}
	return &Rules{root: n, o: o}, nil
}

func compileGroup(r *st.Rule, path string, o Options, depth int, count *int) (*node, error) {
	if depth > maxDepth {
		return nil, apperr.InvalidField(path, "groups may nest at most %d deep", maxDepth)
	}
	if r.Field != "" || r.Operator != "" {
		return nil, apperr.InvalidField(path, "a group has a combinator and rules, not a field or operator")
	}
	switch r.Combinator {
	case "":
		r.Combinator = st.And
	case st.And, st.Or, st.Not:
	default:
		return nil, apperr.InvalidField(path+".combinator", "expected AND, OR or NOT")
	}
	if len(r.Rules) == 0 {
		return nil, apperr.InvalidField(path, "a group needs at least one rule")
	}
	n := &node{path: path, rule: r}
	for i, c := range r.Rules {
		p := fmt.Sprintf("%s[%d]", path, i)
		if c == nil {
			return nil, apperr.InvalidField(p, "a rule is required")
		}
		var child *node
		var err error
		if c.IsGroup() {
			child, err = compileGroup(c, p+".rules", o, depth+1, count)
			if child != nil {
				child.path = p
			}
		} else {
			*count++
			if *count > maxConditions {
				return nil, apperr.InvalidField(p, "at most %d conditions", maxConditions)
			}
			child, err = compileCondition(c, p, o)
		}
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, child)
	}
	return n, nil
}

func compileCondition(r *st.Rule, path string, o Options) (*node, error) {
	if r.Field == "" {
		return nil, apperr.InvalidField(path+".field", "a condition needs a field")
	}
	f, attr, beh, reason := lookup(r.Field)
	if reason != "" {
		return nil, apperr.InvalidField(path+".field", "%s", reason)
	}
	if r.Operator == "" {
		return nil, apperr.InvalidField(path+".operator", "a condition needs an operator")
	}
	ops := f.Operators()
	if !containsOp(ops, r.Operator) {
		return nil, apperr.InvalidField(path+".operator", "%s does not apply to %s (%s accepts %s)", r.Operator, r.Field, r.Field, joinOps(ops))
	}
	n := &node{path: path, rule: r, field: f, attr: attr, beh: beh}
	args, err := normalizeValue(n, r.Operator, r.Value, o)
	if err != nil {
		return nil, apperr.InvalidField(path+".value", "%s", err.Error())
	}
	n.args = args
	return n, nil
}

func containsOp(ops []st.Operator, op st.Operator) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

func joinOps(ops []st.Operator) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// kind is what a scalar value must be.
type kind int

const (
	kNumber kind = iota
	kInteger
	kString
	kBool
	kTime
	kScalar // attributes: a string, number or boolean
)

// integerColumns hold whole numbers: their values must be whole too, since a
// prepared statement types the parameter as the column's type.
var integerColumns = map[string]bool{
	"booking_count_30d": true, "activity_count_30d": true, "lifetime_value": true, "engagement_score": true,
	"churn_risk_score": true, "churn_risk_trend": true, "health_score": true, "scl_member_id": true,
}

func scalarKind(n *node) kind {
	switch n.field.Type {
	case Number:
		if integerColumns[n.field.Column] {
			return kInteger
		}
		return kNumber
	case Boolean:
		return kBool
	case Time:
		return kTime
	case Attribute:
		return kScalar
	case Behaviour:
		if n.beh.days > 0 {
			return kInteger
		}
		return kTime
	}
	return kString
}

func normalizeValue(n *node, op st.Operator, v any, o Options) ([]any, error) {
	k := scalarKind(n)
	switch op {
	case st.OpExists:
		if v == nil {
			return []any{true}, nil
		}
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("expected true or false")
		}
		return []any{b}, nil
	case st.OpWithinLast, st.OpNotWithinLast:
		d, err := parseDuration(v)
		if err != nil {
			return nil, err
		}
		return []any{o.Now.Add(-d)}, nil
	case st.OpIn, st.OpNin:
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("expected a non-empty list")
		}
		if len(list) > maxListValues {
			return nil, fmt.Errorf("at most %d values", maxListValues)
		}
		out := make([]any, len(list))
		for i, e := range list {
			x, err := scalar(n, k, e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = x
		}
		if k == kScalar {
			for _, x := range out[1:] {
				if fmt.Sprintf("%T", x) != fmt.Sprintf("%T", out[0]) {
					return nil, fmt.Errorf("the values must all be numbers or all be strings")
				}
			}
		}
		return out, nil
	case st.OpBetween:
		list, ok := v.([]any)
		if !ok || len(list) != 2 {
			return nil, fmt.Errorf("expected a list of two values [low, high]")
		}
		if k == kScalar {
			k = kNumber
		}
		lo, err := scalar(n, k, list[0])
		if err != nil {
			return nil, fmt.Errorf("[0]: %w", err)
		}
		hi, err := scalar(n, k, list[1])
		if err != nil {
			return nil, fmt.Errorf("[1]: %w", err)
		}
		if less(hi, lo) {
			return nil, fmt.Errorf("low is greater than high")
		}
		return []any{lo, hi}, nil
	case st.OpContains:
		s, ok := v.(string)
		if !ok || strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("expected a non-empty string")
		}
		if n.field.Type == Tags {
			return []any{normTag(s)}, nil
		}
		return []any{s}, nil
	case st.OpLt, st.OpLte, st.OpGt, st.OpGte:
		if k == kScalar {
			k = kNumber
		}
	}
	x, err := scalar(n, k, v)
	if err != nil {
		return nil, err
	}
	return []any{x}, nil
}

func less(a, b any) bool {
	switch a := a.(type) {
	case float64:
		return a < b.(float64)
	case int64:
		return a < b.(int64)
	case time.Time:
		return a.Before(b.(time.Time))
	}
	return false
}

func normTag(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// scalar checks and normalizes one value: numbers become float64 (int64 for
// whole-number columns), times time.Time in UTC.
func scalar(n *node, k kind, v any) (any, error) {
	if v == nil {
		return nil, fmt.Errorf("a value is required (use exists to test for a missing value)")
	}
	switch k {
	case kNumber, kInteger:
		f, ok := number(v)
		if !ok {
			return nil, fmt.Errorf("expected a number")
		}
		if k == kInteger {
			if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return nil, fmt.Errorf("expected a whole number")
			}
			if n.beh != nil && f < 0 {
				return nil, fmt.Errorf("expected a count of 0 or more")
			}
			return int64(f), nil
		}
		return f, nil
	case kBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("expected true or false")
		}
		return b, nil
	case kTime:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("expected a time (RFC 3339, e.g. 2026-11-01T00:00:00Z)")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			if d, derr := time.Parse("2006-01-02", s); derr == nil {
				return d.UTC(), nil
			}
			return nil, fmt.Errorf("expected a time (RFC 3339, e.g. 2026-11-01T00:00:00Z)")
		}
		return t.UTC(), nil
	case kScalar:
		if f, ok := number(v); ok {
			return f, nil
		}
		switch x := v.(type) {
		case string, bool:
			return x, nil
		}
		return nil, fmt.Errorf("expected a string, number or boolean")
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("expected a string")
	}
	switch n.field.Type {
	case Tags:
		return normTag(s), nil
	case Enum:
		for _, e := range n.field.Values {
			if e == s {
				return s, nil
			}
		}
		return nil, fmt.Errorf("expected one of %s", strings.Join(n.field.Values, ", "))
	}
	return s, nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// parseDuration reads a within_last value: a number of days, or a string
// such as "30d", "2w", "12h" or "90m".
func parseDuration(v any) (time.Duration, error) {
	const day = 24 * time.Hour
	bad := fmt.Errorf(`expected a duration: a number of days or a string like "30d", "2w", "12h"`)
	var d time.Duration
	if f, ok := number(v); ok {
		d = time.Duration(f * float64(day))
	} else {
		s, ok := v.(string)
		if !ok || len(s) < 2 {
			return 0, bad
		}
		x, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err != nil {
			return 0, bad
		}
		unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': day, 'w': 7 * day}[s[len(s)-1]]
		if unit == 0 {
			return 0, bad
		}
		d = time.Duration(x * float64(unit))
	}
	if d <= 0 || d > 3650*day {
		return 0, fmt.Errorf("the duration must be positive and at most 3650 days")
	}
	return d, nil
}

// Predicate renders the tree as one boolean SQL expression over a
// customer_profiles row; col qualifies a column name (e.g. `p."handicap"`).
// Every condition is two-valued (never NULL), so NOT means "not matched".
func (r *Rules) Predicate(col func(string) string) *sql.Predicate {
	return r.render(r.root, col)
}

func (r *Rules) render(n *node, col func(string) string) *sql.Predicate {
	if n.children != nil {
		ps := make([]*sql.Predicate, len(n.children))
		for i, c := range n.children {
			ps[i] = r.render(c, col)
		}
		switch n.rule.Combinator {
		case st.Or:
			return sql.Or(ps...)
		case st.Not:
			return sql.Not(sql.And(ps...))
		}
		return sql.And(ps...)
	}
	switch n.field.Type {
	case Behaviour:
		return r.behaviourPredicate(n, col)
	case Tags:
		return r.tagsPredicate(n, col(n.field.Column))
	case Attribute:
		return r.attributePredicate(n, col("attributes"))
	}
	return columnPredicate(n, col(n.field.Column))
}

// raw writes SQL text with arguments: parts alternate text and values, so
// placeholders come out right for the dialect.
func raw(parts ...any) *sql.Predicate {
	return sql.P(func(b *sql.Builder) {
		for _, p := range parts {
			switch x := p.(type) {
			case string:
				b.WriteString(x)
			case rawText:
				b.WriteString(string(x))
			case *sql.Predicate:
				b.Join(x)
			case argv:
				b.Arg(x.v)
			default:
				b.Arg(x)
			}
		}
	})
}

// rawText is SQL text built at run time (raw treats every string as SQL).
type rawText string

// argv marks a value among raw's parts as an argument, so a string value is
// never taken for SQL.
type argv struct{ v any }

func arg(v any) argv { return argv{v} }

func guard(nullable bool, c string, p *sql.Predicate) *sql.Predicate {
	if !nullable {
		return p
	}
	return sql.And(raw(c+" IS NOT NULL"), p)
}

var comparison = map[st.Operator]string{st.OpEq: " = ", st.OpNeq: " <> ", st.OpLt: " < ", st.OpLte: " <= ", st.OpGt: " > ", st.OpGte: " >= "}

func inList(c string, vals []any) *sql.Predicate {
	parts := []any{c + " IN ("}
	for i, v := range vals {
		if i > 0 {
			parts = append(parts, ", ")
		}
		parts = append(parts, arg(v))
	}
	return raw(append(parts, ")")...)
}

func columnPredicate(n *node, c string) *sql.Predicate {
	null := n.field.Nullable
	a := n.args
	switch op := n.rule.Operator; op {
	case st.OpEq, st.OpLt, st.OpLte, st.OpGt, st.OpGte:
		return guard(null, c, raw(c+comparison[op], arg(a[0])))
	case st.OpNeq:
		if !null {
			return raw(c+" <> ", arg(a[0]))
		}
		return raw("("+c+" IS NULL OR "+c+" <> ", arg(a[0]), ")")
	case st.OpIn:
		return guard(null, c, inList(c, a))
	case st.OpNin:
		if !null {
			return sql.Not(inList(c, a))
		}
		return sql.Or(raw(c+" IS NULL"), sql.Not(inList(c, a)))
	case st.OpBetween:
		return guard(null, c, raw(c+" >= ", arg(a[0]), " AND "+c+" <= ", arg(a[1])))
	case st.OpContains:
		return guard(null, c, raw("LOWER("+c+") LIKE ", arg(likePattern(a[0].(string))), " ESCAPE '\\'"))
	case st.OpExists:
		return existsPredicate(null, c, a[0].(bool))
	case st.OpWithinLast:
		return guard(null, c, raw(c+" >= ", arg(a[0])))
	case st.OpNotWithinLast:
		if !null {
			return raw(c+" < ", arg(a[0]))
		}
		return raw("("+c+" IS NULL OR "+c+" < ", arg(a[0]), ")")
	}
	panic("segment: operator not handled: " + string(n.rule.Operator))
}

func existsPredicate(nullable bool, c string, want bool) *sql.Predicate {
	switch {
	case !nullable && want:
		return raw("TRUE")
	case !nullable:
		return raw("FALSE")
	case want:
		return raw(c + " IS NOT NULL")
	}
	return raw(c + " IS NULL")
}

func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// hasTag is true when the tags array holds the tag.
func (r *Rules) hasTag(c string, tag string) *sql.Predicate {
	if r.o.Dialect == dialect.Postgres {
		b, _ := json.Marshal([]string{tag})
		return raw("("+c+" IS NOT NULL AND "+c+" @> ", rawCast(string(b), "jsonb"), ")")
	}
	return raw("EXISTS (SELECT 1 FROM json_each("+c+") WHERE json_each.value = ", arg(tag), ")")
}

// rawCast is an argument with a cast, so PostgreSQL types the parameter.
func rawCast(v any, typ string) *sql.Predicate {
	return sql.P(func(b *sql.Builder) { b.Arg(v).WriteString("::" + typ) })
}

func (r *Rules) tagsPredicate(n *node, c string) *sql.Predicate {
	switch n.rule.Operator {
	case st.OpEq, st.OpContains:
		return r.hasTag(c, n.args[0].(string))
	case st.OpIn, st.OpNin:
		ps := make([]*sql.Predicate, len(n.args))
		for i, t := range n.args {
			ps[i] = r.hasTag(c, t.(string))
		}
		if n.rule.Operator == st.OpIn {
			return sql.Or(ps...)
		}
		return sql.Not(sql.Or(ps...))
	case st.OpExists:
		fn := "json_array_length"
		if r.o.Dialect == dialect.Postgres {
			fn = "jsonb_array_length"
		}
		p := raw("(" + c + " IS NOT NULL AND " + fn + "(" + c + ") > 0)")
		if n.args[0].(bool) {
			return p
		}
		return sql.Not(p)
	}
	panic("segment: tags operator not handled: " + string(n.rule.Operator))
}

// attrExpr is the attribute's value as SQL of the value's type, NULL when
// the attribute is missing or of another type (so a comparison never fails
// on a profile whose attribute holds something else).
func (r *Rules) attrExpr(c, key string, sample any) *sql.Predicate {
	if r.o.Dialect == dialect.Postgres {
		switch sample.(type) {
		case float64:
			return raw("(CASE WHEN jsonb_typeof("+c+" -> ", arg(key), ") = 'number' THEN ("+c+" ->> ", arg(key), ")::numeric END)")
		case bool:
			return raw("(CASE WHEN jsonb_typeof("+c+" -> ", arg(key), ") = 'boolean' THEN ("+c+" ->> ", arg(key), ")::boolean END)")
		}
		return raw("(CASE WHEN jsonb_typeof("+c+" -> ", arg(key), ") = 'string' THEN "+c+" ->> ", arg(key), " END)")
	}
	path := `$."` + key + `"`
	switch sample.(type) {
	case float64:
		return raw("(CASE WHEN json_type("+c+", ", arg(path), ") IN ('integer', 'real') THEN json_extract("+c+", ", arg(path), ") END)")
	case bool:
		return raw("(CASE json_type("+c+", ", arg(path), ") WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)")
	}
	return raw("(CASE WHEN json_type("+c+", ", arg(path), ") = 'text' THEN json_extract("+c+", ", arg(path), ") END)")
}

func (r *Rules) attributePredicate(n *node, c string) *sql.Predicate {
	key, a := n.attr, n.args
	coalesce := func(p *sql.Predicate, def string) *sql.Predicate {
		return raw("COALESCE((", p, "), "+def+")")
	}
	switch op := n.rule.Operator; op {
	case st.OpExists:
		var p *sql.Predicate
		if r.o.Dialect == dialect.Postgres {
			p = raw("COALESCE(jsonb_exists("+c+", ", arg(key), "), FALSE)")
		} else {
			p = raw("(json_type("+c+", ", arg(`$."`+key+`"`), ") IS NOT NULL)")
		}
		if a[0].(bool) {
			return p
		}
		return sql.Not(p)
	case st.OpContains:
		return coalesce(raw("LOWER(", r.attrExpr(c, key, ""), ") LIKE ", arg(likePattern(a[0].(string))), " ESCAPE '\\'"), "FALSE")
	case st.OpNeq:
		return coalesce(raw(r.attrExpr(c, key, a[0]), " <> ", r.attrArg(a[0])), "TRUE")
	case st.OpIn, st.OpNin:
		parts := []any{r.attrExpr(c, key, a[0]), " IN ("}
		for i, v := range a {
			if i > 0 {
				parts = append(parts, ", ")
			}
			parts = append(parts, r.attrArg(v))
		}
		in := raw(append(parts, ")")...)
		if op == st.OpIn {
			return coalesce(in, "FALSE")
		}
		return coalesce(sql.Not(in), "TRUE")
	case st.OpBetween:
		e := r.attrExpr(c, key, a[0])
		return coalesce(raw(e, " >= ", r.attrArg(a[0]), " AND ", e, " <= ", r.attrArg(a[1])), "FALSE")
	}
	return coalesce(raw(r.attrExpr(c, key, a[0]), comparison[n.rule.Operator], r.attrArg(a[0])), "FALSE")
}

// attrArg types an attribute comparison's argument for PostgreSQL, whose
// prepared statements cannot infer it from a CASE expression.
func (r *Rules) attrArg(v any) any {
	if r.o.Dialect != dialect.Postgres {
		if b, ok := v.(bool); ok {
			if b {
				return arg(int64(1))
			}
			return arg(int64(0))
		}
		return arg(v)
	}
	switch v.(type) {
	case float64:
		return rawCast(v, "numeric")
	case bool:
		return rawCast(v, "boolean")
	}
	return rawCast(v, "text")
}

// activities starts a subquery over the customer's activities of the
// behaviour's type or category.
func (r *Rules) activityFilter(n *node) []any {
	return []any{"a.tenant_id = ", arg(r.o.TenantID), " AND a." + n.beh.column + " = ", arg(n.beh.value)}
}

// behaviourPredicate renders behaviour conditions as semi- and anti-joins
// over activities, which both databases run set-based: "at least N in D
// days" is EXISTS over the grouped counts; a condition that zero satisfies
// ("fewer than 2") is NOT EXISTS over the counts that fail it; conditions on
// the last time are EXISTS / NOT EXISTS over the entries in the window.
func (r *Rules) behaviourPredicate(n *node, col func(string) string) *sql.Predicate {
	id := col("id")
	f := r.activityFilter(n)
	if n.beh.days > 0 {
		since := r.o.Now.Add(-time.Duration(n.beh.days) * 24 * time.Hour)
		having, zeroHolds := countCondition(n.rule.Operator, n.args)
		if zeroHolds {
			having = "NOT (" + having + ")"
		}
		if r.o.PerProfile {
			// An aggregate without GROUP BY yields one row, for zero
			// entries too, which HAVING keeps or drops.
			counted := append([]any{"EXISTS (SELECT count(*) FROM activities a WHERE a.customer_id = " + id + " AND "}, f...)
			counted = append(counted, " AND a.occurred_at >= ", arg(since), " HAVING ")
			counted = append(counted, countArgs(having, n.args)...)
			counted = append(counted, ")")
			if zeroHolds {
				counted[0] = "NOT " + counted[0].(string)
			}
			return raw(counted...)
		}
		grouped := append([]any{"(SELECT a.customer_id FROM activities a WHERE "}, f...)
		grouped = append(grouped, " AND a.occurred_at >= ", arg(since), " GROUP BY a.customer_id HAVING ")
		grouped = append(grouped, countArgs(having, n.args)...)
		grouped = append(grouped, ") g WHERE g.customer_id = "+id+")")
		prefix := "EXISTS (SELECT 1 FROM "
		if zeroHolds {
			prefix = "NOT " + prefix
		}
		return raw(append([]any{prefix}, grouped...)...)
	}
	exists := func(neg bool, cond ...any) *sql.Predicate {
		parts := []any{"EXISTS (SELECT 1 FROM activities a WHERE a.customer_id = " + id + " AND "}
		if neg {
			parts[0] = "NOT " + parts[0].(string)
		}
		parts = append(parts, f...)
		parts = append(parts, cond...)
		return raw(append(parts, ")")...)
	}
	a := n.args
	switch n.rule.Operator {
	case st.OpWithinLast:
		return exists(false, " AND a.occurred_at >= ", arg(a[0]))
	case st.OpNotWithinLast:
		return exists(true, " AND a.occurred_at >= ", arg(a[0]))
	case st.OpExists:
		return exists(!a[0].(bool))
	case st.OpGt:
		return exists(false, " AND a.occurred_at > ", arg(a[0]))
	case st.OpGte:
		return exists(false, " AND a.occurred_at >= ", arg(a[0]))
	case st.OpLt:
		return sql.And(exists(false), exists(true, " AND a.occurred_at >= ", arg(a[0])))
	case st.OpLte:
		return sql.And(exists(false), exists(true, " AND a.occurred_at > ", arg(a[0])))
	case st.OpBetween:
		return sql.And(exists(false, " AND a.occurred_at >= ", arg(a[0]), " AND a.occurred_at <= ", arg(a[1])),
			exists(true, " AND a.occurred_at > ", arg(a[1])))
	}
	panic("segment: behaviour operator not handled: " + string(n.rule.Operator))
}

// countCondition is the HAVING text of a count condition (with ? standing
// for its values, filled by countArgs) and whether a count of zero meets it.
func countCondition(op st.Operator, a []any) (string, bool) {
	x := a[0].(int64)
	switch op {
	case st.OpEq:
		return "count(*) = ?", x == 0
	case st.OpNeq:
		return "count(*) <> ?", x != 0
	case st.OpLt:
		return "count(*) < ?", x > 0
	case st.OpLte:
		return "count(*) <= ?", true
	case st.OpGt:
		return "count(*) > ?", false
	case st.OpGte:
		return "count(*) >= ?", x == 0
	case st.OpBetween:
		return "count(*) >= ? AND count(*) <= ?", x == 0
	}
	panic("segment: count operator not handled: " + string(op))
}

// countArgs splits a HAVING text at its ? marks and puts the values in.
func countArgs(having string, a []any) []any {
	var out []any
	parts := strings.Split(having, "?")
	for i, p := range parts {
		out = append(out, rawText(p))
		if i < len(parts)-1 {
			out = append(out, arg(a[i]))
		}
	}
	return out
}
