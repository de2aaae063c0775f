package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/rapportcrm/rapport/ent/schematype"
)

// Segment is a named group of customers (spec §8): STATIC (members added by
// hand), DYNAMIC (a rule tree over profile fields and behaviour, compiled to
// SQL) or SMART (a model's rule tree, e.g. likely to churn in 30 days).
type Segment struct{ ent.Schema }

// Mixin of the Segment.
func (Segment) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TenantMixin{}, TimeMixin{}}
}

// Fields of the Segment.
func (Segment) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("description").Optional().Nillable().MaxLen(2000),
		field.Enum("type").Values("STATIC", "DYNAMIC", "SMART").
			Annotations(entgql.Type("SegmentType")),
		field.Enum("model").Values("LIKELY_TO_CHURN_30D").Optional().Nillable().
			Annotations(entgql.Type("SmartSegmentModel")),
		// rules is the root group of the rule tree; read through the
		// segment's combinator and rules fields.
		field.JSON("rules", &schematype.Rule{}).Optional().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("active").Default(true).
			Comment("inactive segments are not refreshed"),
		field.Int("member_count").Default(0).NonNegative().
			Annotations(entgql.OrderField("MEMBER_COUNT")),
		field.Time("last_refreshed_at").Optional().Nillable(),
		field.Int("last_refresh_ms").Optional().Nillable().
			Comment("how long the last refresh took"),
		field.Time("messaging_synced_at").Optional().Nillable(),
		field.String("created_by").Default("").MaxLen(255).Immutable(),
	}
}

// Indexes of the Segment.
func (Segment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "name").Unique(),
	}
}

// Annotations of the Segment.
func (Segment) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
