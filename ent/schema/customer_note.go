package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// CustomerNote is a staff note on a profile.
type CustomerNote struct{ ent.Schema }

// Mixin of the CustomerNote.
func (CustomerNote) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TenantMixin{}, TimeMixin{}}
}

// Fields of the CustomerNote.
func (CustomerNote) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("customer_id", uuid.UUID{}).Immutable(),
		field.String("author_id").NotEmpty().MaxLen(255).Immutable(),
		field.Text("body").NotEmpty().MaxLen(20000),
		field.Bool("pinned").Default(false).
			Annotations(entgql.OrderField("PINNED")),
	}
}

// Edges of the CustomerNote.
func (CustomerNote) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("customer", CustomerProfile.Type).Ref("notes").
			Field("customer_id").Unique().Required().Immutable(),
	}
}

// Indexes of the CustomerNote.
func (CustomerNote) Indexes() []ent.Index {
	return []ent.Index{index.Fields("customer_id", "created_at")}
}

// Annotations of the CustomerNote.
func (CustomerNote) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.MultiOrder(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
