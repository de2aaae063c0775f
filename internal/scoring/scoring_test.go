package scoring_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/outboxevent"
	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/ent/scorerun"
	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/outbox"
	"github.com/rapportcrm/rapport/internal/scoring"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

const day = 24 * time.Hour

// now is the fixed clock of the tests: whole seconds, so both databases see
// the same instants.
var now = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t      *testing.T
	client *ent.Client
	ctx    context.Context // the club's tenant
	org    uuid.UUID
}

func (f *fixture) profile(email string, ltv int64, status string, lastAgo time.Duration) *ent.CustomerProfile {
	c := f.client.CustomerProfile.Create().SetEmail(email).SetLifetimeValue(ltv)
	if status != "" {
		c.SetMembershipStatus(status)
	}
	if lastAgo > 0 {
		c.SetLastActivityAt(now.Add(-lastAgo))
	}
	return c.SaveX(f.ctx)
}

// act logs one timeline entry; channel "" leaves it unset.
func (f *fixture) act(p *ent.CustomerProfile, typ activity.Type, cat activity.Category, ago time.Duration, channel string, meta map[string]any) {
	c := f.client.Activity.Create().SetCustomerID(p.ID).SetType(typ).SetCategory(cat).SetTitle(string(typ)).
		SetSourceService("test").SetOccurredAt(now.Add(-ago))
	if channel != "" {
		c.SetChannel(channel)
	}
	if meta != nil {
		c.SetMetadata(meta)
	}
	c.ExecX(f.ctx)
}

func (f *fixture) get(id uuid.UUID) *ent.CustomerProfile {
	return f.client.CustomerProfile.GetX(f.ctx, id)
}

type want struct {
	engagement, churn, health int
	band                      customerprofile.HealthBand
}

func check(t *testing.T, name string, p *ent.CustomerProfile, w want) {
	t.Helper()
	if p.EngagementScore == nil || p.ChurnRiskScore == nil || p.HealthScore == nil || p.HealthBand == nil {
		t.Fatalf("%s: scores not written: %+v", name, p)
	}
	if *p.EngagementScore != w.engagement || *p.ChurnRiskScore != w.churn || *p.HealthScore != w.health || *p.HealthBand != w.band {
		t.Errorf("%s: engagement/churn/health/band = %d/%d/%d/%s, want %d/%d/%d/%s", name,
			*p.EngagementScore, *p.ChurnRiskScore, *p.HealthScore, *p.HealthBand, w.engagement, w.churn, w.health, w.band)
	}
	if p.ScoresComputedAt == nil || !p.ScoresComputedAt.Equal(now) {
		t.Errorf("%s: scores computed at %v, want %v", name, p.ScoresComputedAt, now)
	}
	if p.ChurnRiskBaseline == nil || *p.ChurnRiskBaseline != w.churn || p.ChurnRiskTrend == nil || *p.ChurnRiskTrend != 0 {
		t.Errorf("%s: first baseline/trend %v/%v, want %d/0", name, p.ChurnRiskBaseline, p.ChurnRiskTrend, w.churn)
	}
	sum := func(cs []schematype.ScoreComponent) (s float64) {
		for _, c := range cs {
			s += c.Points
		}
		return s
	}
	c := p.ScoreComponents
	if len(c.Engagement) != 5 || len(c.ChurnRisk) != 5 || len(c.Health) != 3 {
		t.Fatalf("%s: components %+v", name, c)
	}
	for _, s := range []struct {
		cs    []schematype.ScoreComponent
		score int
	}{{c.Engagement, w.engagement}, {c.ChurnRisk, w.churn}, {c.Health, w.health}} {
		if math.Abs(sum(s.cs)-float64(s.score)) > 0.51 {
			t.Errorf("%s: components add up to %.2f, score %d", name, sum(s.cs), s.score)
		}
	}
}

// comp is an expected component: value and raw (NaN: no raw figure).
type comp struct {
	name  string
	value float64
	raw   float64
}

func checkComponents(t *testing.T, label string, got []schematype.ScoreComponent, want []comp) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d components, want %d", label, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || math.Abs(g.Value-w.value) > 1e-4 || math.Abs(g.Points-float64(g.Weight)*w.value) > 0.006 {
			t.Errorf("%s: %+v, want %s value %.4f", label, g, w.name, w.value)
		}
		switch {
		case math.IsNaN(w.raw) && g.Raw != nil:
			t.Errorf("%s %s: raw %v, want none", label, w.name, *g.Raw)
		case !math.IsNaN(w.raw) && (g.Raw == nil || math.Abs(*g.Raw-w.raw) > 1e-3):
			t.Errorf("%s %s: raw %v, want %v", label, w.name, g.Raw, w.raw)
		}
	}
}

