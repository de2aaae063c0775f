package scoring

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/rapportcrm/rapport/ent/schematype"
)

// This file is the one place the scoring SQL is written. The full and the
// incremental run, on both dialects, are the same statement text with a few
// switches: an id filter, whether stale baselines are reset, and the
// dialect's spelling of casts, rounding, JSON and time arithmetic. Every
// formula is built from the component tables in scoring.go, so the weights
// that score a profile are the weights its score_components report.
//
// The statement is layered: a (one aggregate over the window's activities,
// grouped by customer) → s (raw figures per profile, one LEFT JOIN) → v
// (component values 0–1) → w (health components, engagement and churn
// scores) → f (health score, the baseline) → one UPDATE of the profiles
// whose scores change. On PostgreSQL each layer is fenced with OFFSET 0, so
// every expression is evaluated once per row instead of being inlined into
// every column that uses it; the activity aggregate stays a hash aggregate
// (no DISTINCT aggregates: breadth is a sum of per-category max flags).

// sqlDialect spells the expressions where PostgreSQL and SQLite differ.
type sqlDialect struct{ pg bool }

// float makes arithmetic IEEE double on both databases: PostgreSQL would
// otherwise compute count/3.0 in exact numeric, and a score on an exact .5
// could round differently from SQLite's.
func (d sqlDialect) float(x string) string {
	if d.pg {
		return "CAST(" + x + " AS DOUBLE PRECISION)"
	}
	return "CAST(" + x + " AS REAL)"
}

// roundInt rounds a non-negative double half up. PostgreSQL's round(double)
// rounds half to even and its integer cast rounds too; SQLite's cast
// truncates, so each dialect gets the spelling that means floor(x + 0.5).
func (d sqlDialect) roundInt(x string) string {
	if d.pg {
		return "CAST(floor(" + x + " + 0.5) AS INTEGER)"
	}
	return "CAST((" + x + ") + 0.5 AS INTEGER)"
}

// roundTo keeps n decimals, for the components staff read.
func (d sqlDialect) roundTo(x string, n int) string {
	if d.pg {
		return fmt.Sprintf("round(CAST(%s AS NUMERIC), %d)", x, n)
	}
	return fmt.Sprintf("round(%s, %d)", x, n)
}

func (d sqlDialect) jsonObject(kv ...string) string {
	if d.pg {
		return "jsonb_build_object(" + strings.Join(kv, ", ") + ")"
	}
	return "json_object(" + strings.Join(kv, ", ") + ")"
}

func (d sqlDialect) jsonArray(items ...string) string {
	if d.pg {
		return "jsonb_build_array(" + strings.Join(items, ", ") + ")"
	}
	return "json_array(" + strings.Join(items, ", ") + ")"
}

// differs is a NULL-safe inequality.
func (d sqlDialect) differs(a, b string) string {
	if d.pg {
		return a + " IS DISTINCT FROM " + b
	}
	return a + " IS NOT " + b
}

// metaText reads a string of the activity's metadata.
func (d sqlDialect) metaText(key string) string {
	if d.pg {
		return "(x.metadata ->> '" + key + "')"
	}
	return "json_extract(x.metadata, '$." + key + "')"
}

// metaTrue holds when the metadata's key is the JSON literal true (not
// "true", not 1).
func (d sqlDialect) metaTrue(key string) string {
	if d.pg {
		return "x.metadata -> '" + key + "' = 'true'::jsonb"
	}
	return "json_type(x.metadata, '$." + key + "') = 'true'"
}

// days is the time from col to now in days, NULL when col is. SQLite holds
// ent's times as Go's time.String() text ("2026-12-01 12:00:00.5 +0000
// UTC"), which julianday cannot read whole; storage is UTC throughout, so
// the leading "YYYY-MM-DD HH:MM:SS" is the instant to the second.
func (d sqlDialect) days(now, col string) string {
	if d.pg {
		return "CAST(EXTRACT(EPOCH FROM (" + now + " - " + col + ")) AS DOUBLE PRECISION) / 86400.0"
	}
	return "(julianday(substr(" + now + ", 1, 19)) - julianday(substr(" + col + ", 1, 19)))"
}

