package segment_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/outboxevent"
	st "github.com/rapportcrm/rapport/ent/schematype"
	entsegment "github.com/rapportcrm/rapport/ent/segment"
	"github.com/rapportcrm/rapport/ent/segmentmembership"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/outbox"
	"github.com/rapportcrm/rapport/internal/segment"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

type fixture struct {
	db    string
	c     *ent.Client
	svc   *segment.Service
	org   uuid.UUID
	ctx   context.Context
	other context.Context
	now   time.Time
	// ids by first name (lower-case)
	ids   map[string]uuid.UUID
	names map[uuid.UUID]string
}

func ptr[T any](v T) *T { return &v }

func setup(t *testing.T, tg testenv.Target) *fixture {
	t.Helper()
	bg := context.Background()
	db := testenv.Open(t, tg)
	org, err := organization.Ensure(bg, db.Client, "fairway", "Fairway Hills")
	if err != nil {
		t.Fatal(err)
	}
	other, err := organization.Ensure(bg, db.Client, "links", "The Links")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	f := &fixture{db: db.Dialect, c: db.Client, org: org.ID, now: now, ids: map[string]uuid.UUID{}, names: map[uuid.UUID]string{},
		svc:   segment.NewService(db.Client, db.Dialect, nil, segment.WithClock(func() time.Time { return now })),
		ctx:   audit.WithActor(tenancy.WithTenant(bg, org.ID), audit.Actor{ID: "staff-7", Type: "user"}),
		other: audit.WithActor(tenancy.WithTenant(bg, other.ID), audit.Actor{ID: "staff-9", Type: "user"}),
	}
	day := 24 * time.Hour
	f.person(t, f.ctx, "Ann", func(c *ent.CustomerProfileCreate) {
		c.SetMembershipStatus("ACTIVE").SetMembershipTier("Gold").SetHandicap(8.5).SetBookingCount30d(3).SetEngagementScore(70).
			SetEmailOptIn(true).SetTags([]string{"competition-regular", "vip"}).SetLastActivityAt(now.Add(-2 * day)).
			SetLifetimeValue(500000).SetLifecycleStage(customerprofile.LifecycleStageACTIVE_MEMBER).
			SetAttributes(map[string]any{"locker": 117, "shirt": "L", "junior": false}).SetEmail("ann@example.com")
	}, acts(now, activity.TypeTEETIME_BOOKED, 3, 5, 7), acts(now, activity.TypeEMAIL_OPENED, 5))
	f.person(t, f.ctx, "Ben", func(c *ent.CustomerProfileCreate) {
		c.SetMembershipStatus("ACTIVE").SetMembershipTier("Platinum").SetHandicap(14).SetBookingCount30d(2).SetEngagementScore(50).
			SetEmailOptIn(true).SetTags([]string{"vip"}).SetLastActivityAt(now.Add(-20 * day)).SetLifetimeValue(100000).
			SetAttributes(map[string]any{"locker": 12, "shirt": "XL"}).SetEmail("ben@example.com")
	}, acts(now, activity.TypeTEETIME_BOOKED, 10, 20, 40))
	f.person(t, f.ctx, "Cara", func(c *ent.CustomerProfileCreate) {
		c.SetMembershipStatus("LAPSED").SetMembershipTier("Silver").SetHandicap(22).SetEngagementScore(20).
			SetLastActivityAt(now.Add(-100 * day)).SetLifecycleStage(customerprofile.LifecycleStageLAPSED)
	}, acts(now, activity.TypeTEETIME_BOOKED, 100))
	f.person(t, f.ctx, "Dan", func(c *ent.CustomerProfileCreate) {
		c.SetTags([]string{"junior"}).SetAttributes(map[string]any{"locker": "none", "junior": true})
	})
	f.person(t, f.ctx, "Eve", func(c *ent.CustomerProfileCreate) {
		c.SetMembershipStatus("ACTIVE").SetMembershipTier("Gold").SetHandicap(15).SetBookingCount30d(2).SetEngagementScore(50).
			SetEmailOptIn(true).SetTags([]string{}).SetLastActivityAt(now.Add(-1 * day)).SetLifetimeValue(250000).
			SetAttributes(map[string]any{"locker": 300})
	}, acts(now, activity.TypePAYMENT_RECEIVED, 1))
	// Another club's look-alike of Ann must never appear.
	f.person(t, f.other, "Zed", func(c *ent.CustomerProfileCreate) {
		c.SetMembershipStatus("ACTIVE").SetMembershipTier("Gold").SetHandicap(8.5).SetBookingCount30d(3).SetEngagementScore(70).
			SetEmailOptIn(true).SetTags([]string{"vip"}).SetLastActivityAt(now).SetAttributes(map[string]any{"locker": 117})
	}, acts(now, activity.TypeTEETIME_BOOKED, 1, 2, 3))
	return f
}

