// Package seed writes large numbers of synthetic customer profiles straight
// to the database, for benchmarks and load tests. It bypasses ent (no hooks,
// no audit entries): it is a bulk tool, not a way to create customers.
package seed

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"

	"github.com/rapportcrm/rapport/internal/demo"
	"github.com/rapportcrm/rapport/internal/identity"
)

// Stats says what a run wrote and how long it took.
type Stats struct {
	// Profiles is the number of customer profiles written.
	Profiles int
	// Aliases is the number of identity aliases written.
	Aliases int
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
}

// Profiles writes n synthetic profiles of the tenant, each with a primary
// EMAIL and PHONE identity alias. dialectName is "postgres" or "sqlite3".
// Progress, when not nil, receives a progress bar. Profiles may be called
// several times for one tenant; the keys of one run never collide with those
// of another, as long as runs for the same tenant do not overlap in time.
func Profiles(ctx context.Context, db *sql.DB, dialectName string, tenantID uuid.UUID, n int, progress io.Writer) (Stats, error) {
	start := time.Now()
	if n <= 0 {
		return Stats{}, nil
	}
	if dialectName != dialect.Postgres && dialectName != dialect.SQLite {
		return Stats{}, fmt.Errorf("seed: unsupported dialect %q", dialectName)
	}
	phoneBase, err := nextPhone(ctx, db, dialectName, tenantID)
	if err != nil {
		return Stats{}, err
	}
	g := newGenerator(tenantID, phoneBase, time.Now())
	bar := newBar(progress, n)
	var st Stats
	if dialectName == dialect.Postgres {
		st, err = copyPostgres(ctx, db, g, n, bar)
	} else {
		st, err = insertSQLite(ctx, db, g, n, bar)
	}
	if bar != nil {
		if err == nil {
			_ = bar.Finish()
		} else {
			_ = bar.Exit()
		}
	}
	st.Elapsed = time.Since(start)
	return st, err
}

