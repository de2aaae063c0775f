package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Organization is a tenant: one club or business and everything it owns.
type Organization struct{ ent.Schema }

// Mixin of the Organization.
func (Organization) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the Organization.
func (Organization) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200),
		field.String("slug").NotEmpty().MaxLen(63).Unique().Immutable(),
		field.Enum("plan_tier").Values("free", "basic", "pro", "enterprise").Default("free").
			Annotations(entgql.Type("PlanTier")),
		field.JSON("settings", map[string]any{}).Optional().
			Annotations(entgql.Type("Map")),
		field.String("time_zone").Default("UTC").
			Comment("IANA time zone used for schedules and nightly jobs"),
		field.String("default_phone_region").Default("ZA").MaxLen(2).
			Comment("ISO 3166-1 alpha-2 region used to parse phone numbers without a country code"),
	}
}

// Edges of the Organization.
func (Organization) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("members", OrganizationMember.Type).
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations of the Organization.
func (Organization) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