type actSpec struct {
	typ  activity.Type
	days []int
}

func acts(_ time.Time, typ activity.Type, days ...int) actSpec { return actSpec{typ, days} }

var categoryOf = map[activity.Type]activity.Category{
	activity.TypeTEETIME_BOOKED: activity.CategoryBOOKING, activity.TypeEMAIL_OPENED: activity.CategoryENGAGEMENT,
	activity.TypePAYMENT_RECEIVED: activity.CategoryFINANCIAL,
}

func (f *fixture) person(t *testing.T, ctx context.Context, name string, set func(*ent.CustomerProfileCreate), activities ...actSpec) {
	t.Helper()
	c := f.c.CustomerProfile.Create().SetFirstName(name).SetDisplayName(name)
	set(c)
	p, err := c.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Email != nil {
		if err := f.c.IdentityAlias.Create().SetCustomerID(p.ID).SetKind(identityalias.KindEMAIL).SetValue(*p.Email).
			SetPrimary(true).SetSource("crm").SetCreatedAt(f.now).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range activities {
		for _, d := range a.days {
			if err := f.c.Activity.Create().SetCustomerID(p.ID).SetType(a.typ).SetCategory(categoryOf[a.typ]).
				SetTitle(string(a.typ)).SetSourceService("test").SetOccurredAt(f.now.Add(-time.Duration(d) * 24 * time.Hour)).
				Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ctx == f.ctx {
		key := strings.ToLower(name)
		f.ids[key] = p.ID
		f.names[p.ID] = key
	}
}

// rules reads a rule list written in the spec's JSON shape, exactly as a
// GraphQL variable would carry it.
func rules(t *testing.T, js string) []*st.Rule {
	t.Helper()
	var rs []*st.Rule
	if err := json.Unmarshal([]byte(js), &rs); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return rs
}

func (f *fixture) namesOf(ps []*ent.CustomerProfile) []string {
	var out []string
	for _, p := range ps {
		out = append(out, f.names[p.ID])
	}
	slices.Sort(out)
	return out
}

// cases are hand-computed: who of Ann, Ben, Cara, Dan and Eve each rule set
// selects.
var cases = []struct {
	name  string
	comb  st.Combinator
	rules string
	want  string
}{
	{"spec example", st.And, `[
		{"field": "membershipStatus", "operator": "eq", "value": "ACTIVE"},
		{"field": "membershipTier", "operator": "in", "value": ["Gold", "Platinum"]},
		{"field": "handicap", "operator": "lt", "value": 15},
		{"field": "bookingCount30d", "operator": "gte", "value": 2},
		{"field": "engagementScore", "operator": "gte", "value": 50},
		{"field": "emailOptIn", "operator": "eq", "value": true}]`, "ann ben"},
	{"neq counts a missing value as not equal", st.And, `[{"field": "membershipStatus", "operator": "neq", "value": "ACTIVE"}]`, "cara dan"},
	{"nin", st.And, `[{"field": "membershipTier", "operator": "nin", "value": ["Gold"]}]`, "ben cara dan"},
	{"between is inclusive", st.And, `[{"field": "handicap", "operator": "between", "value": [8.5, 14]}]`, "ann ben"},
	{"lte", st.And, `[{"field": "handicap", "operator": "lte", "value": 14}]`, "ann ben"},
	{"gt", st.And, `[{"field": "lifetimeValue", "operator": "gt", "value": 100000}]`, "ann eve"},
	{"exists false", st.And, `[{"field": "handicap", "operator": "exists", "value": false}]`, "dan"},
	{"exists true", st.And, `[{"field": "engagementScore", "operator": "exists", "value": true}]`, "ann ben cara eve"},
	{"within_last", st.And, `[{"field": "lastActivityAt", "operator": "within_last", "value": "30d"}]`, "ann ben eve"},
	{"not_within_last counts never", st.And, `[{"field": "lastActivityAt", "operator": "not_within_last", "value": 30}]`, "cara dan"},
	{"time lt", st.And, `[{"field": "createdAt", "operator": "lt", "value": "2000-01-01T00:00:00Z"}]`, ""},
	{"bool eq false", st.And, `[{"field": "emailOptIn", "operator": "eq", "value": false}]`, "cara dan"},
	{"bool neq", st.And, `[{"field": "emailOptIn", "operator": "neq", "value": true}]`, "cara dan"},
	{"enum in", st.And, `[{"field": "lifecycleStage", "operator": "in", "value": ["LAPSED", "ACTIVE_MEMBER"]}]`, "ann cara"},
	{"string contains folds case", st.And, `[{"field": "firstName", "operator": "contains", "value": "AN"}]`, "ann dan"},
	{"tags contains", st.And, `[{"field": "tags", "operator": "contains", "value": "VIP"}]`, "ann ben"},
	{"tags eq", st.And, `[{"field": "tags", "operator": "eq", "value": "junior"}]`, "dan"},
	{"tags in", st.And, `[{"field": "tags", "operator": "in", "value": ["junior", "competition-regular"]}]`, "ann dan"},
	{"tags nin", st.And, `[{"field": "tags", "operator": "nin", "value": ["vip"]}]`, "cara dan eve"},
	{"tags exists", st.And, `[{"field": "tags", "operator": "exists", "value": true}]`, "ann ben dan"},
	{"tags exists false", st.And, `[{"field": "tags", "operator": "exists", "value": false}]`, "cara eve"},
	{"attribute number gt skips other types", st.And, `[{"field": "attributes.locker", "operator": "gt", "value": 100}]`, "ann eve"},
	{"attribute string eq", st.And, `[{"field": "attributes.locker", "operator": "eq", "value": "none"}]`, "dan"},
	{"attribute number eq", st.And, `[{"field": "attributes.locker", "operator": "eq", "value": 117}]`, "ann"},
	{"attribute in", st.And, `[{"field": "attributes.shirt", "operator": "in", "value": ["L", "XL"]}]`, "ann ben"},
	{"attribute nin", st.And, `[{"field": "attributes.shirt", "operator": "nin", "value": ["L"]}]`, "ben cara dan eve"},
	{"attribute bool eq", st.And, `[{"field": "attributes.junior", "operator": "eq", "value": true}]`, "dan"},
	{"attribute bool neq", st.And, `[{"field": "attributes.junior", "operator": "neq", "value": true}]`, "ann ben cara eve"},
	{"attribute contains", st.And, `[{"field": "attributes.shirt", "operator": "contains", "value": "x"}]`, "ben"},
	{"attribute between", st.And, `[{"field": "attributes.locker", "operator": "between", "value": [10, 200]}]`, "ann ben"},
	{"attribute exists false", st.And, `[{"field": "attributes.locker", "operator": "exists", "value": false}]`, "cara"},
	{"behaviour count gte", st.And, `[{"field": "activity.TEETIME_BOOKED.count.30d", "operator": "gte", "value": 2}]`, "ann ben"},
	{"behaviour count zero holds", st.And, `[{"field": "activity.TEETIME_BOOKED.count.30d", "operator": "lt", "value": 1}]`, "cara dan eve"},
	{"behaviour category count eq", st.And, `[{"field": "activity.BOOKING.count.90d", "operator": "eq", "value": 3}]`, "ann ben"},
	{"behaviour count between", st.And, `[{"field": "activity.TEETIME_BOOKED.count.365d", "operator": "between", "value": [1, 2]}]`, "cara"},
	{"behaviour count neq", st.And, `[{"field": "activity.TEETIME_BOOKED.count.365d", "operator": "neq", "value": 3}]`, "cara dan eve"},
	{"behaviour last within", st.And, `[{"field": "activity.TEETIME_BOOKED.last", "operator": "within_last", "value": "30d"}]`, "ann ben"},
	{"behaviour last not within", st.And, `[{"field": "activity.TEETIME_BOOKED.last", "operator": "not_within_last", "value": "30d"}]`, "cara dan eve"},
	{"behaviour exists", st.And, `[{"field": "activity.FINANCIAL.last", "operator": "exists", "value": true}]`, "eve"},
	{"or", st.Or, `[{"field": "handicap", "operator": "lt", "value": 10}, {"field": "membershipStatus", "operator": "eq", "value": "LAPSED"}]`, "ann cara"},
	{"not", st.And, `[{"combinator": "NOT", "rules": [{"field": "tags", "operator": "contains", "value": "vip"}]}]`, "cara dan eve"},
	{"not over an attribute", st.Not, `[{"field": "attributes.locker", "operator": "gt", "value": 100}]`, "ben cara dan"},
	{"nested", st.And, `[{"field": "status", "operator": "eq", "value": "ACTIVE"},
		{"combinator": "OR", "rules": [{"field": "tags", "operator": "contains", "value": "junior"},
			{"combinator": "AND", "rules": [{"field": "membershipTier", "operator": "eq", "value": "Gold"}, {"field": "handicap", "operator": "gte", "value": 15}]}]}]`, "dan eve"},
}

func TestRulesMatchHandComputedMembers(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		for _, c := range cases {
			n, members, err := f.svc.Preview(f.ctx, c.comb, rules(t, c.rules), 50)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			got := strings.Join(f.namesOf(members), " ")
			if got != c.want || n != len(members) {
				t.Errorf("%s: got %q (count %d), want %q", c.name, got, n, c.want)
			}
		}
	})
}

func TestInvalidRulesNameThePath(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		for _, c := range []struct{ rules, path, msg string }{
			{`[{"field": "handicap", "operator": "lt", "value": "low"}]`, "rules[0].value", "expected a number"},
			{`[{"field": "handicap", "operator": "eq", "value": 1}, {"field": "bookingCount30d", "operator": "gte", "value": 2.5}]`, "rules[1].value", "whole number"},
			{`[{"field": "shoeSize", "operator": "eq", "value": 1}]`, "rules[0].field", "unknown field"},
			{`[{"field": "membershipTier", "operator": "lt", "value": "Gold"}]`, "rules[0].operator", "does not apply"},
			{`[{"field": "membershipTier", "operator": "in", "value": []}]`, "rules[0].value", "non-empty list"},
			{`[{"field": "lifecycleStage", "operator": "eq", "value": "ROOKIE"}]`, "rules[0].value", "expected one of"},
			{`[{"field": "lastActivityAt", "operator": "within_last", "value": "soon"}]`, "rules[0].value", "duration"},
			{`[{"field": "handicap", "operator": "between", "value": [20, 10]}]`, "rules[0].value", "low is greater"},
			{`[{"field": "activity.TEETIME_BOOKED.count.0d", "operator": "gte", "value": 1}]`, "rules[0].field", "window"},
			{`[{"field": "activity.NAPPING.last", "operator": "exists", "value": true}]`, "rules[0].field", "unknown activity"},
			{`[{"field": "attributes.x y", "operator": "eq", "value": 1}]`, "rules[0].field", "attribute keys"},
			{`[{"field": "status", "operator": "eq", "value": "ACTIVE"}, {"combinator": "OR", "rules": [{"field": "handicap", "operator": "gt", "value": true}]}]`, "rules[1].rules[0].value", "expected a number"},
			{`[{"combinator": "OR", "rules": []}]`, "rules[0].rules", "at least one rule"},
			{`[{"field": "handicap", "value": 3}]`, "rules[0].operator", "needs an operator"},
		} {
			_, _, err := f.svc.Preview(f.ctx, st.And, rules(t, c.rules), 5)
			var ae *apperr.Error
			if !errorAs(err, &ae) || ae.Code != apperr.Invalid || ae.Field != c.path || !strings.Contains(ae.Message, c.msg) {
				t.Errorf("%s: got %v, want INVALID at %s containing %q", c.rules, err, c.path, c.msg)
			}
		}
	})
}