func newBar(w io.Writer, n int) *progressbar.ProgressBar {
	if w == nil {
		return nil
	}
	return progressbar.NewOptions64(int64(n),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("seeding profiles"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// Seeded phone numbers are +276 followed by eight digits: the 06x mobile
// ranges, which the demo data leaves alone. Numbering them by index lets a
// run continue after the highest number already in the tenant, so repeated
// runs never collide.
const (
	phonePrefix = "+276"
	phoneSpace  = 100_000_000
)

// nextPhone returns the index after the highest seeded phone number the
// tenant holds. The range scan runs on the unique (tenant, kind, value) index.
func nextPhone(ctx context.Context, db *sql.DB, dialectName string, tenantID uuid.UUID) (int64, error) {
	q := `SELECT max(value) FROM identity_aliases WHERE tenant_id = ? AND kind = 'PHONE' AND value >= '+276' AND value < '+277'`
	var (
		v   sql.NullString
		err error
	)
	if dialectName == dialect.Postgres {
		err = inTenantTx(ctx, db, tenantID, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, strings.Replace(q, "?", "$1", 1), tenantID.String()).Scan(&v)
		})
	} else {
		err = db.QueryRowContext(ctx, q, tenantID.String()).Scan(&v)
	}
	if err != nil {
		return 0, fmt.Errorf("seed: read seeded phones: %w", err)
	}
	if !v.Valid || len(v.String) != len(phonePrefix)+8 {
		return 0, nil
	}
	last, err := strconv.ParseInt(v.String[len(phonePrefix):], 10, 64)
	if err != nil {
		return 0, nil
	}
	return last + 1, nil
}

// template is a generated person whose non-identifying fields seeded rows
// reuse, pre-encoded so that a row costs no JSON encoding and few
// allocations.
//
// Column values are kept boxed: assigning them to a row's []any then
// allocates nothing.
type template struct {
	status, lifecycle any           // string
	tags              any           // JSON string
	engagement, churn any           // int64 or nil
	lifetimeValue     any           // int64
	activity, booking any           // int64
	handicap          any           // float64 or nil
	homeClub          any           // string or nil
	tier, mstatus     any           // string or nil
	emailOpt, smsOpt  any           // bool
	pushOpt, waOpt    any           // bool
	lastActivityAgo   time.Duration // < 0: never active
	domain            string
}

// name is a first name or surname with its e-mail form.
type name struct{ text, local string }

// generator makes the rows of one run. It is not safe for concurrent use;
// fork gives each goroutine its own.
type generator struct {
	r         *rand.Rand
	tenant    string
	now       time.Time
	run       string
	phoneBase int64
	templates []template
	firsts    []name
	lasts     []name
	buf       []byte
}

// poolSize is how many demo people the rows are drawn from; names are mixed
// independently, so 1,000,000 rows still hold tens of thousands of distinct
// full names.
const poolSize = 4096

func newGenerator(tenantID uuid.UUID, phoneBase int64, now time.Time) *generator {
	now = now.UTC().Truncate(time.Microsecond)
	run := strconv.FormatUint(rand.Uint64()%(36*36*36*36*36*36*36*36), 36)
	g := &generator{
		r:         rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		tenant:    tenantID.String(),
		now:       now,
		run:       run,
		phoneBase: phoneBase,
	}
	firsts, lasts := map[string]bool{}, map[string]bool{}
	for _, p := range demo.People(poolSize, demo.Seed, now) {
		firsts[p.FirstName], lasts[p.LastName] = true, true
		t := template{
			status:          string(p.Status),
			lifecycle:       string(p.LifecycleStage),
			tags:            mustJSON(p.Tags),
			lifetimeValue:   p.LifetimeValue,
			activity:        int64(p.ActivityCount30d),
			booking:         int64(p.BookingCount30d),
			emailOpt:        p.EmailOptIn,
			smsOpt:          p.SmsOptIn,
			pushOpt:         p.PushOptIn,
			waOpt:           p.WhatsappOptIn,
			domain:          p.Email[strings.LastIndexByte(p.Email, '@')+1:],
			lastActivityAgo: -1,
		}
		if p.EngagementScore != nil {
			t.engagement, t.churn = int64(*p.EngagementScore), int64(*p.ChurnRiskScore)
		}
		if p.LastActivityAt != nil {
			t.lastActivityAgo = now.Sub(*p.LastActivityAt)
		}
		if p.Handicap != nil {
			t.handicap = *p.Handicap
		}
		if p.HomeClubID != nil {
			t.homeClub = *p.HomeClubID
		}
		if p.MembershipTier != nil {
			t.tier, t.mstatus = *p.MembershipTier, *p.MembershipStatus
		}
		g.templates = append(g.templates, t)
	}
	for _, f := range slices.Sorted(mapKeys(firsts)) {
		g.firsts = append(g.firsts, name{f, demo.EmailLocal(f)})
	}
	for _, l := range slices.Sorted(mapKeys(lasts)) {
		g.lasts = append(g.lasts, name{l, demo.EmailLocal(l)})
	}
	return g
}

// fork returns a generator for another goroutine: it shares the read-only
// templates and names and has its own random stream and buffer.
func (g *generator) fork() *generator {
	c := *g
	c.r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	c.buf = nil
	return &c
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// row is one generated profile with its identity keys.
type row struct {
	id         string
	email      string
	phone      any // string, or nil once the run has used up the phone range
	first      string
	last       string
	display    string
	search     string
	attributes string
	created    time.Time
	updated    time.Time
	lastActive any // time.Time or nil
	t          *template
}

// profileColumns are the customer_profiles columns seeded rows set; the
// cross-service ids stay NULL because every key a profile shows must also be
// an identity alias, and seeded rows have aliases for e-mail and phone only.
var profileColumns = []string{
	"id", "tenant_id", "created_at", "updated_at", "email", "phone_number", "external_ids",
	"first_name", "last_name", "display_name", "status", "lifecycle_stage", "tags",
	"engagement_score", "churn_risk_score", "lifetime_value", "last_activity_at",
	"activity_count_30d", "booking_count_30d", "handicap", "home_club_id", "membership_tier",
	"membership_status", "email_opt_in", "sms_opt_in", "push_opt_in", "whatsapp_opt_in",
	"attributes", "search_text",
}

// aliasColumns are the identity_aliases columns seeded rows set.
var aliasColumns = []string{"id", "tenant_id", "kind", "value", "primary", "source", "created_at", "customer_id"}

// aliasSource marks the aliases this package writes.
const aliasSource = "seed"

// next generates row i of the run.
func (g *generator) next(i int) (row, error) {
	r := g.r
	id, err := uuid.NewV7()
	if err != nil {
		return row{}, err
	}
	f, l := g.firsts[r.IntN(len(g.firsts))], g.lasts[r.IntN(len(g.lasts))]
	t := &g.templates[r.IntN(len(g.templates))]

	// firstname.lastname.<run>.<i>@domain: the run token keeps runs apart,
	// i keeps rows of one run apart.
	b := g.buf[:0]
	b = append(b, f.local...)
	b = append(b, '.')
	b = append(b, l.local...)
	b = append(b, '.')
	b = append(b, g.run...)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, '@')
	b = append(b, t.domain...)
	email := string(b)

	var phone any
	phoneText := ""
	// Past the end of the 06x range a row gets no phone rather than a
	// duplicate or an invalid number.
	if k := g.phoneBase + int64(i); k < phoneSpace {
		b = append(b[:0], phonePrefix...)
		b = appendPadded(b, k, 8)
		phoneText = string(b)
		phone = phoneText
	}

	b = append(b[:0], `{"seed":true,"lockerNumber":`...)
	b = strconv.AppendInt(b, int64(1+r.IntN(1200)), 10)
	b = append(b, '}')
	attributes := string(b)
	g.buf = b

	display := f.text + " " + l.text
	age := time.Duration(r.Int64N(int64(3 * 365 * 24 * time.Hour)))
	created := g.now.Add(-age).Truncate(time.Microsecond)
	updated := created.Add(time.Duration(r.Int64N(int64(age) + 1))).Truncate(time.Microsecond)
	var lastActive any
	if t.lastActivityAgo >= 0 {
		lastActive = g.now.Add(-t.lastActivityAgo)
	}
	return row{
		id:         id.String(),
		email:      email,
		phone:      phone,
		first:      f.text,
		last:       l.text,
		display:    display,
		search:     identity.SearchText(f.text, l.text, display, email, phoneText),
		attributes: attributes,
		created:    created,
		updated:    updated,
		lastActive: lastActive,
		t:          t,
	}, nil
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v int64, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], v, 10)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// profileValues fills vals (len(profileColumns)) with the row's columns.
func (g *generator) profileValues(vals []any, rw *row) {
	t := rw.t
	vals[0], vals[1], vals[2], vals[3] = rw.id, g.tenant, rw.created, rw.updated
	vals[4], vals[5], vals[6] = rw.email, rw.phone, "{}"
	vals[7], vals[8], vals[9] = rw.first, rw.last, rw.display
	vals[10], vals[11], vals[12] = t.status, t.lifecycle, t.tags
	vals[13], vals[14], vals[15], vals[16] = t.engagement, t.churn, t.lifetimeValue, rw.lastActive
	vals[17], vals[18], vals[19], vals[20] = t.activity, t.booking, t.handicap, t.homeClub
	vals[21], vals[22] = t.tier, t.mstatus
	vals[23], vals[24], vals[25], vals[26] = t.emailOpt, t.smsOpt, t.pushOpt, t.waOpt
	vals[27], vals[28] = rw.attributes, rw.search
}

// aliasValues fills vals (len(aliasColumns)) with one alias of the row.
func (g *generator) aliasValues(vals []any, rw *row, kind, value string) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	vals[0], vals[1], vals[2], vals[3] = id.String(), g.tenant, kind, value
	vals[4], vals[5], vals[6], vals[7] = true, aliasSource, rw.created, rw.id
	return nil
}

// inTenantTx runs fn in a PostgreSQL transaction scoped to the tenant: the
// row-level security policies read rapport.tenant_id, and the service may
// connect as a role they apply to.
func inTenantTx(ctx context.Context, db *sql.DB, tenantID uuid.UUID, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT set_config('rapport.tenant_id', $1, true)", tenantID.String()); err != nil {
		return fmt.Errorf("set tenant: %w", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
