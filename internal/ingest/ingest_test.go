package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/duplicatecandidate"
	"github.com/rapportcrm/rapport/ent/synclog"
	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/ingest"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

type fixture struct {
	db  *database.DB
	org *ent.Organization
	p   *ingest.Pipeline
	ctx context.Context // tenant-scoped
}

func setup(t *testing.T, tg testenv.Target) *fixture {
	t.Helper()
	ctx := context.Background()
	db := testenv.Open(t, tg)
	org, err := organization.Ensure(ctx, db.Client, "fairway", "Fairway Hills")
	if err != nil {
		t.Fatal(err)
	}
	p := ingest.New(ingest.Config{Client: db.Client, Dialect: db.Dialect, Orgs: organization.NewResolver(db.Client)})
	return &fixture{db: db, org: org, p: p, ctx: tenancy.WithTenant(ctx, org.ID)}
}

func env(id, typ, source string, data map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "type": typ, "source": source, "tenant": "fairway",
		"occurredAt": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339), "data": data,
	})
	return b
}

func TestResolveLinkAndDedup(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		ctx := context.Background()
		res := f.p.Process(ctx, [][]byte{
			env("m-1", "member.created", "scl", map[string]any{"sclMemberId": 1001, "email": " Ann.Smith@Fairway.Golf ", "firstName": "Ann", "lastName": "Smith", "membershipTier": "Gold"}),
			// Same person from TeeTime, matched by e-mail, brings a player id and a phone.
			env("p-1", "player.created", "teetime", map[string]any{"teetimePlayerId": "tt-77", "email": "ann.smith@fairway.golf", "phoneNumber": "082 555 0101", "handicap": 12.4}),
			env("b-1", "teetime.booked", "teetime", map[string]any{"teetimePlayerId": "tt-77", "bookingId": "bk-1", "teeTime": time.Now().Add(48 * time.Hour).Format(time.RFC3339), "courseName": "Old Course"}),
			env("pay-1", "payment.received", "scl", map[string]any{"sclMemberId": 1001, "paymentId": "pay-1", "amountCents": 125000, "currency": "zar"}),
		})
		for i, r := range res {
			if r.Status != ingest.Processed {
				t.Fatalf("event %d: %+v", i, r)
			}
		}
		if !res[0].Created || res[1].Created || *res[1].CustomerID != *res[0].CustomerID || *res[2].CustomerID != *res[0].CustomerID {
			t.Fatalf("events were not resolved to one profile: %+v", res)
		}
		p := f.db.Client.CustomerProfile.GetX(f.ctx, *res[0].CustomerID)
		if *p.Email != "ann.smith@fairway.golf" || *p.PhoneNumber != "+27825550101" || *p.TeetimePlayerID != "tt-77" || *p.SclMemberID != 1001 {
			t.Errorf("keys not on profile: %+v", p)
		}
		if *p.MembershipTier != "Gold" || *p.Handicap != 12.4 || p.LifetimeValue != 125000 || p.BookingCount30d != 1 || p.ActivityCount30d != 4 || p.LastActivityAt == nil {
			t.Errorf("facts/metrics not applied: tier=%v hcp=%v ltv=%d books=%d acts=%d", p.MembershipTier, p.Handicap, p.LifetimeValue, p.BookingCount30d, p.ActivityCount30d)
		}
		if p.LifecycleStage != customerprofile.LifecycleStageNEW_MEMBER {
			t.Errorf("stage %s", p.LifecycleStage)
		}
		if n := f.db.Client.Activity.Query().Where(activity.CustomerID(p.ID)).CountX(f.ctx); n != 4 {
			t.Errorf("%d activities, want 4", n)
		}

		// Redelivery changes nothing.
		again := f.p.Process(ctx, [][]byte{
			env("b-1", "teetime.booked", "teetime", map[string]any{"teetimePlayerId": "tt-77", "bookingId": "bk-1", "teeTime": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}),
			env("pay-1", "payment.received", "scl", map[string]any{"sclMemberId": 1001, "paymentId": "pay-1", "amountCents": 125000, "currency": "ZAR"}),
		})
		for _, r := range again {
			if r.Status != ingest.Duplicate {
				t.Errorf("redelivered: %+v", r)
			}
		}
		p2 := f.db.Client.CustomerProfile.GetX(f.ctx, p.ID)
		if p2.LifetimeValue != 125000 || p2.ActivityCount30d != 4 {
			t.Errorf("redelivery changed the profile: ltv=%d acts=%d", p2.LifetimeValue, p2.ActivityCount30d)
		}
		if n := f.db.Client.SyncLog.Query().Where(synclog.StatusEQ(synclog.StatusPROCESSED)).CountX(f.ctx); n != 4 {
			t.Errorf("%d sync log rows, want 4", n)
		}
		if n := f.db.Client.OutboxEvent.Query().CountX(tenancy.WithSystem(ctx)); n != 1 {
			t.Errorf("%d produced events, want 1 crm.profile.created", n)
		}
	})
}

