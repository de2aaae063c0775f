package merge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/crmauditlog"
	"github.com/rapportcrm/rapport/ent/customernote"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/duplicatecandidate"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/mergerecord"
	"github.com/rapportcrm/rapport/ent/outboxevent"
	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/identity"
	"github.com/rapportcrm/rapport/internal/merge"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

type recorder struct {
	mu  sync.Mutex
	ids []uuid.UUID
}

func (r *recorder) CustomerChanged(_ context.Context, _, id uuid.UUID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
}

func (r *recorder) saw(id uuid.UUID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.ids, id)
}

type fixture struct {
	c      *ent.Client
	svc    *merge.Service
	org    uuid.UUID
	ctx    context.Context // the club's tenant, acting as a staff user
	other  context.Context // another club's tenant
	notify *recorder
	base   time.Time
}

func setup(t *testing.T, tg testenv.Target) *fixture {
	t.Helper()
	ctx := context.Background()
	db := testenv.Open(t, tg)
	org, err := organization.Ensure(ctx, db.Client, "fairway", "Fairway Hills")
	if err != nil {
		t.Fatal(err)
	}
	other, err := organization.Ensure(ctx, db.Client, "links", "The Links")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	return &fixture{
		c:      db.Client,
		svc:    merge.NewService(db.Client, db.Dialect, rec),
		org:    org.ID,
		ctx:    audit.WithActor(tenancy.WithTenant(ctx, org.ID), audit.Actor{ID: "staff-7", Type: "user"}),
		other:  audit.WithActor(tenancy.WithTenant(ctx, other.ID), audit.Actor{ID: "staff-9", Type: "user"}),
		notify: rec,
		// PostgreSQL keeps microseconds.
		base: time.Now().UTC().Truncate(time.Microsecond),
	}
}

func ptr[T any](v T) *T { return &v }

type aliasSpec struct {
	kind    identityalias.Kind
	value   string
	primary bool
	source  string
}

