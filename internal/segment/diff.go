package segment

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/segment"
	"github.com/rapportcrm/rapport/internal/outbox"
)

// Change is what one refresh or re-evaluation did to a segment.
type Change struct {
	SegmentID   uuid.UUID
	Name        string
	Added       []uuid.UUID
	Removed     []uuid.UUID
	MemberCount int
}

// Empty reports whether nothing changed.
func (c Change) Empty() bool { return len(c.Added) == 0 && len(c.Removed) == 0 }

// EventMembershipChanged is produced for every change of a membership.
const EventMembershipChanged = "crm.segment.membership.changed"

// eventChunk bounds the ids one produced event carries; a large change is
// sent as several parts.
const eventChunk = 5000

// diff brings a rule segment's stored membership in line with its rules, in
// tx: one INSERT … SELECT of the matching profiles that are not members and
// one DELETE of the members that no longer match, both set-based. With
// only, it looks at those profiles alone (real-time re-evaluation).
func (s *Service) diff(ctx context.Context, tx *ent.Tx, seg *ent.Segment, rules *Rules, only []uuid.UUID, now time.Time) (Change, error) {
	ch := Change{SegmentID: seg.ID, Name: seg.Name}
	match := []any{`p."tenant_id" = `, arg(seg.TenantID), " AND "}
	if only != nil {
		match = append(match, idsIn(s.dialect, `p."id"`, only), " AND ")
	}
	match = append(match, "(", rules.Predicate(profileCol), ")")

	if only == nil && s.dialect == dialect.Postgres {
		if err := s.diffPostgres(ctx, tx, seg, match, now, &ch); err != nil {
			return ch, fmt.Errorf("segment %s: refresh: %w", seg.ID, err)
		}
		return ch, s.recordChange(ctx, tx, seg, &ch, true, now)
	}
	ins := []any{`INSERT INTO segment_memberships (tenant_id, segment_id, customer_id, source, added_at) SELECT `,
		arg(seg.TenantID), ", ", arg(seg.ID), `, p."id", 'RULE', `, arg(now), " FROM customer_profiles p WHERE "}
	ins = append(ins, match...)
	ins = append(ins, " AND NOT EXISTS (SELECT 1 FROM segment_memberships sm WHERE sm.segment_id = ", arg(seg.ID),
		` AND sm.customer_id = p."id") ON CONFLICT (segment_id, customer_id) DO NOTHING RETURNING customer_id`)
	var err error
	if ch.Added, err = s.returningIDs(ctx, tx, ins); err != nil {
		return ch, fmt.Errorf("segment %s: add members: %w", seg.ID, err)
	}

	del := []any{"DELETE FROM segment_memberships WHERE segment_id = ", arg(seg.ID)}
	if only != nil {
		del = append(del, " AND ", idsIn(s.dialect, "segment_memberships.customer_id", only))
	}
	del = append(del, ` AND NOT EXISTS (SELECT 1 FROM customer_profiles p WHERE p."id" = segment_memberships.customer_id AND `)
	del = append(del, match...)
	del = append(del, ") RETURNING customer_id")
	if ch.Removed, err = s.returningIDs(ctx, tx, del); err != nil {
		return ch, fmt.Errorf("segment %s: remove members: %w", seg.ID, err)
	}
	return ch, s.recordChange(ctx, tx, seg, &ch, only == nil, now)
}

// diffPostgres is the full diff as one PostgreSQL statement: the matching
// profiles are found once (a materialized CTE) and one full join with the
// current members gives both the joining profiles and the leaving members,
// so a refresh reads the profiles and the members once each (measured on a
// 57,685-member no-op refresh: 173–200 ms, against 257–340 ms with an
// anti-join each way). New members are inserted in id
// order, so the (segment, customer) index grows at its right edge instead of
// at random pages (measured: 15% faster on a 58,000-member fill). There is
// no ON CONFLICT clause: whatever adds members to a segment holds its lock
// (lock), as the caller does here, so the join has seen every member, and
// a speculative insertion per row cost a third of a 1M-member fill
// (measured: 12.6 s with it, 7.7 s without). Should a member appear anyway,
// the unique index fails the refresh, which is safe to run again.
func (s *Service) diffPostgres(ctx context.Context, tx *ent.Tx, seg *ent.Segment, match []any, now time.Time, ch *Change) error {
	parts := []any{`WITH m AS MATERIALIZED (SELECT p."id" FROM customer_profiles p WHERE `}
	parts = append(parts, match...)
	parts = append(parts, `), d AS MATERIALIZED (SELECT m."id" AS joining, sm.customer_id AS leaving FROM m`,
		` FULL JOIN (SELECT customer_id FROM segment_memberships WHERE segment_id = `, arg(seg.ID), `) AS sm ON sm.customer_id = m."id"`,
		` WHERE m."id" IS NULL OR sm.customer_id IS NULL),`,
		` ins AS (INSERT INTO segment_memberships (tenant_id, segment_id, customer_id, source, added_at) SELECT `,
		arg(seg.TenantID), ", ", arg(seg.ID), `, joining, 'RULE', `, arg(now),
		` FROM d WHERE joining IS NOT NULL ORDER BY joining RETURNING customer_id),`,
		` del AS (DELETE FROM segment_memberships sm USING d WHERE sm.segment_id = `, arg(seg.ID),
		` AND sm.customer_id = d.leaving RETURNING sm.customer_id)`,
		` SELECT true, customer_id FROM ins UNION ALL SELECT false, customer_id FROM del`)
	q, args := statement(s.dialect, parts...)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var added bool
		var id uuid.UUID
		if err := rows.Scan(&added, &id); err != nil {
			return err
		}
		if added {
			ch.Added = append(ch.Added, id)
		} else {
			ch.Removed = append(ch.Removed, id)
		}
	}
	return rows.Err()
}