func errorAs(err error, target **apperr.Error) bool {
	e, ok := err.(*apperr.Error)
	if ok {
		*target = e
	}
	return ok
}

func (f *fixture) members(t *testing.T, segID uuid.UUID) string {
	t.Helper()
	ms, err := f.c.SegmentMembership.Query().Where(segmentmembership.SegmentID(segID)).All(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, f.names[m.CustomerID])
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func (f *fixture) events(t *testing.T, typ string) []map[string]any {
	t.Helper()
	evs, err := f.c.OutboxEvent.Query().Where(outboxevent.Type(typ)).Order(ent.Asc(outboxevent.FieldID)).All(tenancy.WithSystem(f.ctx))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range evs {
		var env struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(e.Payload, &env); err != nil {
			t.Fatal(err)
		}
		out = append(out, env.Data)
	}
	return out
}

func TestDynamicSegmentRefreshDiffAndExplain(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		c := cases[0]
		seg, err := f.svc.Create(f.ctx, segment.CreateInput{Name: "Active Golfers - Low Handicap", Combinator: c.comb, Rules: rules(t, c.rules)})
		if err != nil {
			t.Fatal(err)
		}
		if seg.Type != entsegment.TypeDYNAMIC || seg.MemberCount != 2 || f.members(t, seg.ID) != "ann ben" {
			t.Fatalf("created %s with %d members %q", seg.Type, seg.MemberCount, f.members(t, seg.ID))
		}
		if evs := f.events(t, segment.EventMembershipChanged); len(evs) != 1 || len(evs[0]["added"].([]any)) != 2 {
			t.Fatalf("membership events after create: %v", evs)
		}
		// A name is unique per organization.
		if _, err := f.svc.Create(f.ctx, segment.CreateInput{Name: seg.Name, Rules: rules(t, c.rules)}); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("duplicate name: %v", err)
		}
		// Ben's handicap rises, Eve's falls: one leaves, one joins.
		f.c.CustomerProfile.UpdateOneID(f.ids["ben"]).SetHandicap(18).ExecX(f.ctx)
		f.c.CustomerProfile.UpdateOneID(f.ids["eve"]).SetHandicap(12).ExecX(f.ctx)
		ch, err := f.svc.Refresh(f.ctx, seg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ch.Added) != 1 || ch.Added[0] != f.ids["eve"] || len(ch.Removed) != 1 || ch.Removed[0] != f.ids["ben"] || ch.MemberCount != 2 {
			t.Fatalf("refresh diff: %+v", ch)
		}
		if got := f.members(t, seg.ID); got != "ann eve" {
			t.Fatalf("members after refresh %q", got)
		}
		// A no-op refresh changes nothing and produces nothing.
		before := len(f.events(t, segment.EventMembershipChanged))
		ch, err = f.svc.Refresh(f.ctx, seg.ID)
		if err != nil || !ch.Empty() || len(f.events(t, segment.EventMembershipChanged)) != before {
			t.Fatalf("no-op refresh: %+v %v", ch, err)
		}
		// Real-time: only the changed profile is looked at.
		f.c.CustomerProfile.UpdateOneID(f.ids["ann"]).SetEmailOptIn(false).ExecX(f.ctx)
		chs, err := f.svc.Reevaluate(context.Background(), f.org, []uuid.UUID{f.ids["ann"]})
		if err != nil || len(chs) != 1 || len(chs[0].Removed) != 1 || chs[0].MemberCount != 1 {
			t.Fatalf("reevaluate: %+v %v", chs, err)
		}
		// Explain agrees with membership for every profile, node by node.
		for name, id := range f.ids {
			ex, err := f.svc.Explain(f.ctx, seg.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			in := strings.Contains(f.members(t, seg.ID), name)
			if ex.Matches != in || ex.Member != in || len(ex.Nodes) != 7 || ex.Nodes[0].Path != "rules" {
				t.Fatalf("%s: explain matches=%v member=%v nodes=%d, stored member %v", name, ex.Matches, ex.Member, len(ex.Nodes), in)
			}
			all := true
			for _, n := range ex.Nodes[1:] {
				all = all && n.Result
			}
			if all != ex.Matches {
				t.Fatalf("%s: conditions %+v do not add up to %v", name, ex.Nodes, ex.Matches)
			}
		}
		ex, _ := f.svc.Explain(f.ctx, seg.ID, f.ids["cara"])
		if ex.Nodes[1].Actual != "LAPSED" || ex.Nodes[1].Result || ex.Nodes[3].Actual != 22.0 {
			t.Fatalf("cara's explanation: %+v", ex.Nodes)
		}
		// Another organization sees none of it.
		if _, err := f.svc.Refresh(f.other, seg.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("refresh from another organization: %v", err)
		}
	})
}

