package resolvers

import (
	"context"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/predicate"
	"github.com/rapportcrm/rapport/internal/audit"
)

func customerIDIs(id uuid.UUID) predicate.CustomerProfile { return customerprofile.ID(id) }

// actorID is who is acting, for authorship of notes.
func actorID(ctx context.Context) string { return audit.ActorFrom(ctx).ID }