func churnEvents(t *testing.T, f *fixture) []outbox.Envelope {
	t.Helper()
	rows := f.client.OutboxEvent.Query().Where(outboxevent.TypeEQ(scoring.EventChurnRiskHigh), outboxevent.OrganizationID(f.org)).
		Order(ent.Asc(outboxevent.FieldID)).AllX(f.ctx)
	out := make([]outbox.Envelope, len(rows))
	for i, r := range rows {
		if err := json.Unmarshal(r.Payload, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

var none = math.NaN()

// org returns the organization with the slug, created if need be.
func org(t *testing.T, client *ent.Client, slug string) uuid.UUID {
	t.Helper()
	o, err := organization.Ensure(context.Background(), client, slug, slug)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// TestScores checks hand-computed scores of crafted profiles, change-only
// writes, the churn crossing event, incremental against full runs and
// tenant isolation.
func TestScores(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := testenv.Open(t, tg)
		ctx := context.Background()
		club, other := org(t, db.Client, "club"), org(t, db.Client, "other")
		f := &fixture{t: t, client: db.Client, ctx: tenancy.WithTenant(ctx, club), org: club}
		B, G, E, F, S, C, M := activity.CategoryBOOKING, activity.CategoryGOLF, activity.CategoryENGAGEMENT,
			activity.CategoryFINANCIAL, activity.CategorySUPPORT, activity.CategoryCOMMUNICATION, activity.CategoryMEMBERSHIP

		// p1: active, steady, four categories, half its e-mails engaged.
		p1 := f.profile("p1@club.co.za", 50_000, "Active", 3*day)
		f.act(p1, activity.TypeTEETIME_BOOKED, B, 3*day, "", nil)
		f.act(p1, activity.TypeTEETIME_COMPLETED, G, 5*day, "", nil)
		f.act(p1, activity.TypeEMAIL_OPENED, E, 10*day, "EMAIL", nil)
		f.act(p1, activity.TypePAYMENT_RECEIVED, F, 12*day, "", nil)
		f.act(p1, activity.TypeMESSAGE_SENT, C, 20*day, "EMAIL", nil)
		f.act(p1, activity.TypeMESSAGE_DELIVERED, C, 20*day, "EMAIL", nil)
		f.act(p1, activity.TypeMESSAGE_SENT, C, 40*day, "EMAIL", nil)
		f.act(p1, activity.TypeMESSAGE_DELIVERED, C, 40*day, "EMAIL", nil)
		for _, ago := range []int{45, 50, 60} {
			f.act(p1, activity.TypeTEETIME_BOOKED, B, time.Duration(ago)*day, "", nil)
		}
		f.act(p1, activity.TypeMESSAGE_SENT, C, 70*day, "SMS", nil) // an activity, not an e-mail
		f.act(p1, activity.TypePROFILE_IMPORTED, activity.CategorySYSTEM, day, "", nil)
		f.act(p1, activity.TypeTEETIME_BOOKED, B, 100*day, "", nil) // outside the window

		// p2: went quiet 35 days ago, overdue, stopped opening, downgraded,
		// complained twice.
		p2 := f.profile("p2@club.co.za", 0, " overdue ", 35*day)
		for _, ago := range []int{40, 50, 60, 80} {
			f.act(p2, activity.TypeTEETIME_BOOKED, B, time.Duration(ago)*day, "", nil)
			f.act(p2, activity.TypeEMAIL_OPENED, E, time.Duration(ago)*day, "EMAIL", nil)
		}
		f.act(p2, activity.TypeTIER_CHANGED, M, 50*day, "", map[string]any{"fromTier": "Gold", "toTier": "Silver"})
		f.act(p2, activity.TypeMEETING, S, 45*day, "", map[string]any{"complaint": true})
		f.act(p2, activity.TypeVISIT, S, 35*day, "", map[string]any{"sentiment": "negative"})

		// p3: lapsed (last seen 120 days ago), a big spender.
		p3 := f.profile("p3@club.co.za", 200_000, "ACTIVE", 120*day)
		f.act(p3, activity.TypeTEETIME_BOOKED, B, 120*day, "", nil)
		// p4: never active, a small spender.
		p4 := f.profile("p4@club.co.za", 10_000, "", 0)
		// p5: a downgrade flagged by SCL.
		p5 := f.profile("p5@club.co.za", 0, "", 10*day)
		f.act(p5, activity.TypeTIER_CHANGED, M, 10*day, "", map[string]any{"downgrade": true})
		// p6: an upgrade, a sideways move, an unknown tier and one complaint.
		p6 := f.profile("p6@club.co.za", 0, "", 3*day)
		f.act(p6, activity.TypeTIER_CHANGED, M, 10*day, "", map[string]any{"fromTier": "Silver", "toTier": "Platinum"})
		f.act(p6, activity.TypeTIER_CHANGED, M, 5*day, "", map[string]any{"fromTier": "junior", "toTier": "Social"})
		f.act(p6, activity.TypeTIER_CHANGED, M, 20*day, "", map[string]any{"fromTier": "Gold", "toTier": "Diamond"})
		f.act(p6, activity.TypeMEETING, S, 3*day, "", map[string]any{"sentiment": "NEGATIVE", "complaint": false})
		// p7: everything at full.
		p7 := f.profile("p7@club.co.za", 300_000, "ACTIVE", day)
		for i, a := range []struct {
			t activity.Type
			c activity.Category
		}{{activity.TypeTEETIME_BOOKED, B}, {activity.TypeTEETIME_COMPLETED, G}, {activity.TypePAYMENT_RECEIVED, F},
			{activity.TypeMEETING, S}, {activity.TypeMESSAGE_SENT, C}, {activity.TypeMESSAGE_SENT, C},
			{activity.TypeEMAIL_OPENED, E}, {activity.TypeEMAIL_OPENED, E}, {activity.TypeEMAIL_CLICKED, E},
			{activity.TypeTEETIME_BOOKED, B}, {activity.TypeTEETIME_BOOKED, B}, {activity.TypeTEETIME_BOOKED, B}} {
			ch := ""
			if a.c == C || a.c == E {
				ch = "EMAIL"
			}
			f.act(p7, a.t, a.c, time.Duration(i+1)*day, ch, nil)
			f.act(p7, activity.TypeTEETIME_BOOKED, B, time.Duration(31+3*i)*day, "", nil)
		}

		// Another organization's member, overdue: never touched by the club's runs.
		octx := tenancy.WithTenant(ctx, other)
		q := db.Client.CustomerProfile.Create().SetEmail("q@other.co.za").SetMembershipStatus("OVERDUE").
			SetLastActivityAt(now.Add(-day)).SaveX(octx)

		var notified int
		// Chunks of 3: the full runs score the seven profiles in three
		// transactions.
		svc := scoring.NewService(db.Client, db.Dialect, scoring.WithClock(func() time.Time { return now }),
			scoring.OnOutbox(func() { notified++ }), scoring.WithChunk(3))

		// Incremental first, before any full run: the reference is measured
		// (paying 10,000 50,000 200,000 300,000: the 90th percentile is
		// 200,000 + 0.7 × 100,000 = 270,000).
		res, err := svc.RecomputeProfiles(ctx, club, []uuid.UUID{p1.ID, p2.ID, p2.ID, q.ID})
		if err != nil {
			t.Fatal(err)
		}
		if res.Profiles != 2 || res.Changed != 2 || res.HighChurnCrossings != 1 || res.Run != nil {
			t.Errorf("incremental: %+v, want 2 profiles, 2 changed, 1 crossing", res)
		}
		if notified != 1 {
			t.Errorf("OnOutbox called %d times, want 1", notified)
		}
		inc1, inc2 := f.get(p1.ID), f.get(p2.ID)

		res, err = svc.RecomputeAll(ctx, club, scorerun.TriggerMANUAL)
		if err != nil {
			t.Fatal(err)
		}
		// Incremental equals full: p1 and p2 did not change again.
		if res.Profiles != 7 || res.Changed != 5 || res.HighChurnCrossings != 0 {
			t.Errorf("full: %+v, want 7 profiles, 5 changed, 0 crossings", res)
		}
		if r := res.Run; r == nil || r.LtvReferenceCents != 270_000 || r.Profiles != 7 || r.Changed != 5 ||
			r.Trigger != scorerun.TriggerMANUAL || !r.StartedAt.Equal(now) || r.TenantID != club {
			t.Errorf("score run %+v", res.Run)
		}
		if notified != 1 {
			t.Errorf("OnOutbox called %d times, want still 1", notified)
		}
		for _, pair := range [][2]*ent.CustomerProfile{{inc1, f.get(p1.ID)}, {inc2, f.get(p2.ID)}} {
			a, b := pair[0], pair[1]
			if *a.EngagementScore != *b.EngagementScore || *a.ChurnRiskScore != *b.ChurnRiskScore || *a.HealthScore != *b.HealthScore ||
				!reflect.DeepEqual(a.ScoreComponents, b.ScoreComponents) {
				t.Errorf("incremental %+v differs from full %+v", a.ScoreComponents, b.ScoreComponents)
			}
		}

		// Stored compactly, read back exactly as the verbose form was.
		checkStored(t, db, tg, club, 7, 270_000)

		// p1: recency 1 (3 days) → 30; 12 activities in 3 months, 4/month →
		// 0.5 → 12.5; 50,000/270,000 → 3.70; 4 categories → 15; (1 open) / 2
		// e-mails → 0.5 → 5: 66.20 → 66. Churn: 6 in the last 30 days vs 6/2
		// a month before → no decline: 0. Health: usage 0.75 → 30,
		// engagement 0.6×0.5+0.4 → 21, financial 0.5+0.5×0.185 → 17.78:
		// 68.78 → 69.
		g1 := f.get(p1.ID)
		check(t, "p1", g1, want{66, 0, 69, customerprofile.HealthBandAT_RISK})
		checkComponents(t, "p1 engagement", g1.ScoreComponents.Engagement, []comp{
			{"recency", 1, 3}, {"frequency", 0.5, 4}, {"monetary", 50_000.0 / 270_000, 50_000}, {"breadth", 1, 4}, {"depth", 0.5, 0.5}})
		checkComponents(t, "p1 churn", g1.ScoreComponents.ChurnRisk, []comp{
			{"activityDecline", 0, -1}, {"paymentIssues", 0, none}, {"engagementDrop", 0, none}, {"tierDowngrade", 0, 0}, {"complaints", 0, 0}})
		checkComponents(t, "p1 health", g1.ScoreComponents.Health, []comp{
			{"usage", 0.75, none}, {"engagement", 0.7, none}, {"financial", 0.5 + 0.5*50_000/270_000, none}})

		// p2: recency (90−35)/83 → 19.88; 11/3 a month → 0.458 → 11.46; no
		// value; 3 categories → 11.25; no e-mails sent → 0: 42.59 → 43.
		// Churn: every factor full: 100. Health: usage 0.560 → 22.42,
		// engagement 0.4×0.75 → 9, financial 0 (overdue): 31.42 → 31.
		g2 := f.get(p2.ID)
		check(t, "p2", g2, want{43, 100, 31, customerprofile.HealthBandUNHEALTHY})
		checkComponents(t, "p2 engagement", g2.ScoreComponents.Engagement, []comp{
			{"recency", 55.0 / 83, 35}, {"frequency", 11.0 / 24, 11.0 / 3}, {"monetary", 0, 0}, {"breadth", 0.75, 3}, {"depth", 0, none}})
		checkComponents(t, "p2 churn", g2.ScoreComponents.ChurnRisk, []comp{
			{"activityDecline", 1, 1}, {"paymentIssues", 1, none}, {"engagementDrop", 1, 1}, {"tierDowngrade", 1, 1}, {"complaints", 1, 2}})

		// p3: only monetary 200,000/270,000 → 14.81 → 15; lapsed → decline
		// 1 → 35; health financial 0.870 → 26.11 → 26.
		g3 := f.get(p3.ID)
		check(t, "p3", g3, want{15, 35, 26, customerprofile.HealthBandUNHEALTHY})
		checkComponents(t, "p3 churn", g3.ScoreComponents.ChurnRisk, []comp{
			{"activityDecline", 1, 1}, {"paymentIssues", 0, none}, {"engagementDrop", 0, none}, {"tierDowngrade", 0, 0}, {"complaints", 0, 0}})
		// p4: monetary 10,000/270,000 → 0.74 → 1; no history → no decline;
		// financial 0.519 → 15.56 → 16.
		g4 := f.get(p4.ID)
		check(t, "p4", g4, want{1, 0, 16, customerprofile.HealthBandUNHEALTHY})
		if r := g4.ScoreComponents.Engagement[0].Raw; r != nil {
			t.Errorf("p4 recency raw %v, want none (never active)", *r)
		}
		// p5: recency 80/83 → 28.92, 1/3 a month → 1.04: 29.96 → 30; the
		// flagged downgrade → 10; health 20.11 + 15 → 35.
		check(t, "p5", f.get(p5.ID), want{30, 10, 35, customerprofile.HealthBandUNHEALTHY})
		// p6: 30 + 4/3/8×25 = 4.17 + 1 category 3.75: 37.92 → 38; upgrades
		// and unknown tiers are no downgrade, one complaint → 5; health
		// usage 0.583 → 23.33, engagement 0.1 → 3, financial 15: 41.33 → 41.
		g6 := f.get(p6.ID)
		check(t, "p6", g6, want{38, 5, 41, customerprofile.HealthBandUNHEALTHY})
		checkComponents(t, "p6 churn", g6.ScoreComponents.ChurnRisk, []comp{
			{"activityDecline", 0, none}, {"paymentIssues", 0, none}, {"engagementDrop", 0, none}, {"tierDowngrade", 0, 0}, {"complaints", 0.5, 1}})
		// p7: full everywhere (depth (2 + 2×1)/2 = 2, capped).
		g7 := f.get(p7.ID)
		check(t, "p7", g7, want{100, 0, 100, customerprofile.HealthBandHEALTHY})
		if r := g7.ScoreComponents.Engagement[4]; r.Value != 1 || r.Raw == nil || *r.Raw != 2 {
			t.Errorf("p7 depth %+v, want value 1, raw 2", r)
		}

		// Change-only writes: nothing changed, nothing is written or sent.
		res, err = svc.RecomputeAll(ctx, club, scorerun.TriggerMANUAL)
		if err != nil {
			t.Fatal(err)
		}
		if res.Changed != 0 || res.HighChurnCrossings != 0 || res.Profiles != 7 {
			t.Errorf("second run: %+v, want nothing changed", res)
		}

		// Exactly one crm.churn.risk.high, for p2, from no score to 100.
		evs := churnEvents(t, f)
		if len(evs) != 1 {
			t.Fatalf("%d churn events, want 1", len(evs))
		}
		var data struct {
			CustomerID uuid.UUID                   `json:"customerId"`
			ChurnRisk  int                         `json:"churnRisk"`
			Previous   *int                        `json:"previous"`
			Components []schematype.ScoreComponent `json:"components"`
		}
		if err := json.Unmarshal(evs[0].Data, &data); err != nil {
			t.Fatal(err)
		}
		if data.CustomerID != p2.ID || data.ChurnRisk != 100 || data.Previous != nil || len(data.Components) != 5 ||
			data.Components[0].Name != "activityDecline" || data.Components[0].Points != 35 || evs[0].Tenant != club.String() {
			t.Errorf("event %s: %+v", evs[0].Data, data)
		}

		// Tenant isolation: the other organization's profile is untouched, and
		// its id means nothing to the club's runs.
		if g := db.Client.CustomerProfile.GetX(octx, q.ID); g.ScoresComputedAt != nil || g.ChurnRiskScore != nil || g.ScoreComponents.Engagement != nil {
			t.Errorf("other organization's profile scored: %+v", g)
		}
		if res, err := svc.RecomputeProfiles(ctx, club, []uuid.UUID{q.ID}); err != nil || res.Profiles != 0 || res.Changed != 0 {
			t.Errorf("another organization's id: %+v %v", res, err)
		}

		// Incremental runs reuse the last full run's reference: a new big
		// spender moves the 90th percentile, but not p1's monetary value
		// until the next full run.
		f.profile("p8@club.co.za", 5_000_000, "", 0)
		if res, err := svc.RecomputeProfiles(ctx, club, []uuid.UUID{p1.ID}); err != nil || res.Changed != 0 {
			t.Errorf("incremental after a full run: %+v %v, want no change", res, err)
		}

		// Dropping below 80 and crossing again produces a second event with
		// the previous risk.
		db.Client.CustomerProfile.UpdateOneID(p2.ID).SetMembershipStatus("ACTIVE").ExecX(f.ctx)
		if res, err := svc.RecomputeProfiles(ctx, club, []uuid.UUID{p2.ID}); err != nil || res.Changed != 1 || res.HighChurnCrossings != 0 {
			t.Errorf("recovery: %+v %v", res, err)
		}
		if g := f.get(p2.ID); *g.ChurnRiskScore != 75 || *g.ChurnRiskTrend != -25 || *g.HealthBand != customerprofile.HealthBandUNHEALTHY {
			t.Errorf("p2 without payment issues: churn %d trend %d band %s", *g.ChurnRiskScore, *g.ChurnRiskTrend, *g.HealthBand)
		}
		db.Client.CustomerProfile.UpdateOneID(p2.ID).SetMembershipStatus("Payment_Failed").ExecX(f.ctx)
		res, err = svc.RecomputeAll(ctx, club, scorerun.TriggerSCHEDULE)
		if err != nil || res.HighChurnCrossings != 1 {
			t.Fatalf("second crossing: %+v %v", res, err)
		}
		evs = churnEvents(t, f)
		if len(evs) != 2 {
			t.Fatalf("%d churn events, want 2", len(evs))
		}
		if err := json.Unmarshal(evs[1].Data, &data); err != nil {
			t.Fatal(err)
		}
		if data.CustomerID != p2.ID || data.Previous == nil || *data.Previous != 75 || data.ChurnRisk != 100 {
			t.Errorf("second event %s", evs[1].Data)
		}
		if notified != 2 {
			t.Errorf("OnOutbox called %d times, want 2", notified)
		}
	})
}

// TestTrend: the trend is churn risk minus the weekly baseline, which full
// runs reset once it is a week old and incremental runs leave alone.
// TestReferenceRoundsHalfUp checks that both databases measure the LTV
// reference alike where the percentile falls halfway between two cents:
// paying 2…7 cents put the 90th percentile at 6 + 0.5 × (7 − 6) = 6.5.
func TestReferenceRoundsHalfUp(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := testenv.Open(t, tg)
		club := org(t, db.Client, "club")
		f := &fixture{t: t, client: db.Client, ctx: tenancy.WithTenant(context.Background(), club), org: club}
		f.profile("free@club.co.za", 0, "", day)
		for cents := int64(2); cents <= 7; cents++ {
			f.profile(fmt.Sprintf("p%d@club.co.za", cents), cents, "", day)
		}
		svc := scoring.NewService(db.Client, db.Dialect, scoring.WithClock(func() time.Time { return now }))
		res, err := svc.RecomputeAll(context.Background(), club, scorerun.TriggerMANUAL)
		if err != nil {
			t.Fatal(err)
		}
		if res.Run == nil || res.Run.LtvReferenceCents != 7 {
			t.Fatalf("score run %+v, want an LTV reference of 7 cents", res.Run)
		}
	})
}