// TestMembershipEventsComeInParts checks the membership events of a change
// larger than one event: on PostgreSQL the refresh (or delete) statement
// writes them itself, elsewhere Go does, and both must give the same
// envelope and parts.
func TestMembershipEventsComeInParts(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		svc := segment.NewService(f.c, f.db, nil, segment.WithClock(func() time.Time { return f.now }), segment.WithEventChunk(2))
		seg, err := svc.Create(f.ctx, segment.CreateInput{Name: "E-mail consent", Rules: rules(t, `[{"field":"emailOptIn","operator":"eq","value":true}]`)})
		if err != nil {
			t.Fatal(err)
		}
		f.checkParts(t, seg.ID, "ann ben eve", "", 3)

		f.c.CustomerProfile.UpdateOneID(f.ids["ann"]).SetEmailOptIn(false).ExecX(f.ctx)
		f.c.CustomerProfile.Update().Where(customerprofile.IDIn(f.ids["cara"], f.ids["dan"])).SetEmailOptIn(true).ExecX(f.ctx)
		ch, err := svc.Refresh(f.ctx, seg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ch.AddedCount != 2 || ch.RemovedCount != 1 || len(ch.Added) != 2 || len(ch.Removed) != 1 || ch.MemberCount != 4 {
			t.Fatalf("refresh change %+v", ch)
		}
		f.checkParts(t, seg.ID, "cara dan", "ann", 4)

		// One joins and two leave: the first part carries one of each.
		f.c.CustomerProfile.UpdateOneID(f.ids["ann"]).SetEmailOptIn(true).ExecX(f.ctx)
		f.c.CustomerProfile.Update().Where(customerprofile.IDIn(f.ids["ben"], f.ids["eve"])).SetEmailOptIn(false).ExecX(f.ctx)
		if ch, err = svc.Refresh(f.ctx, seg.ID); err != nil || ch.AddedCount != 1 || ch.RemovedCount != 2 || ch.MemberCount != 3 {
			t.Fatalf("refresh change %+v %v", ch, err)
		}
		f.checkParts(t, seg.ID, "ann", "ben eve", 3)

		// Deleting the segment: every member leaves, in parts too.
		if err := svc.Delete(f.ctx, seg.ID); err != nil {
			t.Fatal(err)
		}
		f.checkParts(t, seg.ID, "", "ann cara dan", 0)
		if n := f.c.SegmentMembership.Query().Where(segmentmembership.SegmentID(seg.ID)).CountX(f.ctx); n != 0 {
			t.Fatalf("%d memberships left", n)
		}
	})
}

