// Package resolvers implements the graph's resolvers. They are thin:
// authorize (the @scope directive already did), validate the shape, call the
// domain, return what it returns.
package resolvers

import (
	"context"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/apikey"
	"github.com/rapportcrm/rapport/internal/customer"
	"github.com/rapportcrm/rapport/internal/merge"
	"github.com/rapportcrm/rapport/internal/scoring"
	"github.com/rapportcrm/rapport/internal/segment"
	"github.com/rapportcrm/rapport/internal/timeline"
)

// Subscriber hands out live update streams by topic (in-process, or fed from
// Redis so every replica sees every update).
type Subscriber interface {
	Subscribe(topic string) (<-chan []byte, func())
}

// Deps are the domain services the resolvers call.
type Deps struct {
	Client    *ent.Client
	Dialect   string
	Customers *customer.Service
	Timeline  *timeline.Service
	APIKeys   *apikey.Service
	Merges    *merge.Service
	Segments  *segment.Service
	Scores    *scoring.Service
	Hub       Subscriber
}

// Resolver is the root resolver and the service's dependency-injection point.
type Resolver struct {
	client    *ent.Client
	dialect   string
	customers *customer.Service
	timeline  *timeline.Service
	apiKeys   *apikey.Service
	merges    *merge.Service
	segments  *segment.Service
	scores    *scoring.Service
	hub       Subscriber
}

// New returns the root resolver.
func New(d Deps) *Resolver {
	return &Resolver{client: d.Client, dialect: d.Dialect, customers: d.Customers, timeline: d.Timeline, apiKeys: d.APIKeys, merges: d.Merges, segments: d.Segments, scores: d.Scores, hub: d.Hub}
}

// customerOrNil loads a profile that may have been merged away or deleted.
func (r *Resolver) customerOrNil(ctx context.Context, id uuid.UUID) (*ent.CustomerProfile, error) {
	p, err := r.client.CustomerProfile.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return p, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