// person creates a profile with its aliases, timeline entries and notes.
func (f *fixture) person(t *testing.T, ctx context.Context, set func(*ent.CustomerProfileCreate), aliases []aliasSpec, activities, notes int) *ent.CustomerProfile {
	t.Helper()
	c := f.c.CustomerProfile.Create()
	set(c)
	p, err := c.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range aliases {
		if err := f.c.IdentityAlias.Create().SetCustomerID(p.ID).SetKind(a.kind).SetValue(a.value).
			SetPrimary(a.primary).SetSource(a.source).SetCreatedAt(f.base.Add(-time.Hour)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.activities(t, ctx, p.ID, activities)
	for i := range notes {
		if err := f.c.CustomerNote.Create().SetCustomerID(p.ID).SetAuthorID("staff-1").
			SetBody(fmt.Sprintf("note %d on %s", i, p.ID)).SetPinned(i == 0).
			SetCreatedAt(f.base.Add(-time.Duration(i+3) * time.Hour)).
			SetUpdatedAt(f.base.Add(-time.Duration(i+1) * time.Hour)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (f *fixture) activities(t *testing.T, ctx context.Context, customerID uuid.UUID, n int) {
	t.Helper()
	var builders []*ent.ActivityCreate
	for i := range n {
		b := f.c.Activity.Create().SetCustomerID(customerID).
			SetType(activity.TypeTEETIME_BOOKED).SetCategory(activity.CategoryBOOKING).
			SetTitle(fmt.Sprintf("Booked tee time %d", i)).SetSourceService("teetime").
			SetSourceID(fmt.Sprintf("bk-%s-%d", customerID, i)).
			SetOccurredAt(f.base.Add(-time.Duration(i+1) * time.Minute)).
			SetCreatedAt(f.base.Add(-time.Duration(i) * time.Second))
		if i%2 == 0 {
			b.SetChannel("WEB").SetDirection(activity.DirectionINBOUND).SetDescription("via app").
				SetMetadata(map[string]any{"course": "Old Course", "players": 4.0})
		}
		builders = append(builders, b)
		if len(builders) == 1000 || i == n-1 {
			if err := f.c.Activity.CreateBulk(builders...).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			builders = builders[:0]
		}
	}
}

func (f *fixture) candidate(t *testing.T, a, b uuid.UUID, status duplicatecandidate.Status) *ent.DuplicateCandidate {
	t.Helper()
	x, y := identity.Pair(a, b)
	return f.c.DuplicateCandidate.Create().SetCustomerAID(x).SetCustomerBID(y).
		SetReason(duplicatecandidate.ReasonCONFLICTING_KEYS).SetConfidence(90).
		SetEvidence([]schematype.Evidence{{Kind: "NAME", Value: "sam"}}).SetStatus(status).SaveX(f.ctx)
}

// state is everything of one profile an unmerge must restore.
type state struct {
	Profile    map[string]any
	Aliases    []map[string]any
	Activities []map[string]any
	Notes      []map[string]any
}

// capture reads the profiles with their aliases, timelines and notes; a
// missing profile has no entry.
func (f *fixture) capture(t *testing.T, ids ...uuid.UUID) map[uuid.UUID]*state {
	t.Helper()
	out := map[uuid.UUID]*state{}
	for _, id := range ids {
		p, err := f.c.CustomerProfile.Get(f.ctx, id)
		if ent.IsNotFound(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		st := &state{Profile: fields(p)}
		for _, a := range f.c.IdentityAlias.Query().Where(identityalias.CustomerID(id)).Order(identityalias.ByID()).AllX(f.ctx) {
			st.Aliases = append(st.Aliases, fields(a))
		}
		for _, a := range f.c.Activity.Query().Where(activity.CustomerID(id)).Order(activity.ByID()).AllX(f.ctx) {
			st.Activities = append(st.Activities, fields(a))
		}
		for _, n := range f.c.CustomerNote.Query().Where(customernote.CustomerID(id)).Order(customernote.ByID()).AllX(f.ctx) {
			st.Notes = append(st.Notes, fields(n))
		}
		out[id] = st
	}
	return out
}

// fields returns an entity's exported columns, times as UTC text so that
// instants compare equal whatever zone the driver returns them in. Lists and
// maps are kept as they are, so nil and empty differ.
func fields(e any) map[string]any {
	v := reflect.ValueOf(e).Elem()
	out := map[string]any{}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() || f.Name == "Edges" {
			continue
		}
		switch x := v.Field(i).Interface().(type) {
		case time.Time:
			out[f.Name] = x.UTC().Format(time.RFC3339Nano)
		case *time.Time:
			if x == nil {
				out[f.Name] = nil
			} else {
				out[f.Name] = x.UTC().Format(time.RFC3339Nano)
			}
		default:
			out[f.Name] = x
		}
	}
	return out
}

func sameState(t *testing.T, want, got map[uuid.UUID]*state) {
	t.Helper()
	for id, w := range want {
		g := got[id]
		if g == nil {
			t.Errorf("customer %s is missing", id)
			continue
		}
		sameFields(t, id.String()+" profile", w.Profile, g.Profile)
		for _, l := range []struct {
			name string
			w, g []map[string]any
		}{{"aliases", w.Aliases, g.Aliases}, {"activities", w.Activities, g.Activities}, {"notes", w.Notes, g.Notes}} {
			if len(l.w) != len(l.g) {
				t.Errorf("%s: %d %s, want %d", id, len(l.g), l.name, len(l.w))
				continue
			}
			for i := range l.w {
				sameFields(t, fmt.Sprintf("%s %s[%d]", id, l.name, i), l.w[i], l.g[i])
			}
		}
	}
	for id := range got {
		if want[id] == nil {
			t.Errorf("customer %s exists and should not", id)
		}
	}
}

func sameFields(t *testing.T, what string, want, got map[string]any) {
	t.Helper()
	for k, w := range want {
		if g := got[k]; !reflect.DeepEqual(w, g) {
			t.Errorf("%s: %s = %s, want %s", what, k, show(g), show(w))
		}
	}
}

func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		v = rv.Elem().Interface()
	}
	b, _ := json.Marshal(v)
	return fmt.Sprintf("%s (%T)", b, v)
}

func wantCode(t *testing.T, err error, code apperr.Code, field string) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Fatalf("err = %v (%s), want %s", err, apperr.CodeOf(err), code)
	}
	if field != "" {
		var e *apperr.Error
		if !errors.As(err, &e) || e.Field != field {
			t.Errorf("field of %v, want %s", err, field)
		}
	}
}

// threePeople is a survivor and two duplicates with keys of many kinds,
// timelines, notes, tags and attributes; the survivor lacks fields the others
// have.
func (f *fixture) threePeople(t *testing.T) (s, m1, m2 *ent.CustomerProfile) {
	t.Helper()
	b := f.base
	s = f.person(t, f.ctx, func(c *ent.CustomerProfileCreate) {
		c.SetEmail("sam@fairway.golf").SetAuthUserID("auth-sam").SetFirstName("Sam").
			SetHomeClubID(""). // empty, not absent: filled, then restored as ""
			SetTags([]string{"vip", "b"}).SetAttributes(map[string]any{"shoe": 9.0}).
			SetMembershipTier("Gold").SetEmailOptIn(true).
			SetLastActivityAt(b.Add(-10 * time.Hour)).SetActivityCount30d(3).SetBookingCount30d(1).SetLifetimeValue(1000).
			SetSearchText("sam sam@fairway.golf").
			SetCreatedAt(b.Add(-72 * time.Hour)).SetUpdatedAt(b.Add(-71 * time.Hour))
	}, []aliasSpec{
		{identityalias.KindAUTH_USER_ID, "auth-sam", true, "api"},
		{identityalias.KindEMAIL, "sam@fairway.golf", true, "api"},
		{identityalias.KindEMAIL, "sam.old@fairway.golf", false, "import"},
	}, 3, 2)
	m1 = f.person(t, f.ctx, func(c *ent.CustomerProfileCreate) {
		c.SetEmail("samuel@old.mail").SetPhoneNumber("+27820000001").SetSclMemberID(1001).
			SetMessagingContactID("mc-1").SetExternalIds(schematype.ExternalIDs{McaV1ZaID: ptr("za-1")}).
			SetFirstName("Samuel").SetLastName("Smith").SetDisplayName("Sam Smith").
			SetHomeClubID("hc-1").SetMembershipStatus("ACTIVE").SetHandicap(12.5).
			SetTags([]string{"golf", "vip"}).SetAttributes(map[string]any{"shoe": 10.0, "size": "L", "prefs": map[string]any{"tee": "blue"}}).
			SetStatus(customerprofile.StatusINACTIVE).SetLifecycleStage(customerprofile.LifecycleStageLAPSED).
			SetSmsOptIn(true).SetEngagementScore(40).SetChurnRiskScore(70).
			SetLastActivityAt(b.Add(-2 * time.Hour)).SetActivityCount30d(2).SetBookingCount30d(2).SetLifetimeValue(500).
			SetSearchText("samuel smith sam smith samuel@old.mail +27820000001").
			SetCreatedAt(b.Add(-48 * time.Hour)).SetUpdatedAt(b.Add(-47 * time.Hour))
	}, []aliasSpec{
		{identityalias.KindEMAIL, "samuel@old.mail", true, "scl"},
		{identityalias.KindPHONE, "+27820000001", true, "scl"},
		{identityalias.KindSCL_MEMBER_ID, "1001", true, "scl"},
		{identityalias.KindMCA_V1_ZA_ID, "za-1", true, "import"},
		{identityalias.KindMESSAGING_CONTACT_ID, "mc-1", true, "messaging"},
		{identityalias.KindEMAIL, "s.smith@work.co", false, "import"},
	}, 4, 1)
	m2 = f.person(t, f.ctx, func(c *ent.CustomerProfileCreate) {
		c.SetEmail("sam.smyth@new.mail").SetPhoneNumber("+27820000002").SetLastName("Smyth").
			SetTeetimePlayerID("tt-2").SetMessagingContactID("mc-2").
			SetExternalIds(schematype.ExternalIDs{GolfRsaID: ptr("rsa-2")}).
			SetHandicap(10.0).SetMembershipStatus("LAPSED").SetTags([]string{}).
			SetLastActivityAt(b.Add(-5 * time.Hour)).SetActivityCount30d(1).SetLifetimeValue(250).
			SetCreatedAt(b.Add(-24 * time.Hour)).SetUpdatedAt(b.Add(-23 * time.Hour))
	}, []aliasSpec{
		{identityalias.KindEMAIL, "sam.smyth@new.mail", true, "teetime"},
		{identityalias.KindPHONE, "+27820000002", true, "teetime"},
		{identityalias.KindTEETIME_PLAYER_ID, "tt-2", true, "teetime"},
		{identityalias.KindMESSAGING_CONTACT_ID, "mc-2", true, "messaging"},
		{identityalias.KindGOLF_RSA_ID, "rsa-2", true, "import"},
	}, 2, 1)
	return s, m1, m2
}

// TestMergeThenUnmergeIsExact merges two profiles into a survivor, checks the
// merged state, unmerges, and finds every profile, key, timeline entry and
// note exactly as before.
func TestMergeThenUnmergeIsExact(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		s, m1, m2 := f.threePeople(t)
		x := f.person(t, f.ctx, func(c *ent.CustomerProfileCreate) { c.SetEmail("x@fairway.golf") },
			[]aliasSpec{{identityalias.KindEMAIL, "x@fairway.golf", true, "api"}}, 1, 0)
		sm1 := f.candidate(t, s.ID, m1.ID, duplicatecandidate.StatusOPEN)
		m1m2 := f.candidate(t, m1.ID, m2.ID, duplicatecandidate.StatusOPEN)
		m1x := f.candidate(t, m1.ID, x.ID, duplicatecandidate.StatusOPEN)
		sm2 := f.candidate(t, s.ID, m2.ID, duplicatecandidate.StatusDISMISSED)
		ids := []uuid.UUID{s.ID, m1.ID, m2.ID, x.ID}
		before := f.capture(t, ids...)

		rec, got, err := f.svc.Merge(f.ctx, s.ID, []uuid.UUID{m1.ID, m2.ID})
		if err != nil {
			t.Fatal(err)
		}

		// The survivor: own values kept, empty ones filled newest first, keys
		// it lacked taken over, metrics combined, consent untouched.
		cur := f.c.CustomerProfile.GetX(f.ctx, s.ID)
		if cur.UpdatedAt.Equal(s.UpdatedAt) || !cur.UpdatedAt.Equal(got.UpdatedAt) {
			t.Errorf("returned survivor is not the stored one")
		}
		for name, pair := range map[string][2]any{
			"email":       {*cur.Email, "sam@fairway.golf"},
			"auth":        {*cur.AuthUserID, "auth-sam"},
			"phone":       {*cur.PhoneNumber, "+27820000002"},
			"scl":         {*cur.SclMemberID, int64(1001)},
			"teetime":     {*cur.TeetimePlayerID, "tt-2"},
			"messaging":   {*cur.MessagingContactID, "mc-2"},
			"mcaZa":       {*cur.ExternalIds.McaV1ZaID, "za-1"},
			"golfRsa":     {*cur.ExternalIds.GolfRsaID, "rsa-2"},
			"mcaUk":       {cur.ExternalIds.McaV1UkID == nil, true},
			"first":       {*cur.FirstName, "Sam"},
			"last":        {*cur.LastName, "Smyth"},
			"display":     {*cur.DisplayName, "Sam Smith"},
			"homeClub":    {*cur.HomeClubID, "hc-1"},
			"tier":        {*cur.MembershipTier, "Gold"},
			"memberStat":  {*cur.MembershipStatus, "LAPSED"},
			"handicap":    {*cur.Handicap, 10.0},
			"tags":        {strings.Join(cur.Tags, ","), "b,golf,vip"},
			"attrs":       {show(cur.Attributes), show(map[string]any{"shoe": 9.0, "size": "L", "prefs": map[string]any{"tee": "blue"}})},
			"lastAct":     {cur.LastActivityAt.Equal(f.base.Add(-2 * time.Hour)), true},
			"acts30":      {cur.ActivityCount30d, 6},
			"books30":     {cur.BookingCount30d, 3},
			"ltv":         {cur.LifetimeValue, int64(1750)},
			"emailOptIn":  {cur.EmailOptIn, true},
			"smsOptIn":    {cur.SmsOptIn, false},
			"status":      {cur.Status, customerprofile.StatusACTIVE},
			"engagement":  {cur.EngagementScore == nil, true},
			"search_text": {cur.SearchText, "sam smyth sam smith sam@fairway.golf +27820000002"},
		} {
			if pair[0] != pair[1] {
				t.Errorf("survivor %s = %v, want %v", name, pair[0], pair[1])
			}
		}

		// Every key of the merged profiles now resolves to the survivor;
		// only the keys that filled its columns stay primary.
		wantPrimary := map[string]bool{
			"samuel@old.mail": false, "+27820000001": false, "1001": true, "za-1": true, "mc-1": false,
			"s.smith@work.co": false, "sam.smyth@new.mail": false, "+27820000002": true, "tt-2": true,
			"mc-2": true, "rsa-2": true, "auth-sam": true, "sam@fairway.golf": true, "sam.old@fairway.golf": false,
		}
		aliases := f.c.IdentityAlias.Query().Where(identityalias.CustomerID(s.ID)).AllX(f.ctx)
		if len(aliases) != len(wantPrimary) {
			t.Errorf("survivor has %d aliases, want %d", len(aliases), len(wantPrimary))
		}
		for _, a := range aliases {
			if p, ok := wantPrimary[a.Value]; !ok || p != a.Primary {
				t.Errorf("alias %s %s primary=%v, want %v (known %v)", a.Kind, a.Value, a.Primary, p, ok)
			}
		}
		if n := f.c.IdentityAlias.Query().Where(identityalias.CustomerIDIn(m1.ID, m2.ID)).CountX(f.ctx); n != 0 {
			t.Errorf("%d aliases left on merged profiles", n)
		}
		if n := f.c.CustomerProfile.Query().Where(customerprofile.IDIn(m1.ID, m2.ID)).CountX(f.ctx); n != 0 {
			t.Errorf("%d merged profiles still exist", n)
		}
		if n := f.c.Activity.Query().Where(activity.CustomerID(s.ID)).CountX(f.ctx); n != 3+4+2+1 {
			t.Errorf("survivor has %d activities, want 10", n)
		}
		if n := f.c.CustomerNote.Query().Where(customernote.CustomerID(s.ID)).CountX(f.ctx); n != 4 {
			t.Errorf("survivor has %d notes, want 4", n)
		}
		mergedAct := f.c.Activity.Query().Where(activity.TypeEQ(activity.TypePROFILE_MERGED)).OnlyX(f.ctx)
		if mergedAct.CustomerID != s.ID || mergedAct.Category != activity.CategorySYSTEM || mergedAct.SourceService != "crm" ||
			mergedAct.Title != "Merged 2 profiles into this one" || mergedAct.Metadata["mergeRecordId"] != rec.ID.String() ||
			show(mergedAct.Metadata["mergedIds"]) != show([]any{m1.ID.String(), m2.ID.String()}) {
			t.Errorf("merge activity %+v", mergedAct)
		}

		// The record keeps what is needed to undo.
		if rec.Status != mergerecord.StatusMERGED || rec.MergedBy != "staff-7" || rec.SurvivorID != s.ID ||
			!slices.Equal(rec.MergedIds, []uuid.UUID{m1.ID, m2.ID}) || rec.Snapshot.ActivityID != mergedAct.ID ||
			len(rec.Snapshot.Merged) != 2 || len(rec.Snapshot.Merged[0].ActivityIDs) != 4 ||
			len(rec.Snapshot.Merged[0].Aliases) != 6 || len(rec.Snapshot.Merged[1].NoteIDs) != 1 {
			t.Errorf("merge record %+v", rec)
		}
		// Candidates within the merge are closed, others left alone.
		for _, c := range []struct {
			c    *ent.DuplicateCandidate
			want duplicatecandidate.Status
		}{{sm1, duplicatecandidate.StatusMERGED}, {m1m2, duplicatecandidate.StatusMERGED}, {m1x, duplicatecandidate.StatusOPEN}, {sm2, duplicatecandidate.StatusDISMISSED}} {
			got := f.c.DuplicateCandidate.GetX(f.ctx, c.c.ID)
			if got.Status != c.want {
				t.Errorf("candidate %s is %s, want %s", got.ID, got.Status, c.want)
			}
			if c.want == duplicatecandidate.StatusMERGED && (got.ResolvedAt == nil || got.ResolvedBy == nil || *got.ResolvedBy != "staff-7") {
				t.Errorf("candidate %s not resolved by the actor: %+v", got.ID, got)
			}
		}
		if want := []uuid.UUID{sm1.ID, m1m2.ID}; !sameIDs(rec.Snapshot.CandidateIDs, want) {
			t.Errorf("snapshot candidates %v, want %v", rec.Snapshot.CandidateIDs, want)
		}

		// The produced event, in the outbox.
		ev := f.c.OutboxEvent.Query().Where(outboxevent.TypeEQ(merge.EventMerged)).OnlyX(f.ctx)
		var env struct {
			ID         uuid.UUID         `json:"id"`
			Type       string            `json:"type"`
			Source     string            `json:"source"`
			Tenant     string            `json:"tenant"`
			OccurredAt time.Time         `json:"occurredAt"`
			Data       merge.MergedEvent `json:"data"`
		}
		if err := json.Unmarshal(ev.Payload, &env); err != nil {
			t.Fatal(err)
		}
		if env.ID != ev.ID || env.Type != merge.EventMerged || env.Source != "rapport" || env.Tenant != f.org.String() ||
			ev.OrganizationID != f.org || env.OccurredAt.IsZero() || env.Data.MergeRecordID != rec.ID || env.Data.SurvivorID != s.ID ||
			!slices.Equal(env.Data.MergedIDs, []uuid.UUID{m1.ID, m2.ID}) || !slices.Equal(env.Data.MessagingContactIDs, []string{"mc-1", "mc-2"}) {
			t.Errorf("event %s", ev.Payload)
		}
		f.audited(t, merge.ActionMerged, "Customer", "IdentityAlias", "CustomerNote")
		if !f.notify.saw(s.ID) {
			t.Error("survivor change not notified")
		}

		rec2, surv, restored, err := f.svc.Unmerge(f.ctx, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec2.Status != mergerecord.StatusUNMERGED || rec2.UnmergedAt == nil || rec2.UnmergedBy == nil || *rec2.UnmergedBy != "staff-7" {
			t.Errorf("record after unmerge %+v", rec2)
		}
		if surv == nil || surv.ID != s.ID || len(restored) != 2 || restored[0].ID != m1.ID || restored[1].ID != m2.ID {
			t.Fatalf("unmerge returned %v %v", surv, restored)
		}
		sameState(t, before, f.capture(t, ids...))
		for _, c := range []*ent.DuplicateCandidate{sm1, m1m2, m1x} {
			got := f.c.DuplicateCandidate.GetX(f.ctx, c.ID)
			if got.Status != duplicatecandidate.StatusOPEN || got.ResolvedAt != nil || got.ResolvedBy != nil {
				t.Errorf("candidate %s not reopened: %+v", c.ID, got)
			}
		}
		if got := f.c.DuplicateCandidate.GetX(f.ctx, sm2.ID); got.Status != duplicatecandidate.StatusDISMISSED {
			t.Errorf("dismissed candidate became %s", got.Status)
		}
		f.audited(t, merge.ActionUnmerged, "Customer", "IdentityAlias", "CustomerNote")
		for _, id := range []uuid.UUID{s.ID, m1.ID, m2.ID} {
			if !f.notify.saw(id) {
				t.Errorf("%s not notified", id)
			}
		}
	})
}