// checkParts reads the newest membership events of a segment (one change)
// and checks that their parts carry each added and removed id once, at most
// two per event, with the change's counts and a complete envelope.
func (f *fixture) checkParts(t *testing.T, segID uuid.UUID, added, removed string, members int) {
	t.Helper()
	rows, err := f.c.OutboxEvent.Query().Where(outboxevent.Type(segment.EventMembershipChanged)).
		Order(ent.Desc(outboxevent.FieldID)).All(tenancy.WithSystem(f.ctx))
	if err != nil {
		t.Fatal(err)
	}
	var gotAdded, gotRemoved []string
	seen := map[float64]bool{}
	for _, row := range rows {
		var env struct {
			outbox.Envelope
			Data struct {
				SegmentID    uuid.UUID   `json:"segmentId"`
				SegmentName  string      `json:"segmentName"`
				Added        []uuid.UUID `json:"added"`
				Removed      []uuid.UUID `json:"removed"`
				AddedCount   int         `json:"addedCount"`
				RemovedCount int         `json:"removedCount"`
				MemberCount  int         `json:"memberCount"`
				Part, Parts  float64
			} `json:"data"`
		}
		if err := json.Unmarshal(row.Payload, &env); err != nil {
			t.Fatal(err)
		}
		d := env.Data
		if d.SegmentID != segID || seen[d.Part] {
			break // an earlier change, or another segment's
		}
		seen[d.Part] = true
		if env.ID != row.ID || env.Type != segment.EventMembershipChanged || env.Source != "rapport" || env.Tenant != f.org.String() ||
			!env.OccurredAt.Equal(f.now) || row.OrganizationID != f.org {
			t.Fatalf("envelope %+v of row %s", env.Envelope, row.ID)
		}
		want := len(strings.Fields(added)) + len(strings.Fields(removed))
		if d.SegmentName != "E-mail consent" || d.AddedCount != len(strings.Fields(added)) || d.RemovedCount != len(strings.Fields(removed)) ||
			d.MemberCount != members || int(d.Parts) != (want+1)/2 || len(d.Added)+len(d.Removed) > 2 {
			t.Fatalf("part %v: %+v", d.Part, d)
		}
		for _, id := range d.Added {
			gotAdded = append(gotAdded, f.names[id])
		}
		for _, id := range d.Removed {
			gotRemoved = append(gotRemoved, f.names[id])
		}
	}
	slices.Sort(gotAdded)
	slices.Sort(gotRemoved)
	if strings.Join(gotAdded, " ") != added || strings.Join(gotRemoved, " ") != removed || len(seen) != (len(gotAdded)+len(gotRemoved)+1)/2 {
		t.Fatalf("parts %v carry added %q removed %q, want %q and %q", seen, gotAdded, gotRemoved, added, removed)
	}
}

