package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ScoreRun is one full recompute of an organization's scores: when it ran,
// what it changed, and the club-wide reference figures it measured, which
// incremental recomputes between nightly runs reuse so that one profile is
// scored exactly as the nightly run would score it.
type ScoreRun struct{ ent.Schema }

// Mixin of the ScoreRun.
func (ScoreRun) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TenantMixin{}}
}

// Fields of the ScoreRun.
func (ScoreRun) Fields() []ent.Field {
	return []ent.Field{
		field.Time("started_at").Immutable().
			Annotations(entgql.OrderField("STARTED_AT")),
		field.Time("finished_at").Immutable(),
		field.Enum("trigger").Values("SCHEDULE", "MANUAL").Immutable().
			Annotations(entgql.Type("ScoreRunTrigger")),
		field.Int("profiles").NonNegative().Immutable().
			Comment("profiles scored"),
		field.Int("changed").NonNegative().Immutable().
			Comment("profiles whose scores changed"),
		field.Int("high_churn_crossings").NonNegative().Immutable().
			Comment("profiles whose churn risk rose above 80 (crm.churn.risk.high produced)"),
		field.Int64("ltv_reference_cents").Immutable().
			Comment("the 90th percentile of lifetime value among paying profiles: monetary 1.0"),
	}
}

// Indexes of the ScoreRun.
func (ScoreRun) Indexes() []ent.Index {
	return []ent.Index{index.Fields("tenant_id", "started_at")}
}

// Annotations of the ScoreRun.
func (ScoreRun) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
