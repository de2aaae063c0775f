package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/organization"
	"github.com/rapportcrm/rapport/ent/scorerun"
	"github.com/rapportcrm/rapport/internal/scoring"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// NightlyHour is the local hour in which each organization's scores are
// recomputed: the club is closed, and the day's events are in.
const NightlyHour = 3

// NightlyScores returns the job that scores each organization once a night
// in its own time zone. Run it every 15 minutes ("*/15 * * * *"): at each
// run, an organization whose local time is in NightlyHour and that has no
// SCHEDULE score run started in its current local day gets a full run. The
// record of the run is the claim, so the job is idempotent across replicas
// and retries: a failed run is retried at the next quarter hour, a finished
// one is not repeated. On a day whose NightlyHour does not exist (a
// daylight-saving gap) the next hour stands in for it.
func NightlyScores(client *ent.Client, svc *scoring.Service, log *slog.Logger) Job {
	return func(ctx context.Context) error {
		orgs, err := client.Organization.Query().Select(organization.FieldID, organization.FieldTimeZone).
			All(tenancy.WithSystem(ctx))
		if err != nil {
			return err
		}
		now := svc.Now()
		var errs []error
		for _, o := range orgs {
			loc, err := time.LoadLocation(o.TimeZone)
			if err != nil {
				// A bad zone must not cost the club its scores: UTC is the
				// zone organizations default to.
				log.Warn("nightly scores: unknown time zone, using UTC", "organization", o.ID, "timeZone", o.TimeZone)
				loc = time.UTC
			}
			dayStart, due := nightlyDue(now, loc)
			if !due {
				continue
			}
			if err := scoreOnce(ctx, client, svc, log, o.ID, dayStart); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}

// nightlyDue reports whether now falls in the nightly hour of its local day
// in loc, with the start of that day.
func nightlyDue(now time.Time, loc *time.Location) (dayStart time.Time, due bool) {
	local := now.In(loc)
	y, m, d := local.Date()
	dayStart = time.Date(y, m, d, 0, 0, 0, 0, loc)
	hour := NightlyHour
	// time.Date normalizes a time in a gap to after it: 03:00 becoming
	// 04:00 means the day has no 03:00 hour.
	if t := time.Date(y, m, d, NightlyHour, 0, 0, 0, loc); t.Hour() != NightlyHour {
		hour = t.Hour()
	}
	return dayStart, local.Hour() == hour
}

func scoreOnce(ctx context.Context, client *ent.Client, svc *scoring.Service, log *slog.Logger, orgID uuid.UUID, dayStart time.Time) error {
	tctx := tenancy.WithTenant(ctx, orgID)
	done, err := client.ScoreRun.Query().
		Where(scorerun.TriggerEQ(scorerun.TriggerSCHEDULE), scorerun.StartedAtGTE(dayStart.UTC())).Exist(tctx)
	if err != nil || done {
		return err
	}
	res, err := svc.RecomputeAll(ctx, orgID, scorerun.TriggerSCHEDULE)
	if err != nil {
		return err
	}
	log.Info("nightly scores", "organization", orgID, "profiles", res.Profiles, "changed", res.Changed,
		"highChurn", res.HighChurnCrossings)
	return nil
}
