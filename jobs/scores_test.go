package jobs

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent/scorerun"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/scoring"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestNightlyScores: each organization is scored once in its own 03:00
// hour, however often the job runs.
func TestNightlyScores(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := testenv.Open(t, tg)
		ctx := context.Background()
		zones := map[string]string{"jhb": "Africa/Johannesburg", "utc": "UTC", "athens": "Europe/Athens", "bad": "Mars/Olympus"}
		ids := map[string]uuid.UUID{}
		for slug, zone := range zones {
			o, err := organization.Ensure(ctx, db.Client, slug, slug)
			if err != nil {
				t.Fatal(err)
			}
			db.Client.Organization.UpdateOneID(o.ID).SetTimeZone(zone).ExecX(tenancy.WithSystem(ctx))
			ids[slug] = o.ID
			db.Client.CustomerProfile.Create().SetEmail("m@" + slug + ".co.za").ExecX(tenancy.WithTenant(ctx, o.ID))
		}
		var clock time.Time
		svc := scoring.NewService(db.Client, db.Dialect, scoring.WithClock(func() time.Time { return clock }))
		job := NightlyScores(db.Client, svc, slog.Default())
		runs := func(slug string) int {
			return db.Client.ScoreRun.Query().Where(scorerun.TriggerEQ(scorerun.TriggerSCHEDULE)).CountX(tenancy.WithTenant(ctx, ids[slug]))
		}
		at := func(ts string) {
			t.Helper()
			var err error
			if clock, err = time.Parse(time.RFC3339, ts); err != nil {
				t.Fatal(err)
			}
			if err := job(ctx); err != nil {
				t.Fatal(err)
			}
		}
		expect := func(step string, want map[string]int) {
			t.Helper()
			for slug := range zones {
				if got := runs(slug); got != want[slug] {
					t.Errorf("%s: %s has %d scheduled runs, want %d", step, slug, got, want[slug])
				}
			}
		}

		// A manual run does not stand in for the nightly one.
		clock = time.Date(2026, 6, 15, 0, 30, 0, 0, time.UTC)
		if _, err := svc.RecomputeAll(ctx, ids["athens"], scorerun.TriggerMANUAL); err != nil {
			t.Fatal(err)
		}
		at("2026-06-15T00:35:00Z") // Athens 03:35
		expect("00:35", map[string]int{"athens": 1})
		at("2026-06-15T01:00:00Z") // Johannesburg 03:00, Athens 04:00
		at("2026-06-15T01:15:00Z") // again, as a retry or another replica would
		expect("01:15", map[string]int{"athens": 1, "jhb": 1})
		at("2026-06-15T03:45:00Z") // UTC 03:45 (and the unknown zone, taken as UTC)
		at("2026-06-15T04:00:00Z")
		expect("04:00", map[string]int{"athens": 1, "jhb": 1, "utc": 1, "bad": 1})
		at("2026-06-16T01:30:00Z") // the next night in Johannesburg
		expect("next night", map[string]int{"athens": 1, "jhb": 2, "utc": 1, "bad": 1})
		if r := db.Client.ScoreRun.Query().Where(scorerun.TriggerEQ(scorerun.TriggerSCHEDULE)).
			FirstX(tenancy.WithTenant(ctx, ids["jhb"])); r.Profiles != 1 || !r.StartedAt.Equal(time.Date(2026, 6, 15, 1, 0, 0, 0, time.UTC)) {
			t.Errorf("first Johannesburg run %+v", r)
		}
	})
}

// TestNightlyDue covers the hour, the local day and a daylight-saving gap
// that swallows 03:00 (Athens, 28 March 2027: 03:00 EET is 04:00 EEST).
func TestNightlyDue(t *testing.T) {
	athens, err := time.LoadLocation("Europe/Athens")
	if err != nil {
		t.Skip(err)
	}
	for ts, want := range map[string]bool{
		"2027-03-27T01:30:00Z": true,  // 03:30 EET
		"2027-03-27T02:30:00Z": false, // 04:30 EET
		"2027-03-28T00:30:00Z": false, // 02:30 EET
		"2027-03-28T01:30:00Z": true,  // 04:30 EEST: no 03:00 that day
		"2027-03-29T00:30:00Z": true,  // 03:30 EEST
		"2027-03-29T01:30:00Z": false, // 04:30 EEST
	} {
		now, _ := time.Parse(time.RFC3339, ts)
		day, due := nightlyDue(now, athens)
		if due != want {
			t.Errorf("%s: due %v, want %v", ts, due, want)
		}
		if l := now.In(athens); day.Day() != l.Day() || day.Hour() != 0 {
			t.Errorf("%s: day starts %v", ts, day)
		}
	}
}