// storedArrayPG and storedTypePG are the JSON functions for the
// score_components column, json on PostgreSQL (see the schema).
const (
	storedArrayPG = "json_build_array"
	storedTypePG  = "json_typeof"
)

// fence keeps a layer from being inlined into the next (see the top).
func (d sqlDialect) fence() string {
	if d.pg {
		return " OFFSET 0"
	}
	return ""
}

// statement accumulates the bound arguments while the text is written.
type statement struct {
	d    sqlDialect
	args []any
}

func (st *statement) bind(v any, pgType string) string {
	st.args = append(st.args, v)
	n := strconv.Itoa(len(st.args))
	if st.d.pg {
		return "$" + n + "::" + pgType
	}
	return "?" + n
}

// bindTime binds a UTC time: the SQLite driver then writes it in exactly
// the text ent stored, so comparisons of the text order the instants.
func (st *statement) bindTime(t time.Time) string { return st.bind(t.UTC(), "timestamptz") }

// bindIDs binds the ids of an incremental run: a uuid[] on PostgreSQL, a
// JSON array on SQLite, which has no arrays.
func (st *statement) bindIDs(ids []uuid.UUID) (string, error) {
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = id.String()
	}
	if st.d.pg {
		return st.bind(pq.Array(strs), "uuid[]"), nil
	}
	b, err := json.Marshal(strs)
	if err != nil {
		return "", err
	}
	return st.bind(string(b), ""), nil
}

// plan is what one run computes.
type plan struct {
	tenant uuid.UUID
	now    time.Time
	// ltvReference is the lifetime value (cents) that scores monetary 1.0.
	ltvReference float64
	// resetStale resets baselines older than the baseline period (full
	// runs); otherwise only missing baselines are set.
	resetStale bool
	// ids restricts the run to these profiles; nil means all.
	ids []uuid.UUID
	// after and upTo restrict a full run's chunk to the profiles with
	// after < id <= upTo; nil is unbounded.
	after, upTo *uuid.UUID
}

// built is the statement of a plan: the shared CTE, the UPDATE's SET list
// and WHERE, and the arguments.
type built struct {
	with    string
	update  string
	args    []any
	churnJS string // the churn components of f, as JSON
}

func list(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + s + "'"
	}
	return strings.Join(q, ", ")
}

// tierRank ranks a tier name from the metadata; unknown names rank NULL, so
// a change involving them is never taken for a downgrade.
func tierRank(expr string) string {
	var b strings.Builder
	b.WriteString("CASE lower(trim(" + expr + "))")
	for _, t := range TierRanking {
		for _, name := range t.Names {
			fmt.Fprintf(&b, " WHEN '%s' THEN %d", strings.ToLower(name), t.Rank)
		}
	}
	b.WriteString(" END")
	return b.String()
}

// dropValue maps a decline fraction (1 − recent/prior average) to a factor
// value: 0 for no drop or a rise, linear to 1 at FullDecline, NULL (no
// baseline) as 0.
func dropValue(col string) string {
	return fmt.Sprintf("CASE WHEN %[1]s IS NULL OR %[1]s <= 0 THEN 0.0 WHEN %[1]s >= %[2]v THEN 1.0 ELSE %[1]s / %[2]v END",
		col, FullDecline)
}

// capped is x / full, capped at 1.
func capped(x string, full float64) string {
	return fmt.Sprintf("CASE WHEN %[1]s >= %[2]v THEN 1.0 ELSE %[1]s / %[2]v END", x, full)
}

func weighted(cs []component, prefix string) string {
	terms := make([]string, len(cs))
	for i, c := range cs {
		terms[i] = fmt.Sprintf("%d * %s%s", c.Weight, prefix, c.Value)
	}
	return strings.Join(terms, " + ")
}