func TestInvalidEventsAreRejectedNotStalled(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		res := f.p.Process(context.Background(), [][]byte{
			[]byte(`{not json`),
			env("x-1", "member.exploded", "scl", map[string]any{"sclMemberId": 1}),
			env("x-2", "member.created", "scl", map[string]any{"sclMemberId": 2, "email": "not-an-email"}),
			[]byte(`{"id":"x-3","type":"member.created","source":"scl","occurredAt":"2026-01-01T00:00:00Z","data":{"sclMemberId":3}}`),
			env("x-4", "member.created", "scl", map[string]any{"sclMemberId": 4, "email": "null", "phoneNumber": "000000"}),
			env("ok-1", "member.created", "scl", map[string]any{"sclMemberId": 5, "email": "bob@fairway.golf"}),
		})
		want := []ingest.Status{ingest.Rejected, ingest.Rejected, ingest.Rejected, ingest.Rejected, ingest.Processed, ingest.Processed}
		for i, r := range res {
			if r.Status != want[i] {
				t.Errorf("event %d: status %s (%s), want %s", i, r.Status, r.Reason, want[i])
			}
		}
		// x-4 has only placeholders besides its member id: the member id alone identifies.
		p := f.db.Client.CustomerProfile.Query().Where(customerprofile.SclMemberID(4)).OnlyX(f.ctx)
		if p.Email != nil || p.PhoneNumber != nil {
			t.Errorf("placeholders became keys: %v %v", p.Email, p.PhoneNumber)
		}
		rejected := f.db.Client.SyncLog.Query().Where(synclog.StatusEQ(synclog.StatusREJECTED)).AllX(f.ctx)
		if len(rejected) != 2 { // the unknown type and the bad e-mail have a tenant
			t.Errorf("%d rejections recorded, want 2", len(rejected))
		}
	})
}

func TestConflictingKeysAreFlaggedNotMerged(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		ctx := context.Background()
		r := f.p.Process(ctx, [][]byte{
			env("a", "member.created", "scl", map[string]any{"sclMemberId": 1, "email": "jo@club.golf", "firstName": "Jo", "lastName": "Ng"}),
			env("b", "player.created", "teetime", map[string]any{"teetimePlayerId": "p9", "phoneNumber": "+27825550199"}),
		})
		// One event says: this e-mail and this phone are one person.
		c := f.p.Process(ctx, [][]byte{env("c", "message.sent", "messaging", map[string]any{
			"messagingContactId": "c1", "email": "jo@club.golf", "phoneNumber": "+27825550199", "messageId": "m1", "channel": "SMS"})})
		if c[0].Status != ingest.Processed || *c[0].CustomerID != *r[0].CustomerID || c[0].Flagged != 1 {
			t.Fatalf("conflict: %+v", c[0])
		}
		if n := f.db.Client.CustomerProfile.Query().CountX(f.ctx); n != 2 {
			t.Errorf("%d profiles; conflicting keys must not merge", n)
		}
		cand := f.db.Client.DuplicateCandidate.Query().OnlyX(f.ctx)
		if cand.Reason != duplicatecandidate.ReasonCONFLICTING_KEYS || cand.Confidence != 85 || cand.Status != duplicatecandidate.StatusOPEN {
			t.Errorf("candidate %+v", cand)
		}
		// Name + company domain: flagged at 60.
		f.p.Process(ctx, [][]byte{env("d", "member.created", "scl", map[string]any{"sclMemberId": 2, "email": "joe.ng@club.golf", "firstName": "Joe", "lastName": "Ng"})})
		if n := f.db.Client.DuplicateCandidate.Query().Where(duplicatecandidate.ReasonEQ(duplicatecandidate.ReasonNAME_AND_EMAIL_DOMAIN), duplicatecandidate.Confidence(60)).CountX(f.ctx); n != 1 {
			t.Errorf("%d name+domain candidates, want 1", n)
		}
	})
}

