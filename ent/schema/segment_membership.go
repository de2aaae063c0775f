package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// SegmentMembership says a customer is in a segment. Refreshes write these
// rows set-based (INSERT … SELECT, DELETE … WHERE NOT), so the key is a
// database-generated integer rather than an id made in Go. The segment and
// customer ids are plain columns, not foreign keys: a foreign key checks
// every inserted row one by one (measured: filling a 1,000,000-member
// segment took minutes), and the segment package deletes memberships with
// their segment or profile itself.
type SegmentMembership struct{ ent.Schema }

// Mixin of the SegmentMembership.
func (SegmentMembership) Mixin() []ent.Mixin {
	return []ent.Mixin{TenantMixin{}}
}

// Fields of the SegmentMembership.
func (SegmentMembership) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.UUID("segment_id", uuid.UUID{}).Immutable(),
		field.UUID("customer_id", uuid.UUID{}).Immutable(),
		field.Enum("source").Values("RULE", "MANUAL").Default("RULE").Immutable(),
		field.Time("added_at").Default(nowUTC).Immutable(),
	}
}

// Indexes of the SegmentMembership.
func (SegmentMembership) Indexes() []ent.Index {
	return []ent.Index{
		// One membership per customer and segment; the refresh diff and
		// members pages read it in this order, and customer.segments probes
		// it once per segment of the organization. There is deliberately no
		// customer index: it cost every fill of a large segment about a
		// fifth of its time.
		index.Fields("segment_id", "customer_id").Unique(),
	}
}

// Annotations of the SegmentMembership.
func (SegmentMembership) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