func sameIDs(a, b []uuid.UUID) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	less := func(p, q uuid.UUID) int { return strings.Compare(p.String(), q.String()) }
	slices.SortFunc(x, less)
	slices.SortFunc(y, less)
	return slices.Equal(x, y)
}

// audited checks the action left audit entries on each entity type.
func (f *fixture) audited(t *testing.T, action string, types ...string) {
	t.Helper()
	entries := f.c.CrmAuditLog.Query().Where(crmauditlog.Action(action)).AllX(f.ctx)
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.EntityType] = true
		if e.ActorID != "staff-7" {
			t.Errorf("%s entry by %q", action, e.ActorID)
		}
	}
	for _, typ := range types {
		if !seen[typ] {
			t.Errorf("no %s audit entry for %s (saw %v)", action, typ, seen)
		}
	}
}

func TestMergeValidationAndIsolation(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		s, m1, m2 := f.threePeople(t)
		foreign := f.person(t, f.other, func(c *ent.CustomerProfileCreate) { c.SetEmail("sam@fairway.golf") },
			[]aliasSpec{{identityalias.KindEMAIL, "sam@fairway.golf", true, "api"}}, 2, 1)
		many := make([]uuid.UUID, merge.MaxMerged+1)
		for i := range many {
			many[i] = uuid.Must(uuid.NewV7())
		}
		for _, c := range []struct {
			name     string
			survivor uuid.UUID
			merged   []uuid.UUID
			field    string
		}{
			{"no survivor", uuid.Nil, []uuid.UUID{m1.ID}, "survivorID"},
			{"nothing to merge", s.ID, nil, "mergedIDs"},
			{"too many", s.ID, many, "mergedIDs"},
			{"duplicate", s.ID, []uuid.UUID{m1.ID, m2.ID, m1.ID}, "mergedIDs"},
			{"survivor merged into itself", s.ID, []uuid.UUID{m1.ID, s.ID}, "mergedIDs"},
		} {
			_, _, err := f.svc.Merge(f.ctx, c.survivor, c.merged)
			t.Run(c.name, func(t *testing.T) { wantCode(t, err, apperr.Invalid, c.field) })
		}

		unknown := uuid.Must(uuid.NewV7())
		_, _, err := f.svc.Merge(f.ctx, s.ID, []uuid.UUID{m1.ID, unknown})
		wantCode(t, err, apperr.NotFound, "")
		if !strings.Contains(err.Error(), unknown.String()) {
			t.Errorf("not found does not name the id: %v", err)
		}
		// Another club's profile does not exist here, as merged or survivor.
		_, _, err = f.svc.Merge(f.ctx, s.ID, []uuid.UUID{foreign.ID})
		wantCode(t, err, apperr.NotFound, "")
		if !strings.Contains(err.Error(), foreign.ID.String()) {
			t.Errorf("not found does not name the id: %v", err)
		}
		_, _, err = f.svc.Merge(f.ctx, foreign.ID, []uuid.UUID{m1.ID})
		wantCode(t, err, apperr.NotFound, "")
		if n := f.c.MergeRecord.Query().CountX(f.ctx); n != 0 {
			t.Errorf("%d merge records after failed merges", n)
		}
		if n := f.c.Activity.Query().Where(activity.CustomerID(foreign.ID)).CountX(f.other); n != 2 {
			t.Errorf("foreign profile lost activities: %d", n)
		}

		rec, _, err := f.svc.Merge(f.ctx, s.ID, []uuid.UUID{m1.ID})
		if err != nil {
			t.Fatal(err)
		}
		// The other club cannot see, let alone undo, this merge.
		_, _, _, err = f.svc.Unmerge(f.other, rec.ID)
		wantCode(t, err, apperr.NotFound, "")
		_, _, _, err = f.svc.Unmerge(f.ctx, uuid.Must(uuid.NewV7()))
		wantCode(t, err, apperr.NotFound, "")
		if _, _, _, err := f.svc.Unmerge(f.ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		_, _, _, err = f.svc.Unmerge(f.ctx, rec.ID)
		wantCode(t, err, apperr.Conflict, "")
		if !strings.Contains(err.Error(), "already unmerged") {
			t.Errorf("double unmerge: %v", err)
		}
	})
}

