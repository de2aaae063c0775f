// Package resolvers implements the graph's resolvers. They are thin:
// authorize (the @scope directive already did), validate the shape, call the
// domain, return what it returns.
package resolvers

import (
	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/customer"
	"github.com/rapportcrm/rapport/internal/pubsub"
)

// Resolver is the root resolver and the service's dependency-injection point.
type Resolver struct {
	client    *ent.Client
	customers *customer.Service
	broker    *pubsub.Broker
}

// New returns the root resolver.
func New(client *ent.Client, customers *customer.Service, broker *pubsub.Broker) *Resolver {
	return &Resolver{client: client, customers: customers, broker: broker}
}
