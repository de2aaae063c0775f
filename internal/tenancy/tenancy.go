// Package tenancy carries the current tenant through a context and says which
// operations may run without one.
package tenancy

import (
	"context"

	"github.com/google/uuid"
)

type tenantKey struct{}
type systemKey struct{}

// WithTenant returns a context scoped to the organization id.
func WithTenant(ctx context.Context, id uuid.UUID) context.Context {
	return context.WithValue(ctx, tenantKey{}, id)
}

// FromContext returns the tenant id carried by ctx, if any.
func FromContext(ctx context.Context) (uuid.UUID, bool) {
	id, ok := ctx.Value(tenantKey{}).(uuid.UUID)
	return id, ok && id != uuid.Nil
}

// WithSystem marks ctx as a platform operation (migrations, organization
// bootstrap, seeding) that is allowed to run without a tenant. Request
// handlers never use it.
func WithSystem(ctx context.Context) context.Context {
	return context.WithValue(ctx, systemKey{}, true)
}

// IsSystem reports whether ctx was marked by WithSystem.
func IsSystem(ctx context.Context) bool {
	v, _ := ctx.Value(systemKey{}).(bool)
	return v
}