// TestChainedMerges merges A into B, then B into C: the first merge cannot be
// undone while B is gone; undoing the second and then the first restores all
// three.
func TestChainedMerges(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		mk := func(name string, age time.Duration, extra func(*ent.CustomerProfileCreate)) *ent.CustomerProfile {
			return f.person(t, f.ctx, func(c *ent.CustomerProfileCreate) {
				c.SetEmail(name + "@fairway.golf").SetFirstName(name).SetTags([]string{name}).
					SetCreatedAt(f.base.Add(-age)).SetUpdatedAt(f.base.Add(-age + time.Minute))
				extra(c)
			}, []aliasSpec{
				{identityalias.KindEMAIL, name + "@fairway.golf", true, "api"},
				{identityalias.KindAUTH_USER_ID, "auth-" + name, false, "api"},
			}, 3, 1)
		}
		a := mk("a", 3*time.Hour, func(c *ent.CustomerProfileCreate) { c.SetHomeClubID("hc-a").SetActivityCount30d(2) })
		b := mk("b", 2*time.Hour, func(c *ent.CustomerProfileCreate) { c.SetPhoneNumber("+27820000009").SetActivityCount30d(1) })
		c := mk("c", time.Hour, func(c *ent.CustomerProfileCreate) { c.SetLastName("Cee") })
		f.c.IdentityAlias.Create().SetCustomerID(b.ID).SetKind(identityalias.KindPHONE).SetValue("+27820000009").SetPrimary(true).ExecX(f.ctx)
		ids := []uuid.UUID{a.ID, b.ID, c.ID}
		before := f.capture(t, ids...)

		first, _, err := f.svc.Merge(f.ctx, b.ID, []uuid.UUID{a.ID})
		if err != nil {
			t.Fatal(err)
		}
		second, cNow, err := f.svc.Merge(f.ctx, c.ID, []uuid.UUID{b.ID})
		if err != nil {
			t.Fatal(err)
		}
		if *cNow.HomeClubID != "hc-a" || *cNow.PhoneNumber != "+27820000009" || strings.Join(cNow.Tags, ",") != "a,b,c" || cNow.ActivityCount30d != 3 {
			t.Errorf("C after both merges: %+v", cNow)
		}
		if n := f.c.Activity.Query().Where(activity.CustomerID(c.ID)).CountX(f.ctx); n != 3*3+2 {
			t.Errorf("C has %d activities, want 11", n)
		}

		_, _, _, err = f.svc.Unmerge(f.ctx, first.ID)
		wantCode(t, err, apperr.Conflict, "")
		if !strings.Contains(err.Error(), second.ID.String()) {
			t.Errorf("conflict does not name the later merge %s: %v", second.ID, err)
		}
		if _, _, _, err := f.svc.Unmerge(f.ctx, second.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := f.svc.Unmerge(f.ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		sameState(t, before, f.capture(t, ids...))
	})
}