func TestTrend(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := testenv.Open(t, tg)
		ctx := context.Background()
		club := org(t, db.Client, "club")
		tctx := tenancy.WithTenant(ctx, club)
		clock := now
		svc := scoring.NewService(db.Client, db.Dialect, scoring.WithClock(func() time.Time { return clock }))
		p := db.Client.CustomerProfile.Create().SetEmail("a@club.co.za").SetMembershipStatus("OVERDUE").SaveX(tctx)
		status := func(s string) { db.Client.CustomerProfile.UpdateOneID(p.ID).SetMembershipStatus(s).ExecX(tctx) }
		expect := func(step string, churn, baseline, trend int, at time.Time) {
			t.Helper()
			g := db.Client.CustomerProfile.GetX(tctx, p.ID)
			if *g.ChurnRiskScore != churn || *g.ChurnRiskBaseline != baseline || *g.ChurnRiskTrend != trend || !g.ChurnRiskBaselineAt.Equal(at) {
				t.Errorf("%s: churn %d baseline %d (at %v) trend %d, want %d %d (at %v) %d", step,
					*g.ChurnRiskScore, *g.ChurnRiskBaseline, g.ChurnRiskBaselineAt, *g.ChurnRiskTrend, churn, baseline, at, trend)
			}
		}
		full := func() scoring.Result {
			t.Helper()
			res, err := svc.RecomputeAll(ctx, club, scorerun.TriggerSCHEDULE)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		full()
		expect("first run", 25, 25, 0, now)

		clock = now.Add(day)
		status("ACTIVE")
		full()
		expect("a day later", 0, 25, -25, now)

		clock = now.Add(6 * day)
		if res := full(); res.Changed != 0 {
			t.Errorf("six days later %d changed, want 0", res.Changed)
		}

		// A week on (the run starts an hour earlier in the day): the baseline
		// becomes the risk as it stood, 0, and the new risk shows as +25.
		clock = now.Add(7*day - time.Hour)
		status("arrears")
		full()
		week := clock
		expect("a week later", 25, 0, 25, week)

		// Incremental runs never reset, however old the baseline.
		clock = week.Add(8 * day)
		if _, err := svc.RecomputeProfiles(ctx, club, []uuid.UUID{p.ID}); err != nil {
			t.Fatal(err)
		}
		expect("incremental, stale baseline", 25, 0, 25, week)
		full()
		expect("full, stale baseline", 25, 25, 0, clock)
	})
}