// returningIDs runs a statement that returns customer ids.
func (s *Service) returningIDs(ctx context.Context, tx *ent.Tx, parts []any) ([]uuid.UUID, error) {
	q, args := statement(s.dialect, parts...)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// recordChange updates the segment's count (and, for a full refresh, when it
// ran) and produces the membership events, in tx.
func (s *Service) recordChange(ctx context.Context, tx *ent.Tx, seg *ent.Segment, ch *Change, full bool, now time.Time) error {
	delta := len(ch.Added) - len(ch.Removed)
	parts := []any{"UPDATE segments SET member_count = member_count + ", arg(int64(delta))}
	if full {
		parts = append(parts, ", last_refreshed_at = ", arg(now), ", last_refresh_ms = ", arg(int64(s.now().Sub(now)/time.Millisecond)))
	}
	parts = append(parts, " WHERE id = ", arg(seg.ID), " RETURNING member_count")
	q, args := statement(s.dialect, parts...)
	count, err := scanInt(ctx, tx, q, args)
	if err != nil {
		return fmt.Errorf("segment %s: count: %w", seg.ID, err)
	}
	ch.MemberCount = int(count)
	if ch.Empty() {
		return nil
	}
	drafts := membershipEvents(seg, *ch, now)
	if _, err := outbox.WriteMany(ctx, tx, drafts); err != nil {
		return err
	}
	return nil
}

// membershipEvents splits a change into crm.segment.membership.changed
// events of at most eventChunk ids each, numbered part 1…parts.
func membershipEvents(seg *ent.Segment, ch Change, now time.Time) []outbox.Draft {
	total := len(ch.Added) + len(ch.Removed)
	parts := (total + eventChunk - 1) / eventChunk
	var drafts []outbox.Draft
	added, removed := ch.Added, ch.Removed
	for part := 1; part <= parts; part++ {
		room := eventChunk
		a := added[:min(room, len(added))]
		added = added[len(a):]
		room -= len(a)
		r := removed[:min(room, len(removed))]
		removed = removed[len(r):]
		drafts = append(drafts, outbox.Draft{OrgID: seg.TenantID, Type: EventMembershipChanged, OccurredAt: now, Data: map[string]any{
			"segmentId": seg.ID, "segmentName": seg.Name, "added": nonNil(a), "removed": nonNil(r),
			"addedCount": len(ch.Added), "removedCount": len(ch.Removed), "memberCount": ch.MemberCount,
			"part": part, "parts": parts,
		}})
	}
	return drafts
}

func nonNil(ids []uuid.UUID) []uuid.UUID {
	if ids == nil {
		return []uuid.UUID{}
	}
	return ids
}

// lock takes the segment's row lock on PostgreSQL so a refresh and a
// real-time re-evaluation of one segment never interleave (SQLite
// serializes writers anyway). It returns the current row.
func (s *Service) lock(ctx context.Context, tx *ent.Tx, id uuid.UUID) (*ent.Segment, error) {
	q := tx.Segment.Query().Where(segment.ID(id))
	if s.dialect == dialect.Postgres {
		q.ForUpdate()
	}
	return q.Only(ctx)
}

// scanInt runs a query returning one integer.
func scanInt(ctx context.Context, tx *ent.Tx, q string, args []any) (int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, err
		}
		return 0, sql.ErrNoRows
	}
	var n int64
	if err := rows.Scan(&n); err != nil {
		return 0, err
	}
	return n, rows.Close()
}