// TestUnmergeKeepsLaterEdits changes the survivor and the moved data after a
// merge: the unmerge restores what the merge changed and nothing else.
func TestUnmergeKeepsLaterEdits(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		s, m1, m2 := f.threePeople(t)
		rec, _, err := f.svc.Merge(f.ctx, s.ID, []uuid.UUID{m1.ID, m2.ID})
		if err != nil {
			t.Fatal(err)
		}
		// Staff edit a filled field, remove a moved key and a moved entry.
		f.c.CustomerProfile.UpdateOneID(s.ID).SetHomeClubID("hc-new").ExecX(f.ctx)
		gone := f.c.IdentityAlias.Query().Where(identityalias.Value("s.smith@work.co")).OnlyX(f.ctx)
		f.c.IdentityAlias.DeleteOneID(gone.ID).ExecX(f.ctx)
		dropped := f.c.Activity.Query().Where(activity.IDIn(rec.Snapshot.Merged[0].ActivityIDs...)).FirstX(f.ctx)
		f.c.Activity.DeleteOneID(dropped.ID).ExecX(f.ctx)

		_, surv, restored, err := f.svc.Unmerge(f.ctx, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if *surv.HomeClubID != "hc-new" {
			t.Errorf("edited home club lost: %q", *surv.HomeClubID)
		}
		if surv.LastName != nil || surv.PhoneNumber != nil || surv.SclMemberID != nil || strings.Join(surv.Tags, ",") != "vip,b" || surv.LifetimeValue != 1000 {
			t.Errorf("unedited fields not restored: %+v", surv)
		}
		if surv.UpdatedAt.Equal(s.UpdatedAt) {
			t.Error("survivor edited since the merge got its old updated_at back")
		}
		back := f.c.IdentityAlias.GetX(f.ctx, gone.ID)
		if back.CustomerID != m1.ID || back.Kind != gone.Kind || back.Value != gone.Value || back.Primary || back.Source != "import" {
			t.Errorf("deleted alias not recreated: %+v", back)
		}
		if n := f.c.Activity.Query().Where(activity.CustomerID(m1.ID)).CountX(f.ctx); n != 3 {
			t.Errorf("m1 has %d activities, want 3 (one deleted since)", n)
		}
		if len(restored) != 2 || *restored[0].HomeClubID != "hc-1" {
			t.Errorf("restored %+v", restored)
		}
	})
}

