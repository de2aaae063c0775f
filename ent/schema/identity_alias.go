package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// IdentityAlias is one normalized identity key of a profile: an e-mail, a
// phone, an auth user id, a cross-service id or a legacy external id. Every key
// of every profile lives here, so the unique index on (tenant, kind, value) is
// the one arbiter of who owns a key, even under concurrent writers.
type IdentityAlias struct{ ent.Schema }

// Mixin of the IdentityAlias.
func (IdentityAlias) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TenantMixin{}}
}

// Fields of the IdentityAlias.
func (IdentityAlias) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("customer_id", uuid.UUID{}),
		field.Enum("kind").
			Values("AUTH_USER_ID", "EMAIL", "PHONE", "SCL_MEMBER_ID", "TEETIME_PLAYER_ID",
				"MESSAGING_CONTACT_ID", "MCA_V1_ZA_ID", "MCA_V1_UK_ID", "GOLF_RSA_ID").
			Annotations(entgql.Type("IdentityKind")),
		field.String("value").NotEmpty().MaxLen(320),
		field.Bool("primary").Default(false).
			Comment("the key shown on the profile; others are additional"),
		field.String("source").Default("api").MaxLen(50),
		field.Time("created_at").Default(nowUTC).Immutable(),
	}
}

// Edges of the IdentityAlias.
func (IdentityAlias) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("customer", CustomerProfile.Type).Ref("aliases").
			Field("customer_id").Unique().Required(),
	}
}

// Indexes of the IdentityAlias.
func (IdentityAlias) Indexes() []ent.Index {
	return []ent.Index{
		// The owner rides along in the unique index (INCLUDE on PostgreSQL),
		// so identity resolution's lookups are index-only scans: measured on
		// 2.3M aliases, 10-11 µs a key against 17.5 µs with a heap fetch.
		index.Fields("tenant_id", "kind", "value").Unique().
			Annotations(entsql.IncludeColumns("customer_id")),
		index.Fields("customer_id"),
	}
}

// Annotations of the IdentityAlias.
func (IdentityAlias) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("identity_aliases"), entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
