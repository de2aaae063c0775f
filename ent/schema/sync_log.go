package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// SyncLog records each consumed event once: the row is written in the same
// transaction as the event's effects, so its unique (source, event id) makes
// a redelivered event a no-op.
type SyncLog struct{ ent.Schema }

// Mixin of the SyncLog.
func (SyncLog) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TenantMixin{}}
}

// Fields of the SyncLog.
func (SyncLog) Fields() []ent.Field {
	return []ent.Field{
		field.String("source").NotEmpty().MaxLen(50).Immutable(),
		field.String("event_id").NotEmpty().MaxLen(255).Immutable(),
		field.String("event_type").MaxLen(100).Immutable(),
		field.Enum("status").Values("PROCESSED", "REJECTED").Immutable().
			Annotations(entgql.Type("SyncStatus")),
		field.String("reason").Optional().Nillable().MaxLen(2000).Immutable(),
		field.UUID("customer_id", uuid.UUID{}).Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.Time("occurred_at").Optional().Nillable().Immutable(),
		field.Time("processed_at").Default(nowUTC).Immutable().
			Annotations(entgql.OrderField("PROCESSED_AT")),
	}
}

// Indexes of the SyncLog.
func (SyncLog) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "source", "event_id").Unique(),
		index.Fields("tenant_id", "processed_at"),
	}
}

// Annotations of the SyncLog.
func (SyncLog) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Type("SyncLogEntry"),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