// TestMergeManyActivities moves a long timeline with set-based statements.
func TestMergeManyActivities(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		const n = 5000
		s := f.person(t, f.ctx, func(c *ent.CustomerProfileCreate) { c.SetEmail("s@fairway.golf") },
			[]aliasSpec{{identityalias.KindEMAIL, "s@fairway.golf", true, "api"}}, 0, 0)
		m := f.person(t, f.ctx, func(c *ent.CustomerProfileCreate) { c.SetEmail("m@fairway.golf") },
			[]aliasSpec{{identityalias.KindEMAIL, "m@fairway.golf", true, "api"}}, n, 2)

		start := time.Now()
		rec, _, err := f.svc.Merge(f.ctx, s.ID, []uuid.UUID{m.ID})
		if err != nil {
			t.Fatal(err)
		}
		mergeTook := time.Since(start)
		if got := f.c.Activity.Query().Where(activity.CustomerID(s.ID)).CountX(f.ctx); got != n+1 {
			t.Errorf("survivor has %d activities, want %d", got, n+1)
		}
		if got := len(rec.Snapshot.Merged[0].ActivityIDs); got != n {
			t.Errorf("snapshot holds %d activity ids", got)
		}
		start = time.Now()
		if _, _, _, err := f.svc.Unmerge(f.ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		unmergeTook := time.Since(start)
		if got := f.c.Activity.Query().Where(activity.CustomerID(m.ID)).CountX(f.ctx); got != n {
			t.Errorf("restored profile has %d activities, want %d", got, n)
		}
		if got := f.c.Activity.Query().Where(activity.CustomerID(s.ID)).CountX(f.ctx); got != 0 {
			t.Errorf("survivor kept %d activities", got)
		}
		t.Logf("%s: merge of %d activities took %s, unmerge %s", tg.Name, n, mergeTook, unmergeTook)
	})
}

