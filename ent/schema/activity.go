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

// ActivityTypes are the kinds of timeline entries (spec §6): one per consumed
// event, the CRM's own events, and the interactions staff log by hand.
var ActivityTypes = []string{
	// SCL
	"MEMBER_CREATED", "MEMBER_UPDATED", "TIER_CHANGED", "PAYMENT_RECEIVED",
	// TeeTime
	"PLAYER_CREATED", "TEETIME_BOOKED", "TEETIME_COMPLETED", "HANDICAP_UPDATED",
	"COMPETITION_ENTERED",
	// Messaging
	"MESSAGE_SENT", "MESSAGE_DELIVERED", "EMAIL_OPENED", "EMAIL_CLICKED",
	"CONTACT_PREFERENCE_UPDATED",
	// CRM
	"NOTE_ADDED", "TAG_CHANGED", "PROFILE_MERGED", "PROFILE_IMPORTED", "CAMPAIGN_SENT",
	// Interactions logged by staff
	"CALL", "EMAIL", "MEETING", "VISIT", "OTHER",
}

// ActivityCategories are the ten timeline categories of spec §6.
var ActivityCategories = []string{
	"MEMBERSHIP", "BOOKING", "COMMUNICATION", "ENGAGEMENT", "FINANCIAL",
	"GOLF", "MARKETING", "SUPPORT", "SOCIAL", "SYSTEM",
}

// Activity is one entry of a customer's timeline: something that happened,
// in any system, or an interaction staff logged.
type Activity struct{ ent.Schema }

// Mixin of the Activity.
func (Activity) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TenantMixin{}}
}

// Fields of the Activity.
func (Activity) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("customer_id", uuid.UUID{}),
		field.Enum("type").Values(ActivityTypes...).
			Annotations(entgql.Type("ActivityType")),
		field.Enum("category").Values(ActivityCategories...).
			Annotations(entgql.Type("ActivityCategory")),
		field.String("channel").Optional().Nillable().MaxLen(50).
			Comment("EMAIL, SMS, PUSH, PHONE, IN_PERSON, WEB, ..."),
		field.Enum("direction").Values("INBOUND", "OUTBOUND").Optional().Nillable().
			Annotations(entgql.Type("InteractionDirection")),
		field.String("title").NotEmpty().MaxLen(500),
		field.Text("description").Optional().Nillable().MaxLen(20000),
		field.JSON("metadata", map[string]any{}).Optional().
			Annotations(entgql.Type("Map")),
		field.String("source_service").NotEmpty().MaxLen(50).
			Comment("scl, teetime, messaging, crm or import"),
		field.String("source_id").Optional().Nillable().MaxLen(255).
			Comment("the originating record or event id"),
		field.String("staff_id").Optional().Nillable().MaxLen(255).
			Comment("who logged an interaction"),
		field.Time("occurred_at").
			Annotations(entgql.OrderField("OCCURRED_AT")),
		field.Time("created_at").Default(nowUTC).Immutable(),
	}
}

// Edges of the Activity.
func (Activity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("customer", CustomerProfile.Type).Ref("activities").
			Field("customer_id").Unique().Required(),
	}
}

// Indexes of the Activity.
func (Activity) Indexes() []ent.Index {
	return []ent.Index{
		// The timeline reads one customer's entries newest first with (time,
		// id) as the keyset.
		index.Fields("customer_id", "occurred_at", "id"),
		index.Fields("tenant_id", "type", "occurred_at"),
	}
}

// Annotations of the Activity.
func (Activity) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("activities"),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