// storedComponents is the compact form of ScoreComponents
// (schematype.ScoreLayoutVersion): the same rounded numbers as the verbose
// form, without its names, weights and keys. On PostgreSQL the rounded
// numeric is written as a double, whose text is the shortest that reads
// back as the same double ("0.5", not "0.5000"), which is the number a
// reader of the verbose form gets too.
func (d sqlDialect) storedComponents(prefix string) string {
	num := func(x string, n int) string {
		if d.pg {
			return fastRound(x, n)
		}
		return d.roundTo(x, n)
	}
	items := []string{strconv.Itoa(schematype.ScoreLayoutVersion)}
	for _, cs := range [][]component{engagementComponents, churnComponents, healthComponents} {
		for _, c := range cs {
			items = append(items, num(prefix+c.Value, 4), num(fmt.Sprintf("%d * %s%s", c.Weight, prefix, c.Value), 2))
			if c.Raw != "" {
				items = append(items, num(prefix+c.Raw, 4))
			}
		}
	}
	if d.pg {
		return storedArrayPG + "(" + strings.Join(items, ", ") + ")"
	}
	return "json_array(" + strings.Join(items, ", ") + ")"
}

// fastRound is PostgreSQL's round(CAST(x AS NUMERIC), n) as a double, the
// number the verbose form stored, computed in double arithmetic where that
// gives the same double. A full run stores 35 rounded numbers per profile,
// and the numeric conversions were most of its time (measured: 1.2 s against
// 0.53 s for 2.4 million numbers). y = x·10ⁿ is within 1e-15 of the exact
// product, and the numeric path reads x to 15 digits, so away from a half
// (farther than 1e-6, for |y| < 1e8) both round to the same integer r, and
// r / 10ⁿ, correctly rounded, is the double nearest the decimal, as the
// numeric's cast is. Near a half, and for large figures, it takes the
// numeric path itself, which rounds halves away from zero.
func fastRound(x string, n int) string {
	scale := fmt.Sprintf("%v", math.Pow10(n))
	y := "(CAST(" + x + " AS DOUBLE PRECISION) * " + scale + ")"
	return fmt.Sprintf("CASE WHEN abs(%[1]s) < 1e8 AND abs(%[1]s - floor(%[1]s) - 0.5) > 1e-6 THEN floor(%[1]s + 0.5) / %[2]s ELSE CAST(round(CAST(%[3]s AS NUMERIC), %[4]d) AS DOUBLE PRECISION) END",
		y, scale, x, n)
}

// jsonType is the JSON type of a stored value ('array', 'object', ...).
func (d sqlDialect) jsonType(x string) string {
	if d.pg {
		return storedTypePG + "(" + x + ")"
	}
	return "json_type(" + x + ")"
}

// componentsJSON is the verbose form of a score's components, which
// crm.churn.risk.high carries.
func (d sqlDialect) componentsJSON(cs []component, prefix string) string {
	items := make([]string, len(cs))
	for i, c := range cs {
		kv := []string{"'name'", "'" + c.Name + "'", "'weight'", strconv.Itoa(c.Weight),
			"'value'", d.roundTo(prefix+c.Value, 4),
			"'points'", d.roundTo(fmt.Sprintf("%d * %s%s", c.Weight, prefix, c.Value), 2)}
		// A component without a raw figure leaves the key out (as Go's
		// omitempty does): the components are a good part of a profile
		// row's size.
		if c.Raw != "" {
			kv = append(kv, "'raw'", d.roundTo(prefix+c.Raw, 4))
		}
		items[i] = d.jsonObject(kv...)
	}
	return d.jsonArray(items...)
}

// bandExpr is the health band of a health score.
func bandExpr(health string) string {
	return fmt.Sprintf("CASE WHEN %[1]s >= %[2]d THEN 'HEALTHY' WHEN %[1]s >= %[3]d THEN 'AT_RISK' ELSE 'UNHEALTHY' END",
		health, HealthyFrom, AtRiskFrom)
}