func TestConcurrentEventsForOneNewPersonMakeOneProfile(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		var wg sync.WaitGroup
		results := make([]ingest.Result, 50)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := f.p.Process(context.Background(), [][]byte{env(fmt.Sprintf("e-%d", i), "email.opened", "messaging",
					map[string]any{"messagingContactId": "c-new", "email": "new.person@club.golf", "messageId": fmt.Sprint(i)})})
				results[i] = r[0]
			}()
		}
		wg.Wait()
		for i, r := range results {
			if r.Status != ingest.Processed {
				t.Errorf("event %d: %+v", i, r)
			}
		}
		if n := f.db.Client.CustomerProfile.Query().CountX(f.ctx); n != 1 {
			t.Fatalf("%d profiles, want 1", n)
		}
		p := f.db.Client.CustomerProfile.Query().OnlyX(f.ctx)
		if p.ActivityCount30d != 50 || f.db.Client.Activity.Query().CountX(f.ctx) != 50 {
			t.Errorf("activity count %d", p.ActivityCount30d)
		}
	})
}

// TestConcurrentBatchesOverSharedProfiles: batches that touch the same
// profiles in different orders, mixing events that change only metrics
// (payments) with events that change facts (tier), all end processed (a
// deadlock or lock conflict would be retried; one left failing would show
// here), the relative lifetime-value updates add up, every fact lands and
// no profile is duplicated.
func TestConcurrentBatchesOverSharedProfiles(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		const people, workers, rounds = 40, 6, 4
		var seedEvents [][]byte
		for i := range people {
			seedEvents = append(seedEvents, env(fmt.Sprintf("m-%d", i), "member.created", "scl",
				map[string]any{"sclMemberId": 5000 + i, "email": fmt.Sprintf("p%d@club.golf", i), "firstName": "P", "lastName": fmt.Sprint(i)}))
		}
		for i, r := range f.p.Process(context.Background(), seedEvents) {
			if r.Status != ingest.Processed {
				t.Fatalf("member %d: %+v", i, r)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan string, workers*rounds*people)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					batch := make([][]byte, 0, people)
					// Each batch walks the people in an order of its own.
					for _, i := range rand.New(rand.NewPCG(uint64(w), uint64(r))).Perm(people) {
						id := fmt.Sprintf("w%d-r%d-%d", w, r, i)
						if (w+r+i)%5 == 0 {
							// A fact, locked and read besides the metrics.
							batch = append(batch, env(id, "member.updated", "scl",
								map[string]any{"sclMemberId": 5000 + i, "membershipTier": fmt.Sprintf("T%d", w)}))
							continue
						}
						batch = append(batch, env(id, "payment.received", "scl",
							map[string]any{"sclMemberId": 5000 + i, "paymentId": id, "amountCents": 100, "currency": "zar"}))
					}
					for _, res := range f.p.Process(context.Background(), batch) {
						if res.Status != ingest.Processed {
							errs <- fmt.Sprintf("worker %d round %d: %+v", w, r, res)
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		ltv := map[string]int64{}
		for w := range workers {
			for r := range rounds {
				for i := range people {
					if (w+r+i)%5 != 0 {
						ltv[fmt.Sprintf("p%d@club.golf", i)] += 100
					}
				}
			}
		}
		profiles := f.db.Client.CustomerProfile.Query().AllX(f.ctx)
		if len(profiles) != people {
			t.Fatalf("%d profiles, want %d", len(profiles), people)
		}
		for _, p := range profiles {
			if want := ltv[*p.Email]; p.LifetimeValue != want {
				t.Errorf("%s: lifetime value %d, want %d", *p.Email, p.LifetimeValue, want)
			}
			// Every person gets a tier change from some worker and round.
			if p.MembershipTier == nil || len(*p.MembershipTier) != 2 || (*p.MembershipTier)[0] != 'T' {
				t.Errorf("%s: tier %v, want one of the workers' T0…T5", *p.Email, p.MembershipTier)
			}
		}
	})
}
