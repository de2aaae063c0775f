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

// MergeRecord is one merge of profiles into a survivor, with everything
// needed to explain it and to undo it.
type MergeRecord struct{ ent.Schema }

// Mixin of the MergeRecord.
func (MergeRecord) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TenantMixin{}, TimeMixin{}}
}

// Fields of the MergeRecord.
func (MergeRecord) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("survivor_id", uuid.UUID{}).Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.JSON("merged_ids", []uuid.UUID{}).Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.JSON("snapshot", schematype.MergeSnapshot{}).Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("status").Values("MERGED", "UNMERGED").Default("MERGED").
			Annotations(entgql.Type("MergeStatus")),
		field.String("merged_by").Default("").MaxLen(255).Immutable(),
		field.Time("unmerged_at").Optional().Nillable(),
		field.String("unmerged_by").Optional().Nillable().MaxLen(255),
	}
}

// Indexes of the MergeRecord.
func (MergeRecord) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "survivor_id"),
		index.Fields("tenant_id", "created_at"),
	}
}

// Annotations of the MergeRecord.
func (MergeRecord) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