// crossingExpr holds when a churn risk rose above HighChurnRisk.
func crossingExpr(churn, previous string) string {
	return fmt.Sprintf("(%[1]s > %[3]d AND (%[2]s IS NULL OR %[2]s <= %[3]d))", churn, previous, HighChurnRisk)
}

func build(d sqlDialect, p plan) (*built, error) {
	st := &statement{d: d}
	tenant := st.bind(p.tenant.String(), "uuid")
	now := st.bindTime(p.now)
	t30 := st.bindTime(p.now.Add(-RecentWindow))
	t90 := st.bindTime(p.now.Add(-Window))
	ref := st.bind(p.ltvReference, "float8")
	var ids string
	if p.ids != nil {
		var err error
		if ids, err = st.bindIDs(p.ids); err != nil {
			return nil, err
		}
		if d.pg {
			// The ids must drive the plan, whatever the statistics say of
			// the organization. As a constant, the tenant is estimated from
			// them, and for an organization they think empty (its first
			// import or events, before ANALYZE) PostgreSQL scanned all of its
			// profiles by the tenant index, re-aggregating the timeline for
			// each: minutes for five profiles after a 100,000-row import. As
			// a sub-select it is a value known only at run time, estimated
			// like any tenant.
			tenant = "(SELECT " + tenant + ")"
		}
	}
	// from reads table AS alias, restricted to the run's ids through
	// alias.col. PostgreSQL probes the index with = ANY; SQLite has no
	// statistics to prefer the id index over the tenant index (a scan of the
	// whole organization), so the id list drives the join: CROSS JOIN keeps
	// that order.
	from := func(table, alias, col string) (source, where string) {
		switch {
		case p.ids == nil:
			return table + " AS " + alias, ""
		case d.pg:
			return table + " AS " + alias, " AND " + alias + "." + col + " = ANY(" + ids + ")"
		}
		return "json_each(" + ids + ") AS ids CROSS JOIN " + table + " AS " + alias, " AND " + alias + "." + col + " = ids.value"
	}
	// A chunk's id range bounds both the timeline (the customer id leads
	// its index) and the profiles (the primary key).
	var after, upTo string
	if p.after != nil {
		after = st.bind(p.after.String(), "uuid")
	}
	if p.upTo != nil {
		upTo = st.bind(p.upTo.String(), "uuid")
	}
	between := func(col string) string {
		var w string
		if after != "" {
			w += " AND " + col + " > " + after
		}
		if upTo != "" {
			w += " AND " + col + " <= " + upTo
		}
		return w
	}
	acts, actsWhere := from("activities", "x", "customer_id")
	actsWhere += between("x.customer_id")
	profiles, profilesWhere := from("customer_profiles", "q", "id")
	profilesWhere += between("q.id")
	f := d.float

	// a: one pass over the window's activities. System entries (imports,
	// merges) are not engagement and are left out of every count.
	email := "(x.channel = 'EMAIL' OR x.channel IS NULL)"
	opened := "x.type IN ('EMAIL_OPENED', 'EMAIL_CLICKED')"
	var breadth []string
	for _, c := range BreadthCategories {
		breadth = append(breadth, "max(CASE WHEN x.category = '"+c+"' THEN 1 ELSE 0 END)")
	}
	downgrade := "x.type = 'TIER_CHANGED' AND (" + d.metaTrue("downgrade") + " OR " +
		tierRank(d.metaText("fromTier")) + " > " + tierRank(d.metaText("toTier")) + ")"
	complaint := "x.metadata IS NOT NULL AND (" + d.metaTrue("complaint") + " OR lower(" + d.metaText("sentiment") + ") = 'negative')"
	a := `a AS (
  SELECT x.customer_id, count(*) AS n90,
    count(*) FILTER (WHERE x.occurred_at >= ` + t30 + `) AS n30,
    count(*) FILTER (WHERE ` + opened + ` AND x.occurred_at >= ` + t30 + `) AS e30,
    count(*) FILTER (WHERE x.type = 'EMAIL_OPENED') AS opens,
    count(*) FILTER (WHERE x.type = 'EMAIL_CLICKED') AS clicks,
    count(*) FILTER (WHERE x.type = 'MESSAGE_SENT' AND ` + email + `) AS sent,
    count(*) FILTER (WHERE x.type = 'MESSAGE_DELIVERED' AND ` + email + `) AS delivered,
    ` + strings.Join(breadth, " + ") + ` AS categories,
    count(*) FILTER (WHERE ` + downgrade + `) AS downgrades,
    count(*) FILTER (WHERE ` + complaint + `) AS complaints
  FROM ` + acts + `
  WHERE x.tenant_id = ` + tenant + ` AND x.occurred_at >= ` + t90 + ` AND x.category <> 'SYSTEM'` + actsWhere + `
  GROUP BY x.customer_id)`

	// s: the raw figures of every profile (those without activity in the
	// window get zeros), with its stored scores as they were.
	col := func(x string) string { return f("COALESCE(a." + x + ", 0)") }
	months := fmt.Sprintf("%v", Window.Hours()/24/30)
	// The earlier part of the window (days 31–90) is scaled to one recent
	// window, so the decline compares like with like: its monthly average.
	priorScale := fmt.Sprintf("%v", float64(RecentWindow)/float64(Window-RecentWindow))
	s := `s AS (
  SELECT q.id, q.engagement_score AS old_engagement, q.churn_risk_score AS old_churn,
    q.churn_risk_baseline AS old_baseline, q.churn_risk_baseline_at AS old_baseline_at,
    ` + d.days(now, "q.last_activity_at") + ` AS r_days,
    ` + col("n90") + ` / ` + months + ` AS r_per_month,
    ` + f("q.lifetime_value") + ` AS r_ltv,
    ` + col("categories") + ` AS r_categories,
    CASE WHEN COALESCE(a.sent, 0) >= COALESCE(a.delivered, 0) THEN ` + col("sent") + ` ELSE ` + col("delivered") + ` END AS r_messages,
    ` + col("opens") + ` + 2 * ` + col("clicks") + ` AS r_engaged,
    CASE WHEN COALESCE(a.n90, 0) > COALESCE(a.n30, 0) THEN 1 - ` + col("n30") + ` / ((` + col("n90") + ` - ` + col("n30") + `) * ` + priorScale + `)
      WHEN COALESCE(a.n90, 0) = 0 AND q.last_activity_at < ` + t90 + ` THEN 1.0 END AS r_decline,
    CASE WHEN COALESCE(a.opens + a.clicks, 0) > COALESCE(a.e30, 0) THEN 1 - ` + col("e30") + ` / ((` + f("COALESCE(a.opens + a.clicks, 0)") + ` - ` + col("e30") + `) * ` + priorScale + `) END AS r_email_decline,
    CASE WHEN upper(trim(q.membership_status)) IN (` + list(PaymentIssueStatuses) + `) THEN 1.0 ELSE 0.0 END AS v_payment,
    ` + col("downgrades") + ` AS r_downgrades,
    ` + col("complaints") + ` AS r_complaints
  FROM ` + profiles + ` LEFT JOIN a ON a.customer_id = q.id
  WHERE q.tenant_id = ` + tenant + profilesWhere + d.fence() + `)`

	// v: each component's value, 0–1.
	recencyFull, recencyZero := RecencyFull.Hours()/24, RecencyZero.Hours()/24
	v := fmt.Sprintf(`v AS (
  SELECT s.*,
    CASE WHEN r_days IS NULL OR r_days >= %[1]v THEN 0.0 WHEN r_days <= %[2]v THEN 1.0 ELSE (%[1]v - r_days) / %[3]v END AS v_recency,
    %[4]s AS v_frequency,
    CASE WHEN %[5]s <= 0 OR r_ltv <= 0 THEN 0.0 WHEN r_ltv >= %[5]s THEN 1.0 ELSE r_ltv / %[5]s END AS v_monetary,
    %[6]s AS v_breadth,
    CASE WHEN r_messages > 0 THEN r_engaged / r_messages END AS r_depth,
    CASE WHEN r_messages <= 0 THEN 0.0 WHEN r_engaged >= r_messages THEN 1.0 ELSE r_engaged / r_messages END AS v_depth,
    %[7]s AS v_decline,
    %[8]s AS v_email_drop,
    CASE WHEN r_downgrades > 0 THEN 1.0 ELSE 0.0 END AS v_downgrade,
    %[9]s AS v_complaints
  FROM s%[10]s)`,
		recencyZero, recencyFull, recencyZero-recencyFull,
		capped("r_per_month", FrequencyFull), ref, capped("r_categories", BreadthFull),
		dropValue("r_decline"), dropValue("r_email_decline"), capped("r_complaints", ComplaintsFull), d.fence())

	// w: the health components and the two weighted scores.
	w := `w AS (
  SELECT v.*,
    0.5 * v_recency + 0.5 * v_frequency AS v_usage,
    0.6 * v_depth + 0.4 * v_breadth AS v_engagement,
    (1 - v_payment) * (0.5 + 0.5 * v_monetary) AS v_financial,
    ` + d.roundInt(weighted(engagementComponents, "")) + ` AS engagement,
    ` + d.roundInt(weighted(churnComponents, "")) + ` AS churn
  FROM v` + d.fence() + `)`

	// f: the health score and the baseline. A baseline is set where there is
	// none and, on full runs, reset where it is older than the period: to the
	// churn risk as it stood before this run (the new one for a profile
	// never scored).
	reset := "old_baseline IS NULL OR old_baseline_at IS NULL"
	if p.resetStale {
		reset += " OR old_baseline_at < " + st.bindTime(p.now.Add(-BaselinePeriod+BaselineSlack))
	}
	fl := `f AS (
  SELECT w.*, ` + d.roundInt(weighted(healthComponents, "")) + ` AS health,
    CASE WHEN ` + reset + ` THEN COALESCE(old_churn, churn) ELSE old_baseline END AS baseline,
    CASE WHEN ` + reset + ` THEN ` + now + ` ELSE old_baseline_at END AS baseline_at
  FROM w` + d.fence() + `)`

	components := d.storedComponents("f.")
	band := bandExpr("f.health")
	trend := "f.churn - f.baseline"
	changed := strings.Join([]string{
		"p.scores_computed_at IS NULL",
		d.differs("p.engagement_score", "f.engagement"),
		d.differs("p.churn_risk_score", "f.churn"),
		d.differs("p.health_score", "f.health"),
		d.differs("p.health_band", band),
		d.differs("p.churn_risk_baseline", "f.baseline"),
		d.differs("p.churn_risk_baseline_at", "f.baseline_at"),
		d.differs("p.churn_risk_trend", trend),
		// Components stored before the compact form are rewritten once,
		// so storage converges on it.
		d.jsonType("p.score_components") + " <> 'array'",
	}, "\n    OR ")
	// f holds the organization's profiles only, so p.id = f.id says it all.
	// PostgreSQL is also told the tenant, so a small organization's full run
	// reads its own profiles by index rather than the whole table; SQLite
	// would take it as a reason to loop over the organization's profiles
	// first and look each up in f.
	target := ""
	if d.pg {
		target = " AND p.tenant_id = " + tenant
	}
	// A chunk's range, repeated for the updated table: otherwise PostgreSQL
	// hash-joins f with a scan of the whole organization for every chunk.
	target += between("p.id")
	// An incremental run reads the profiles' activities by index, one
	// profile after the other, and the update locked each profile as soon
	// as its scores were out: the first ones stayed locked for the whole
	// statement, and ingestion batches writing to them waited (on 1M
	// profiles with about 200 activities each, 260 ms a statement). Sorted
	// first (a sort reads all of its input before it returns a row), every
	// score is computed before the first lock, and the profiles are locked
	// in id order, as ingestion locks them.
	source := "f"
	if d.pg && p.ids != nil {
		source = "(SELECT * FROM f ORDER BY f.id, f.health OFFSET 0) AS f"
	}
	update := `UPDATE customer_profiles AS p SET engagement_score = f.engagement, churn_risk_score = f.churn,
  health_score = f.health, health_band = ` + band + `,
  churn_risk_baseline = f.baseline, churn_risk_baseline_at = f.baseline_at, churn_risk_trend = ` + trend + `,
  score_components = ` + components + `,
  scores_computed_at = ` + now + `, updated_at = ` + now + `
FROM ` + source + `
WHERE p.id = f.id` + target + `
  AND (` + changed + `)`
	return &built{
		with:    "WITH " + strings.Join([]string{a, s, v, w, fl}, ",\n"),
		update:  update,
		args:    st.args,
		churnJS: d.componentsJSON(churnComponents, "f."),
	}, nil
}

