package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent/schematype"
)

// DuplicateCandidate is a pair of profiles that may be one person, kept for
// staff to review instead of being merged silently. The pair is stored in id
// order so it exists once. The profile ids are plain columns, not foreign
// keys: the review outlives a merge that deletes one side.
type DuplicateCandidate struct{ ent.Schema }

// Mixin of the DuplicateCandidate.
func (DuplicateCandidate) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TenantMixin{}, TimeMixin{}}
}

// Fields of the DuplicateCandidate.
func (DuplicateCandidate) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("customer_a_id", uuid.UUID{}).Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.UUID("customer_b_id", uuid.UUID{}).Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("reason").Values("CONFLICTING_KEYS", "NAME_AND_EMAIL_DOMAIN").
			Annotations(entgql.Type("DuplicateReason")),
		field.Int("confidence").Min(0).Max(100).
			Annotations(entgql.OrderField("CONFIDENCE")),
		field.JSON("evidence", []schematype.Evidence{}).Optional(),
		field.Enum("status").Values("OPEN", "MERGED", "DISMISSED").Default("OPEN").
			Annotations(entgql.Type("DuplicateStatus")),
		field.Time("resolved_at").Optional().Nillable(),
		field.String("resolved_by").Optional().Nillable().MaxLen(255),
	}
}

// Indexes of the DuplicateCandidate.
func (DuplicateCandidate) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "customer_a_id", "customer_b_id").Unique(),
		index.Fields("tenant_id", "status", "created_at"),
		index.Fields("customer_b_id"),
	}
}

// Annotations of the DuplicateCandidate.
func (DuplicateCandidate) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