func TestExplainAgreesWithMembershipForEveryCase(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		for i, c := range cases {
			seg, err := f.svc.Create(f.ctx, segment.CreateInput{Name: c.name, Combinator: c.comb, Rules: rules(t, c.rules)})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got := f.members(t, seg.ID); got != c.want || seg.MemberCount != len(strings.Fields(c.want)) {
				t.Fatalf("%s: members %q (count %d), want %q", c.name, got, seg.MemberCount, c.want)
			}
			for name, id := range f.ids {
				ex, err := f.svc.Explain(f.ctx, seg.ID, id)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				want := slices.Contains(strings.Fields(c.want), name)
				if ex.Matches != want || ex.Member != want {
					t.Fatalf("case %d %s, %s: explain says %v/%v, want %v", i, c.name, name, ex.Matches, ex.Member, want)
				}
			}
		}
	})
}

func TestStaticSegmentMembers(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		seg, err := f.svc.Create(f.ctx, segment.CreateInput{Name: "Board Members", CustomerIDs: []uuid.UUID{f.ids["cara"]}})
		if err != nil || seg.Type != entsegment.TypeSTATIC || seg.MemberCount != 1 {
			t.Fatalf("create static: %+v %v", seg, err)
		}
		stranger := uuid.New()
		res, err := f.svc.AddMembers(f.ctx, segment.MembersInput{SegmentID: seg.ID, CustomerIDs: []uuid.UUID{f.ids["cara"], f.ids["dan"], stranger},
			Emails: []string{"ANN@example.com", "nobody@example.com"}, CSV: "Name,Email\nBen,ben@example.com\n"})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(res.NotFound)
		wantNF := []string{"nobody@example.com", stranger.String()}
		slices.Sort(wantNF)
		if res.Changed != 3 || res.Unchanged != 1 || res.Segment.MemberCount != 4 || !slices.Equal(res.NotFound, wantNF) {
			t.Fatalf("add: %+v", res)
		}
		if got := f.members(t, seg.ID); got != "ann ben cara dan" {
			t.Fatalf("members %q", got)
		}
		res, err = f.svc.RemoveMembers(f.ctx, segment.MembersInput{SegmentID: seg.ID, CSV: "ann@example.com\ncara@nowhere.test"})
		if err != nil || res.Changed != 1 || res.Segment.MemberCount != 3 {
			t.Fatalf("remove: %+v %v", res, err)
		}
		if _, err := f.svc.Refresh(f.ctx, seg.ID); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("refreshing a static segment: %v", err)
		}
		if _, err := f.svc.AddMembers(f.other, segment.MembersInput{SegmentID: seg.ID, CustomerIDs: []uuid.UUID{f.ids["eve"]}}); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("another organization: %v", err)
		}
		// Customers in the segment see it.
		segs, err := f.svc.OfCustomer(f.ctx, f.ids["dan"])
		if err != nil || len(segs) != 1 || segs[0].ID != seg.ID {
			t.Fatalf("customer segments: %v %v", segs, err)
		}
		// Messaging gets the members with a contact id.
		f.c.CustomerProfile.UpdateOneID(f.ids["ben"]).SetMessagingContactID("MC-2").ExecX(f.ctx)
		sync, err := f.svc.SyncToMessaging(f.ctx, seg.ID)
		if err != nil || sync.Contacts != 1 || sync.Skipped != 2 || sync.Segment.MessagingSyncedAt == nil {
			t.Fatalf("sync: %+v %v", sync, err)
		}
		evs := f.events(t, segment.EventMembershipSynced)
		if len(evs) != 1 || evs[0]["contacts"].([]any)[0] != "MC-2" {
			t.Fatalf("synced events: %v", evs)
		}
		if err := f.svc.Delete(f.ctx, seg.ID); err != nil {
			t.Fatal(err)
		}
		if n := f.c.SegmentMembership.Query().CountX(f.ctx); n != 0 {
			t.Fatalf("%d memberships left after delete", n)
		}
	})
}

