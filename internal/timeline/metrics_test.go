package timeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
	"github.com/rapportcrm/rapport/internal/timeline"
)

// TestRecomputeWindowCounts ages entries out of the 30-day counts.
func TestRecomputeWindowCounts(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		ctx := context.Background()
		db, err := database.Open(ctx, tg.DatabaseURL, tg.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		org, err := organization.Ensure(ctx, db.Client, "club", "Club")
		if err != nil {
			t.Fatal(err)
		}
		tctx := tenancy.WithTenant(ctx, org.ID)
		now := time.Now().UTC()
		p := db.Client.CustomerProfile.Create().SetEmail("a@club.co.za").SetActivityCount30d(9).SetBookingCount30d(9).SaveX(tctx)
		idle := db.Client.CustomerProfile.Create().SetEmail("b@club.co.za").SetActivityCount30d(4).SaveX(tctx)
		for i, at := range []time.Time{now.Add(-time.Hour), now.Add(-29 * 24 * time.Hour), now.Add(-31 * 24 * time.Hour)} {
			typ := activity.TypeTEETIME_BOOKED
			if i == 1 {
				typ = activity.TypeEMAIL_OPENED
			}
			db.Client.Activity.Create().SetCustomerID(p.ID).SetType(typ).SetCategory(activity.CategoryBOOKING).
				SetTitle("x").SetSourceService("teetime").SetOccurredAt(at).ExecX(tctx)
		}
		n, err := timeline.RecomputeWindowCounts(ctx, db.Client, db.Dialect, org.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d profiles changed, want 2", n)
		}
		got := db.Client.CustomerProfile.GetX(tctx, p.ID)
		if got.ActivityCount30d != 2 || got.BookingCount30d != 1 {
			t.Errorf("counts %d/%d, want 2/1", got.ActivityCount30d, got.BookingCount30d)
		}
		if got := db.Client.CustomerProfile.GetX(tctx, idle.ID); got.ActivityCount30d != 0 {
			t.Errorf("idle profile kept %d", got.ActivityCount30d)
		}
		if n, _ := timeline.RecomputeWindowCounts(ctx, db.Client, db.Dialect, org.ID, now); n != 0 {
			t.Errorf("second run changed %d profiles", n)
		}
	})
}