// TestUnmergeOutOfOrder merges A and then C into B and undoes the first merge
// first: both come back exactly and B's summed metrics count each share once.
func TestUnmergeOutOfOrder(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		mk := func(name string, ltv int64, acts int, extra func(*ent.CustomerProfileCreate)) *ent.CustomerProfile {
			return f.person(t, f.ctx, func(c *ent.CustomerProfileCreate) {
				c.SetEmail(name + "@fairway.golf").SetLifetimeValue(ltv).SetActivityCount30d(acts)
				extra(c)
			}, []aliasSpec{{identityalias.KindEMAIL, name + "@fairway.golf", true, "api"}}, 2, 1)
		}
		a := mk("a", 100, 1, func(c *ent.CustomerProfileCreate) { c.SetHomeClubID("hc-a") })
		b := mk("b", 1000, 5, func(c *ent.CustomerProfileCreate) {})
		c := mk("c", 10, 2, func(c *ent.CustomerProfileCreate) { c.SetLastName("Cee") })
		before := f.capture(t, a.ID, b.ID, c.ID)

		first, _, err := f.svc.Merge(f.ctx, b.ID, []uuid.UUID{a.ID})
		if err != nil {
			t.Fatal(err)
		}
		second, _, err := f.svc.Merge(f.ctx, b.ID, []uuid.UUID{c.ID})
		if err != nil {
			t.Fatal(err)
		}
		// A payment lands on the survivor meanwhile.
		f.c.CustomerProfile.UpdateOneID(b.ID).AddLifetimeValue(7).ExecX(f.ctx)
		if _, _, _, err := f.svc.Unmerge(f.ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		mid := f.c.CustomerProfile.GetX(f.ctx, b.ID)
		if mid.LifetimeValue != 1000+10+7 || mid.ActivityCount30d != 5+2 || mid.HomeClubID != nil || *mid.LastName != "Cee" {
			t.Errorf("B after undoing the first merge: ltv=%d acts=%d home=%v last=%v", mid.LifetimeValue, mid.ActivityCount30d, mid.HomeClubID, mid.LastName)
		}
		if _, _, _, err := f.svc.Unmerge(f.ctx, second.ID); err != nil {
			t.Fatal(err)
		}
		got := f.capture(t, a.ID, b.ID, c.ID)
		sameState(t, map[uuid.UUID]*state{a.ID: before[a.ID], c.ID: before[c.ID]}, map[uuid.UUID]*state{a.ID: got[a.ID], c.ID: got[c.ID]})
		end := f.c.CustomerProfile.GetX(f.ctx, b.ID)
		if end.LifetimeValue != 1000+7 || end.ActivityCount30d != 5 || end.LastName != nil || end.HomeClubID != nil {
			t.Errorf("B at the end: ltv=%d acts=%d last=%v home=%v", end.LifetimeValue, end.ActivityCount30d, end.LastName, end.HomeClubID)
		}
		if len(got[b.ID].Aliases) != len(before[b.ID].Aliases) || len(got[b.ID].Activities) != len(before[b.ID].Activities) {
			t.Errorf("B has %d aliases and %d activities, want %d and %d", len(got[b.ID].Aliases), len(got[b.ID].Activities),
				len(before[b.ID].Aliases), len(before[b.ID].Activities))
		}
	})
}

