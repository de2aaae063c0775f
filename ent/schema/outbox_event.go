package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// OutboxEvent is a produced event written in the business transaction that
// caused it and relayed to the bus afterwards, so no event is lost and none is
// sent for a change that rolled back. Its id is the event id consumers dedup
// on.
//
// The table is infrastructure, read across tenants by the relay and never
// through the graph: it names its tenant column organization_id so that it
// stays outside the tenant row-level security policies.
type OutboxEvent struct{ ent.Schema }

// Mixin of the OutboxEvent.
func (OutboxEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the OutboxEvent.
func (OutboxEvent) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("organization_id", uuid.UUID{}).Immutable(),
		field.String("type").NotEmpty().MaxLen(100).Immutable(),
		field.Bytes("payload").Immutable().
			SchemaType(map[string]string{dialect.Postgres: "jsonb"}).
			Comment("the full envelope, JSON"),
		field.Time("created_at").Default(nowUTC).Immutable(),
		field.Time("published_at").Optional().Nillable(),
		field.Int("attempts").Default(0),
		field.String("last_error").Optional().Nillable().MaxLen(2000),
	}
}

// Indexes of the OutboxEvent.
func (OutboxEvent) Indexes() []ent.Index {
	return []ent.Index{
		// The relay scans unpublished rows in id (time) order.
		index.Fields("published_at", "id"),
	}
}

// Annotations of the OutboxEvent.
func (OutboxEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("outbox_events"),
		entgql.Skip(entgql.SkipAll),
	}
}
