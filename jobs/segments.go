package jobs

import (
	"context"
	"errors"
	"log/slog"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/segment"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// RefreshSegments returns the job that refreshes every active rule segment
// of every organization: the catch-all behind real-time membership, for
// what changes with no event (time passing out of "within the last 30
// days") and for follow-ups a crash lost.
func RefreshSegments(client *ent.Client, segments *segment.Service, log *slog.Logger) Job {
	return func(ctx context.Context) error {
		orgs, err := client.Organization.Query().IDs(tenancy.WithSystem(ctx))
		if err != nil {
			return err
		}
		var errs []error
		for _, id := range orgs {
			n, err := segments.RefreshAll(ctx, id)
			if err != nil {
				errs = append(errs, err)
			}
			if n > 0 {
				log.Info("segments refreshed", "organization", id, "changed", n)
			}
		}
		return errors.Join(errs...)
	}
}