// TestUnmergeAfterSurvivorDeleted refuses to undo a merge whose survivor was
// deleted: what moved to it is gone with it.
func TestUnmergeAfterSurvivorDeleted(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		s, m1, _ := f.threePeople(t)
		rec, _, err := f.svc.Merge(f.ctx, s.ID, []uuid.UUID{m1.ID})
		if err != nil {
			t.Fatal(err)
		}
		f.c.CustomerProfile.DeleteOneID(s.ID).ExecX(f.ctx)
		_, _, _, err = f.svc.Unmerge(f.ctx, rec.ID)
		wantCode(t, err, apperr.Conflict, "")
		if !strings.Contains(err.Error(), "deleted") {
			t.Errorf("conflict does not say the survivor was deleted: %v", err)
		}
		if r := f.c.MergeRecord.GetX(f.ctx, rec.ID); r.Status != mergerecord.StatusMERGED {
			t.Errorf("record is %s after a refused unmerge", r.Status)
		}
	})
}

// TestConcurrentMergesOfOneProfile races two merges of the same profile into
// different survivors: the row locks let one win and the other find the
// profile gone.
func TestConcurrentMergesOfOneProfile(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		mk := func(name string) *ent.CustomerProfile {
			return f.person(t, f.ctx, func(c *ent.CustomerProfileCreate) { c.SetEmail(name + "@fairway.golf") },
				[]aliasSpec{{identityalias.KindEMAIL, name + "@fairway.golf", true, "api"}}, 20, 1)
		}
		s1, s2, m := mk("s1"), mk("s2"), mk("m")
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, s := range []uuid.UUID{s1.ID, s2.ID} {
			wg.Go(func() { _, _, errs[i] = f.svc.Merge(f.ctx, s, []uuid.UUID{m.ID}) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !apperr.Is(err, apperr.NotFound):
				t.Errorf("losing merge: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d merges succeeded: %v", won, errs)
		}
		if n := f.c.MergeRecord.Query().CountX(f.ctx); n != 1 {
			t.Errorf("%d merge records", n)
		}
		if n := f.c.Activity.Query().Where(activity.CustomerIDIn(s1.ID, s2.ID)).CountX(f.ctx); n != 20*3+1 {
			t.Errorf("%d activities on the survivors, want 61", n)
		}
	})
}
