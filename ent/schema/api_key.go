package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// ApiKey is an organization's key for machine callers (upstream services
// posting events, integrations). Only a SHA-256 of the key is stored.
//
// A request presenting a key does not know its tenant until the key is found,
// so the table names its tenant column organization_id and stays outside the
// tenant row-level security policies; the lookup is by the key's public
// prefix and the hash comparison needs the secret.
type ApiKey struct{ ent.Schema }

// Mixin of the ApiKey.
func (ApiKey) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the ApiKey.
func (ApiKey) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("organization_id", uuid.UUID{}).Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("name").NotEmpty().MaxLen(200),
		field.String("prefix").NotEmpty().MaxLen(16).Immutable().
			Comment("public part of the key, shown in lists"),
		field.Bytes("hash").Immutable().Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("role").NotEmpty().MaxLen(50),
		field.String("created_by").Default("").MaxLen(255).Immutable(),
		field.Time("created_at").Default(nowUTC).Immutable(),
		field.Time("expires_at").Optional().Nillable(),
		field.Time("last_used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

// Indexes of the ApiKey.
func (ApiKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("prefix").Unique(),
		index.Fields("organization_id", "created_at"),
	}
}

// Annotations of the ApiKey.
func (ApiKey) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Type("ApiKey"),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