func TestSmartSegmentLikelyToChurn(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		f.c.CustomerProfile.UpdateOneID(f.ids["ann"]).SetChurnRiskScore(85).ExecX(f.ctx)
		f.c.CustomerProfile.UpdateOneID(f.ids["ben"]).SetChurnRiskScore(65).SetChurnRiskTrend(5).ExecX(f.ctx)
		f.c.CustomerProfile.UpdateOneID(f.ids["cara"]).SetChurnRiskScore(65).SetChurnRiskTrend(-3).ExecX(f.ctx)
		f.c.CustomerProfile.UpdateOneID(f.ids["eve"]).SetChurnRiskScore(52).SetChurnRiskTrend(20).ExecX(f.ctx)
		seg, err := f.svc.Create(f.ctx, segment.CreateInput{Name: "Likely to churn", Model: ptr(entsegment.ModelLIKELY_TO_CHURN_30D)})
		if err != nil {
			t.Fatal(err)
		}
		if seg.Type != entsegment.TypeSMART || f.members(t, seg.ID) != "ann ben eve" {
			t.Fatalf("smart members %q", f.members(t, seg.ID))
		}
		comb, rs := segment.TopLevel(seg)
		if comb != st.And || len(rs) != 2 {
			t.Fatalf("smart rules %v %v", comb, rs)
		}
		if _, err := f.svc.Update(f.ctx, seg.ID, segment.UpdateInput{Rules: rules(t, `[{"field": "handicap", "operator": "lt", "value": 3}]`)}); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("editing a smart segment's rules: %v", err)
		}
	})
}

