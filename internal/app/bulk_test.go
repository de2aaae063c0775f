package app_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/ent/scorerun"
	"github.com/rapportcrm/rapport/ent/segmentmembership"
	"github.com/rapportcrm/rapport/internal/app"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/segment"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestBulkFollowup checks both ways a bulk write is followed up: a few
// profiles of a large organization round by round, and most of an
// organization by one full score run and segment refresh. Either way every
// changed profile is scored and its dynamic memberships are decided, and
// the other organization is left alone.
func TestBulkFollowup(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
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
		ctx := audit.WithActor(tenancy.WithTenant(bg, org.ID), audit.Actor{ID: "staff-1", Type: "user"})
		octx := audit.WithActor(tenancy.WithTenant(bg, other.ID), audit.Actor{ID: "staff-2", Type: "user"})
		asGold := func(i int, c *ent.CustomerProfileCreate) { c.SetMembershipTier("Gold") }
		gold := testenv.CreateProfiles(t, ctx, db.Client, 1200, asGold)
		others := testenv.CreateProfiles(t, octx, db.Client, 3, asGold)
		seg, err := segment.NewService(db.Client, db.Dialect, nil).Create(ctx, segment.CreateInput{Name: "Gold",
			Rules: []*schematype.Rule{{Field: "membershipTier", Operator: schematype.OpEq, Value: "Gold"}}})
		if err != nil || seg.MemberCount != len(gold) {
			t.Fatalf("segment: %v (%d members)", err, seg.MemberCount)
		}
		members := func() int {
			return db.Client.SegmentMembership.Query().Where(segmentmembership.SegmentID(seg.ID)).CountX(ctx)
		}
		scored := func(ctx context.Context, ids []uuid.UUID) int {
			return db.Client.CustomerProfile.Query().Where(customerprofile.IDIn(ids...), customerprofile.ScoresComputedAtNotNil()).CountX(ctx)
		}

		// 3 of 1,200 profiles become Silver: followed up round by round.
		few := gold[:3]
		db.Client.CustomerProfile.Update().Where(customerprofile.IDIn(few...)).SetMembershipTier("Silver").ExecX(ctx)
		b := app.NewBulkFollowup(db.Client, db.Dialect, nil)
		b.Add(org.ID, few)
		res, err := b.Run(bg)
		if err != nil || res.Profiles != 3 || res.FullRuns != 0 {
			t.Fatalf("few: %+v, %v", res, err)
		}
		if scored(ctx, few) != 3 || scored(ctx, gold[3:]) != 0 || members() != len(gold)-3 {
			t.Fatalf("few: %d scored, %d members", scored(ctx, few), members())
		}

		// 600 of them become Silver: one full run of the organization.
		many := gold[3:603]
		db.Client.CustomerProfile.Update().Where(customerprofile.IDIn(many...)).SetMembershipTier("Silver").ExecX(ctx)
		b.Add(org.ID, many)
		if b.Pending() != len(many) {
			t.Fatalf("pending %d", b.Pending())
		}
		res, err = b.Run(bg)
		if err != nil || res.Profiles != len(many) || res.FullRuns != 1 || b.Pending() != 0 {
			t.Fatalf("many: %+v, %v", res, err)
		}
		if n := scored(ctx, gold); n != len(gold) {
			t.Fatalf("many: %d of %d scored", n, len(gold))
		}
		if members() != len(gold)-603 {
			t.Fatalf("many: %d members, want %d", members(), len(gold)-603)
		}
		if runs := db.Client.ScoreRun.Query().CountX(ctx); runs != 1 {
			t.Fatalf("%d score runs recorded, want the full one", runs)
		}
		if db.Client.ScoreRun.Query().OnlyX(ctx).Trigger != scorerun.TriggerMANUAL {
			t.Fatal("full run not recorded as manual")
		}
		if scored(octx, others) != 0 {
			t.Fatal("the other organization was scored")
		}
	})
}
