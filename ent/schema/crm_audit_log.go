package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// CrmAuditLog records one change: who did what to which entity, with the
// values before and after.
type CrmAuditLog struct{ ent.Schema }

// Mixin of the CrmAuditLog.
func (CrmAuditLog) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TenantMixin{}}
}

// Fields of the CrmAuditLog.
func (CrmAuditLog) Fields() []ent.Field {
	return []ent.Field{
		field.String("actor_id").Default("").MaxLen(255).Immutable(),
		field.String("actor_type").Default("user").MaxLen(50).Immutable().
			Comment("user, api_key, system or event"),
		field.String("action").NotEmpty().MaxLen(100).Immutable(),
		field.String("entity_type").NotEmpty().MaxLen(100).Immutable(),
		field.UUID("entity_id", uuid.UUID{}).Immutable().
			Annotations(entgql.Type("ID")),
		field.JSON("changes", map[string]any{}).Optional().Immutable().
			Annotations(entgql.Type("Map")),
		field.String("request_id").Optional().Nillable().Immutable(),
		field.Time("created_at").Default(nowUTC).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
	}
}

// Indexes of the CrmAuditLog.
func (CrmAuditLog) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "entity_id", "created_at"),
		index.Fields("tenant_id", "created_at"),
	}
}

// Annotations of the CrmAuditLog.
func (CrmAuditLog) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Type("AuditLogEntry"),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