func TestProfilesGoneMovesStaticMembershipsToTheSurvivor(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		board, err := f.svc.Create(f.ctx, segment.CreateInput{Name: "Board", CustomerIDs: []uuid.UUID{f.ids["cara"], f.ids["dan"]}})
		if err != nil {
			t.Fatal(err)
		}
		vip, err := f.svc.Create(f.ctx, segment.CreateInput{Name: "VIP", Rules: rules(t, `[{"field": "tags", "operator": "contains", "value": "vip"}]`)})
		if err != nil {
			t.Fatal(err)
		}
		// Ben is merged into Eve; Dan is deleted.
		tx, err := f.c.Tx(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		eve := f.ids["eve"]
		if err := segment.ProfilesGone(f.ctx, tx, f.db, []uuid.UUID{f.ids["ben"]}, &eve); err != nil {
			t.Fatal(err)
		}
		if err := segment.ProfilesGone(f.ctx, tx, f.db, []uuid.UUID{f.ids["dan"], f.ids["cara"]}, &eve); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := f.members(t, board.ID); got != "eve" {
			t.Fatalf("board after merges: %q", got)
		}
		if got := f.members(t, vip.ID); got != "ann" {
			t.Fatalf("vip after merge: %q", got)
		}
		b := f.c.Segment.GetX(f.ctx, board.ID)
		v := f.c.Segment.GetX(f.ctx, vip.ID)
		if b.MemberCount != 1 || v.MemberCount != 1 {
			t.Fatalf("counts %d %d", b.MemberCount, v.MemberCount)
		}
	})
}

// TestReevaluationMatchesHandComputedMembers checks the per-profile form of
// the rules real-time re-evaluation uses: starting from no members, the
// re-evaluation of every profile must give each case's members.
func TestReevaluationMatchesHandComputedMembers(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		ids := make([]uuid.UUID, 0, len(f.ids))
		for _, id := range f.ids {
			ids = append(ids, id)
		}
		for _, c := range cases {
			seg, err := f.svc.Create(f.ctx, segment.CreateInput{Name: c.name, Combinator: c.comb, Rules: rules(t, c.rules)})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if _, err := f.c.SegmentMembership.Delete().Where(segmentmembership.SegmentID(seg.ID)).Exec(f.ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.Reevaluate(f.ctx, f.org, ids); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got := f.members(t, seg.ID); got != c.want {
				t.Errorf("%s: re-evaluated members %q, want %q", c.name, got, c.want)
			}
			if err := f.svc.Delete(f.ctx, seg.ID); err != nil {
				t.Fatal(err)
			}
		}
	})
}