// TestRecommendedActions covers each band, any case, and an unknown one.
func TestRecommendedActions(t *testing.T) {
	for band, first := range map[string]string{"HEALTHY": "Request a testimonial", "at_risk": "Send an engagement e-mail", "Unhealthy": "Assign a relationship manager"} {
		if a := scoring.RecommendedActions(band); len(a) != 2 || a[0] != first {
			t.Errorf("%s: %v", band, a)
		}
	}
	if a := scoring.RecommendedActions("GREEN"); a != nil {
		t.Errorf("unknown band: %v", a)
	}
	a := scoring.RecommendedActions("HEALTHY")
	a[0] = "changed"
	if scoring.RecommendedActions("HEALTHY")[0] == "changed" {
		t.Error("callers can change the shared list")
	}
	for score, w := range map[string][]int{"engagement": {30, 25, 20, 15, 10}, "churnRisk": {35, 25, 20, 10, 10}, "health": {40, 30, 30}} {
		if got := scoring.Weights()[score]; !reflect.DeepEqual(got, w) {
			t.Errorf("%s weights %v, want %v", score, got, w)
		}
	}
	for score, band := range map[int]customerprofile.HealthBand{100: "HEALTHY", 80: "HEALTHY", 79: "AT_RISK", 60: "AT_RISK", 59: "UNHEALTHY", 0: "UNHEALTHY"} {
		if got := scoring.Band(score); got != band {
			t.Errorf("Band(%d) = %s, want %s", score, got, band)
		}
	}
}

