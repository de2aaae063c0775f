package schema

import (
	"context"
	"errors"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent/intercept"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// newID returns a UUIDv7: time-ordered, so inserts stay at the right edge of
// the primary-key index and ids sort by creation time.
func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// IDMixin gives an entity a UUIDv7 primary key.
type IDMixin struct{ mixin.Schema }

// Fields of the IDMixin.
func (IDMixin) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(newID).Immutable(),
	}
}

// TimeMixin adds created_at and updated_at, both UTC.
type TimeMixin struct{ mixin.Schema }

func nowUTC() time.Time { return time.Now().UTC() }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(nowUTC).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(nowUTC).UpdateDefault(nowUTC).
			Annotations(entgql.OrderField("UPDATED_AT")),
	}
}

// ErrNoTenant is returned when tenant-owned data is touched without a tenant
// in the context. Failing closed is the point: a missing tenant must never
// widen a query to every tenant.
var ErrNoTenant = errors.New("tenancy: no tenant in context")

// TenantMixin marks an entity as owned by one organization. Its interceptor
// adds the tenant filter to every query and its hook stamps and scopes every
// mutation, so code above the data layer never filters by hand.
type TenantMixin struct{ mixin.Schema }

// Fields of the TenantMixin.
func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("tenant_id", uuid.UUID{}).Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

type wherePer interface {
	WhereP(...func(*sql.Selector))
}

func tenantPredicate(id uuid.UUID) func(*sql.Selector) {
	return sql.FieldEQ("tenant_id", id)
}

// Interceptors of the TenantMixin.
func (TenantMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{
		intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
			id, ok := tenancy.FromContext(ctx)
			if !ok {
				if tenancy.IsSystem(ctx) {
					return nil
				}
				return ErrNoTenant
			}
			q.WhereP(tenantPredicate(id))
			return nil
		}),
	}
}

// Hooks of the TenantMixin.
func (TenantMixin) Hooks() []ent.Hook {
	return []ent.Hook{
		func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				id, ok := tenancy.FromContext(ctx)
				if !ok {
					if tenancy.IsSystem(ctx) {
						return next.Mutate(ctx, m)
					}
					return nil, ErrNoTenant
				}
				if m.Op().Is(ent.OpCreate) {
					if err := m.SetField("tenant_id", id); err != nil {
						return nil, err
					}
					return next.Mutate(ctx, m)
				}
				w, ok := m.(wherePer)
				if !ok {
					return nil, errors.New("tenancy: mutation does not support predicates")
				}
				w.WhereP(tenantPredicate(id))
				return next.Mutate(ctx, m)
			})
		},
	}
}