// postgres is one statement: the UPDATE in a data-modifying CTE whose
// RETURNING pairs each changed profile's new churn risk with the old one
// from f (the subquery that read the row before the update), aggregated to
// one row: how many changed, and the crossings with their components.
func (b *built) postgres() string {
	return b.with + `,
u AS (` + b.update + `
RETURNING p.id, f.old_churn AS previous, p.churn_risk_score AS churn,
  CASE WHEN ` + crossingExpr("p.churn_risk_score", "f.old_churn") + ` THEN ` + b.churnJS + ` END AS components)
SELECT count(*), COALESCE(json_agg(json_build_object('customerId', id, 'previous', previous, 'churnRisk', churn,
  'components', components) ORDER BY id) FILTER (WHERE components IS NOT NULL), '[]'::json)::text
FROM u`
}

// fullRunSettings steer PostgreSQL to the plan a full run wants — a hash
// aggregate of the window's activities, then hash joins with the profiles —
// for the one statement. They were needed under the first row-level
// security policy (tenant_id::text = current_setting(...)), which the
// planner could not estimate: it guessed 1 row in 200 and picked sorts and
// nested loops of index probes, many times slower at a club's full size.
// The policy now compares uuids (database.policyTenant), which it
// estimates; the settings stay, so the plan does not rest on that
// estimate. Incremental runs keep the planner's choice: there index probes
// are right.
//
// JIT compilation is off: a chunk's statement is costed high enough to be
// compiled, and compiling it took longer (2.8 s, measured) than running it.
const fullRunSettings = "SET LOCAL enable_nestloop = off; SET LOCAL enable_sort = off; SET LOCAL work_mem = '64MB'; SET LOCAL jit = off"

// resetSettings puts the settings back for the rest of the transaction.
const resetSettings = "SET LOCAL enable_nestloop TO DEFAULT; SET LOCAL enable_sort TO DEFAULT; SET LOCAL work_mem TO DEFAULT; SET LOCAL jit TO DEFAULT"

// sqliteCrossings selects the crossings before the update: SQLite's
// RETURNING may not name the FROM table that holds the old value. The
// transaction holds SQLite's one write lock, so nothing changes in between.
func (b *built) sqliteCrossings() string {
	return b.with + `
SELECT f.id, f.old_churn, f.churn, ` + b.churnJS + ` FROM f WHERE ` + crossingExpr("f.churn", "f.old_churn") + ` ORDER BY f.id`
}

// sqliteUpdate is the update itself; its row count is the changed count.
func (b *built) sqliteUpdate() string { return b.with + "\n" + b.update }