// TestSQLEdges evaluates the band, rounding and crossing expressions on each
// database at their edges, where a profile is hard to craft.
func TestSQLEdges(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := testenv.Open(t, tg)
		ctx := tenancy.WithTenant(context.Background(), org(t, db.Client, "club"))
		tx, err := db.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		eval := func(label string, fn func(e scoring.SQLExprs) string, want string) {
			t.Helper()
			got, err := scoring.EvalSQL(ctx, tx, tg.Name == "postgres", fn)
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			} else if got != want {
				t.Errorf("%s = %s, want %s", label, got, want)
			}
		}
		for in, want := range map[string]string{"100": "HEALTHY", "80": "HEALTHY", "79": "AT_RISK", "60": "AT_RISK", "59": "UNHEALTHY", "0": "UNHEALTHY"} {
			eval("band "+in, func(e scoring.SQLExprs) string { return e.Band(in) }, want)
		}
		// Half up on both databases (PostgreSQL's round(double) gives 42 and 2).
		for in, want := range map[string]string{"42.5": "43", "42.49": "42", "2.5": "3", "0": "0", "99.5": "100"} {
			eval("round "+in, func(e scoring.SQLExprs) string { return e.RoundInt(in) }, want)
		}
		// The stored components' rounding is PostgreSQL's numeric rounding
		// (halves away from zero), also where double arithmetic is off by an
		// ulp: at halves, below zero, for large figures and for NULL.
		if tg.Name == "postgres" {
			for _, x := range []string{"0.00005", "0.12345", "-0.12345", "2.675", "1.005", "0.5", "-0.5", "12345678.12345",
				"1e12 + 0.00005", "1.0 / 3", "25 * (11.0 / 24)", "30 * (55.0 / 83)", "0", "-0.00001", "NULL"} {
				for _, n := range []int{2, 4} {
					want := fmt.Sprintf("CAST(round(CAST(CAST(%s AS DOUBLE PRECISION) AS NUMERIC), %d) AS DOUBLE PRECISION)", x, n)
					w, err := scoring.EvalSQL(ctx, tx, true, func(scoring.SQLExprs) string { return "COALESCE(CAST((" + want + ") AS TEXT), 'null')" })
					if err != nil {
						t.Fatal(err)
					}
					eval(fmt.Sprintf("stored round %s to %d", x, n), func(e scoring.SQLExprs) string {
						return "COALESCE(CAST((" + e.StoredRound("CAST("+x+" AS DOUBLE PRECISION)", n) + ") AS TEXT), 'null')"
					}, w)
				}
			}
		}
		for _, c := range []struct{ churn, prev, want string }{
			{"81", "NULL", "1"}, {"81", "80", "1"}, {"80", "NULL", "0"}, {"90", "81", "0"}, {"81", "0", "1"},
		} {
			eval("crossing "+c.churn+" from "+c.prev, func(e scoring.SQLExprs) string {
				return "CASE WHEN " + e.Crossing(c.churn, c.prev) + " THEN 1 ELSE 0 END"
			}, c.want)
		}
	})
}

// storedComponents returns the organization's score_components as stored.
func storedComponents(t *testing.T, db *database.DB, org uuid.UUID) map[uuid.UUID]string {
	t.Helper()
	ctx := tenancy.WithTenant(context.Background(), org)
	tx, err := db.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT id, CAST(score_components AS TEXT) FROM customer_profiles WHERE tenant_id = '"+
		org.String()+"' AND score_components IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uuid.UUID]string{}
	for rows.Next() {
		var (
			id uuid.UUID
			js string
		)
		if err := rows.Scan(&id, &js); err != nil {
			t.Fatal(err)
		}
		out[id] = js
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkStored checks that the organization's n profiles hold their
// components in the compact form, and that each reads back exactly as the
// verbose form the same statement computes (at now, with the reference).
func checkStored(t *testing.T, db *database.DB, tg testenv.Target, org uuid.UUID, n int, ref float64) {
	t.Helper()
	ctx := tenancy.WithTenant(context.Background(), org)
	stored := storedComponents(t, db, org)
	tx, err := db.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	verbose, err := scoring.VerboseComponents(ctx, tx, tg.Name == "postgres", org, now, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != n || len(verbose) != n {
		t.Fatalf("%d stored, %d computed, want %d", len(stored), len(verbose), n)
	}
	for id, js := range stored {
		if !strings.HasPrefix(js, "[1,") || len(js) > 300 {
			t.Errorf("%s stored %s, want the compact form", id, js)
		}
		var c, v schematype.ScoreComponents
		if err := json.Unmarshal([]byte(js), &c); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(verbose[id]), &v); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, v) {
			t.Errorf("%s: compact %s reads %+v, verbose %s reads %+v", id, js, c, verbose[id], v)
		}
		if p := db.Client.CustomerProfile.GetX(ctx, id); !reflect.DeepEqual(p.ScoreComponents, v) {
			t.Errorf("%s: the profile reads %+v, verbose %+v", id, p.ScoreComponents, v)
		}
	}
}

// TestChunks: a full run in chunks rescores, before it is recorded, the
// profiles an incremental run wrote between its chunks with the previous
// run's reference, and rewrites components stored in the verbose form.
func TestChunks(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := testenv.Open(t, tg)
		ctx := context.Background()
		club := org(t, db.Client, "club")
		f := &fixture{t: t, client: db.Client, ctx: tenancy.WithTenant(ctx, club), org: club}
		var ids []uuid.UUID
		for i := range 5 {
			p := f.profile(fmt.Sprintf("m%d@club.co.za", i), int64(i+1)*100_000, "ACTIVE", time.Duration(i+1)*day)
			f.act(p, activity.TypeTEETIME_BOOKED, activity.CategoryBOOKING, time.Duration(i+1)*day, "", nil)
			ids = append(ids, p.ID)
		}
		slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		clock := now
		var between func(chunk int)
		svc := scoring.NewService(db.Client, db.Dialect, scoring.WithClock(func() time.Time { return clock }), scoring.WithChunk(2),
			scoring.AfterChunk(func(chunk int) {
				if between != nil {
					between(chunk)
				}
			}))
		full := func() scoring.Result {
			t.Helper()
			res, err := svc.RecomputeAll(ctx, club, scorerun.TriggerMANUAL)
			if err != nil {
				t.Fatal(err)
			}
			if res.Profiles != len(ids) || res.Run == nil || res.Run.Profiles != res.Profiles || res.Run.Changed != res.Changed {
				t.Fatalf("full run %+v, run %+v", res, res.Run)
			}
			return res
		}
		if res := full(); res.Changed != 5 {
			t.Errorf("first run changed %d, want 5", res.Changed)
		}
		first := f.get(ids[0])

		// A big spender raises the reference. Between the first two chunks of
		// the next run, the first profile is rescored incrementally a minute
		// later, still with the first run's reference.
		ids = append(ids, f.profile("big@club.co.za", 50_000_000, "", 0).ID)
		between = func(chunk int) {
			if chunk == 0 {
				clock = now.Add(time.Minute)
				if res, err := svc.RecomputeProfiles(ctx, club, []uuid.UUID{ids[0]}); err != nil || res.Changed != 1 {
					t.Errorf("incremental between chunks: %+v %v", res, err)
				}
			}
		}
		res := full()
		between, clock = nil, now
		if g := f.get(ids[0]); *g.EngagementScore >= *first.EngagementScore || !g.ScoresComputedAt.Equal(now) {
			t.Errorf("first profile %d computed at %v, want below %d at %v (rescored with the new reference)",
				*g.EngagementScore, g.ScoresComputedAt, *first.EngagementScore, now)
		}
		if res.Changed < 5 {
			t.Errorf("second run changed %d", res.Changed)
		}
		// Every profile is as the recorded run scores it.
		if res := full(); res.Changed != 0 {
			t.Errorf("third run changed %d, want 0", res.Changed)
		}

		// Components in the verbose form (as rows written before the compact
		// one) read the same, and the next full run stores them compactly.
		p := f.get(ids[1])
		db.Client.CustomerProfile.UpdateOneID(p.ID).SetScoreComponents(p.ScoreComponents).ExecX(f.ctx)
		if js := storedComponents(t, db, club)[p.ID]; !strings.HasPrefix(js, "{") {
			t.Fatalf("verbose form not stored: %s", js)
		}
		if g := f.get(p.ID); !reflect.DeepEqual(g.ScoreComponents, p.ScoreComponents) {
			t.Errorf("verbose form reads %+v, want %+v", g.ScoreComponents, p.ScoreComponents)
		}
		if res := full(); res.Changed != 1 {
			t.Errorf("run after the verbose form changed %d, want 1", res.Changed)
		}
		if js := storedComponents(t, db, club)[p.ID]; !strings.HasPrefix(js, "[1,") {
			t.Errorf("not rewritten compactly: %s", js)
		}
	})
}

// TestIncrementalPlanIgnoresStaleStatistics: the statement that rescores
// chosen profiles is driven by their ids even for an organization the
// statistics think empty (its first import, before ANALYZE). With the tenant
// as a constant, PostgreSQL walked all of the organization's profiles by a
// tenant index and re-aggregated the timeline for each of them.
func TestIncrementalPlanIgnoresStaleStatistics(t *testing.T) {
	tg := testenv.PostgresOnly(t)
	db := testenv.Open(t, tg)
	ctx := context.Background()
	old := org(t, db.Client, "old-club")
	club := org(t, db.Client, "new-club")
	// An established organization, analyzed; then the new one's profiles.
	testenv.EstablishedOrganization(t, tg, old, 20000)
	tctx := tenancy.WithTenant(ctx, club)
	ids := testenv.CreateProfiles(t, tctx, db.Client, 2000, func(i int, c *ent.CustomerProfileCreate) { c.SetLastName(fmt.Sprintf("m%d", i)) })
	tx, err := db.Client.Tx(tctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	q, args, err := scoring.IncrementalSQL(club, now, ids[:500])
	if err != nil {
		t.Fatal(err)
	}
	plan := testenv.Plan(t, tctx, tx, q, args...)
	if testenv.ReadsByTenantIndex(plan) {
		t.Fatalf("the rescoring of 500 profiles reads the organization by its tenant index:\n%s", plan)
	}
	// Every score is computed before the update locks the first profile:
	// the update reads its input through a sort, by id.
	if !regexp.MustCompile(`Sort Key: \w+\.id,`).MatchString(plan) {
		t.Fatalf("the rescoring's update does not read its input through a sort by id (it would lock profiles while still computing):\n%s", plan)
	}
}
