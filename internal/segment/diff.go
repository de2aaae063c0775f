package segment

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/segment"
	"github.com/rapportcrm/rapport/ent/segmentmembership"
	"github.com/rapportcrm/rapport/internal/dbrow"
	"github.com/rapportcrm/rapport/internal/outbox"
)

// Change is what one refresh or re-evaluation did to a segment.
type Change struct {
	SegmentID uuid.UUID
	Name      string
	// Added and Removed are the ids that joined and left: all of them,
	// except after a full refresh on PostgreSQL, which returns the first
	// liveIDs of each (its events, written by the database, carry every id).
	Added   []uuid.UUID
	Removed []uuid.UUID
	// AddedCount and RemovedCount are always complete.
	AddedCount   int
	RemovedCount int
	MemberCount  int
}

// Empty reports whether nothing changed.
func (c Change) Empty() bool { return c.AddedCount == 0 && c.RemovedCount == 0 }

// EventMembershipChanged is produced for every change of a membership.
const EventMembershipChanged = "crm.segment.membership.changed"

// defaultEventChunk bounds the ids one produced event carries; a large
// change is sent as several parts.
const defaultEventChunk = 5000

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
		return ch, nil
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

// diffPostgres is the full diff as one PostgreSQL statement, events
// included.
//
// The matching profiles are found once (a materialized CTE) and one full
// join with the current members gives both the joining profiles and the
// leaving members, so a refresh reads the profiles and the members once each
// (measured on a 57,685-member no-op refresh: 173–200 ms, against 257–340 ms
// with an anti-join each way). A segment with no members skips the join: all
// that matches joins. New members are inserted in id order, so the
// (segment, customer) index grows at its right edge instead of at random
// pages (measured: 15% faster on a 58,000-member fill). There is no ON
// CONFLICT clause: whatever adds members to a segment holds its lock (lock),
// as the caller does here, so the statement has seen every member, and a
// speculative insertion per row cost a third of a 1M-member fill (measured:
// 12.6 s with it, 7.7 s without). Should a member appear anyway, the unique
// index fails the refresh, which is safe to run again.
//
// The crm.segment.membership.changed events are built and written to the
// outbox by the same statement (membershipEventsSQL), so the changed ids
// never travel to Go and back: only the counts and the first liveIDs of
// each list do. Measured on a 1,000,000-member fill of 9.7 s, writing the
// events from Go took 3.7 s, after the statement had returned every id.
func (s *Service) diffPostgres(ctx context.Context, tx *ent.Tx, seg *ent.Segment, match []any, now time.Time, ch *Change) error {
	empty, err := s.noMembers(ctx, tx, seg.ID)
	if err != nil {
		return err
	}
	insert := []any{`INSERT INTO segment_memberships (tenant_id, segment_id, customer_id, source, added_at) SELECT `,
		arg(seg.TenantID), ", ", arg(seg.ID)}
	var parts []any
	if empty {
		parts = append(parts, `WITH ins AS (`)
		parts = append(parts, insert...)
		parts = append(parts, `, p."id", 'RULE', `, arg(now), ` FROM customer_profiles p WHERE `)
		parts = append(parts, match...)
		parts = append(parts, ` ORDER BY p."id" RETURNING customer_id),`,
			` ch AS MATERIALIZED (SELECT true AS added, customer_id FROM ins),`)
	} else {
		parts = append(parts, `WITH m AS MATERIALIZED (SELECT p."id" FROM customer_profiles p WHERE `)
		parts = append(parts, match...)
		parts = append(parts, `), d AS MATERIALIZED (SELECT m."id" AS joining, sm.customer_id AS leaving FROM m`,
			` FULL JOIN (SELECT customer_id FROM segment_memberships WHERE segment_id = `, arg(seg.ID), `) AS sm ON sm.customer_id = m."id"`,
			` WHERE m."id" IS NULL OR sm.customer_id IS NULL),`,
			` ins AS (`)
		parts = append(parts, insert...)
		parts = append(parts, `, joining, 'RULE', `, arg(now), ` FROM d WHERE joining IS NOT NULL ORDER BY joining RETURNING customer_id),`,
			` del AS (DELETE FROM segment_memberships sm USING d WHERE sm.segment_id = `, arg(seg.ID),
			` AND sm.customer_id = d.leaving RETURNING sm.customer_id),`,
			` ch AS MATERIALIZED (SELECT true AS added, customer_id FROM ins UNION ALL SELECT false, customer_id FROM del),`)
	}
	if err := s.changeByStatement(ctx, tx, seg, parts, now, ch); err != nil {
		return err
	}
	return s.updateCount(ctx, tx, seg, ch, true, now)
}

// changeByStatement completes a statement whose WITH list (parts) ends with
// the CTE ch (added, customer_id) of every change: it writes the change's
// membership events in the same statement and sets ch's counts and first
// ids from what it returns.
func (s *Service) changeByStatement(ctx context.Context, tx *ent.Tx, seg *ent.Segment, parts []any, now time.Time, ch *Change) error {
	events, err := s.membershipEventsSQL(seg, now)
	if err != nil {
		return err
	}
	parts = append(parts, events...)
	live := rawText(fmt.Sprint(liveIDs))
	parts = append(parts, ` SELECT n.a, n.r, (SELECT count(*) FROM ev),`,
		` COALESCE(n.ai[1:`, live, `], '{}')::text[], COALESCE(n.ri[1:`, live, `], '{}')::text[] FROM n`)
	q, args := statement(s.dialect, parts...)
	var added, removed []string
	var nAdded, nRemoved, nEvents int
	if err := dbrow.Scan(ctx, tx, q, args, &nAdded, &nRemoved, &nEvents, pq.Array(&added), pq.Array(&removed)); err != nil {
		return err
	}
	if want := (nAdded + nRemoved + s.eventChunk - 1) / s.eventChunk; nEvents != want {
		return fmt.Errorf("wrote %d membership events for %d changes, want %d", nEvents, nAdded+nRemoved, want)
	}
	ch.AddedCount, ch.RemovedCount = nAdded, nRemoved
	if ch.Added, err = parseIDs(added); err != nil {
		return err
	}
	ch.Removed, err = parseIDs(removed)
	return err
}

// removeAll removes every member of a segment that is being deleted and
// produces the membership events of their leaving, in tx, so consumers that
// mirror the membership (the Messaging sync) drop them too.
func (s *Service) removeAll(ctx context.Context, tx *ent.Tx, seg *ent.Segment, now time.Time) (Change, error) {
	ch := Change{SegmentID: seg.ID, Name: seg.Name}
	if s.dialect == dialect.Postgres {
		parts := []any{`WITH del AS (DELETE FROM segment_memberships WHERE segment_id = `, arg(seg.ID), ` RETURNING customer_id),`,
			` ch AS MATERIALIZED (SELECT false AS added, customer_id FROM del),`}
		if err := s.changeByStatement(ctx, tx, seg, parts, now, &ch); err != nil {
			return ch, fmt.Errorf("segment %s: remove members: %w", seg.ID, err)
		}
		return ch, nil
	}
	ids, err := tx.SegmentMembership.Query().Where(segmentmembership.SegmentID(seg.ID)).
		Order(ent.Asc(segmentmembership.FieldCustomerID)).Select(segmentmembership.FieldCustomerID).Strings(ctx)
	if err != nil {
		return ch, err
	}
	if ch.Removed, err = parseIDs(ids); err != nil {
		return ch, err
	}
	if _, err := tx.SegmentMembership.Delete().Where(segmentmembership.SegmentID(seg.ID)).Exec(ctx); err != nil {
		return ch, err
	}
	ch.RemovedCount = len(ch.Removed)
	if ch.Empty() {
		return ch, nil
	}
	_, err = outbox.WriteMany(ctx, tx, membershipEvents(seg, ch, now, s.eventChunk))
	return ch, err
}

// membershipEventsSQL continues diffPostgres's WITH list, after the CTE ch
// (added, customer_id) of every change: n counts the change and gathers
// its ids into two arrays, and ev inserts the
// crm.segment.membership.changed events into the outbox, eventChunk ids
// each, added ones first, with exactly the envelope and data
// membershipEvents gives the other paths (outbox.Envelope; a test compares
// the two). Part k takes its ids by position, as array slices, so nothing
// is sorted or grouped: measured on 1,000,000 ids, 0.51 s against 1.03 s
// with row_number and GROUP BY. The event ids share the first 12 bytes of
// one UUIDv7 made here and end with the part number, so they are unique and
// sort in part order.
func (s *Service) membershipEventsSQL(seg *ent.Segment, now time.Time) ([]any, error) {
	base, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	chunk := rawText(fmt.Sprint(s.eventChunk))
	return []any{
		` n AS (SELECT count(*) FILTER (WHERE added) AS a, count(*) FILTER (WHERE NOT added) AS r,`,
		` array_agg(customer_id) FILTER (WHERE added) AS ai, array_agg(customer_id) FILTER (WHERE NOT added) AS ri FROM ch),`,
		` parts AS (SELECT encode(substring(uuid_send(`, arg(base), `::uuid) FROM 1 FOR 12) || int4send(k::int), 'hex')::uuid AS id,`,
		` jsonb_build_object('segmentId', `, arg(seg.ID), `::uuid, 'segmentName', `, arg(seg.Name), `::text,`,
		` 'added', COALESCE(to_jsonb(ai[k * `, chunk, ` + 1 : LEAST((k + 1) * `, chunk, `, a)]), '[]'::jsonb),`,
		` 'removed', COALESCE(to_jsonb(ri[GREATEST(k * `, chunk, ` - a, 0) + 1 : (k + 1) * `, chunk, ` - a]), '[]'::jsonb),`,
		` 'addedCount', a, 'removedCount', r, 'memberCount', `, arg(int64(seg.MemberCount)), `::bigint + a - r,`,
		` 'part', k + 1, 'parts', (a + r + `, chunk, ` - 1) / `, chunk, `) AS data`,
		` FROM n, generate_series(0, (n.a + n.r + `, chunk, ` - 1) / `, chunk, ` - 1) AS k),`,
		` ev AS (INSERT INTO outbox_events (id, organization_id, type, payload, created_at, attempts) SELECT id, `,
		arg(seg.TenantID), `, '`, rawText(EventMembershipChanged), `', jsonb_build_object('id', id, 'type', '`, rawText(EventMembershipChanged),
		`', 'source', '`, rawText(outbox.Source), `', 'tenant', `, arg(seg.TenantID.String()), `::text, 'occurredAt', `,
		arg(now.UTC().Format(time.RFC3339Nano)), `::text, 'data', data), `, arg(now), `, 0 FROM parts RETURNING 1)`,
	}, nil
}

// noMembers reports whether a segment has no members at all.
func (s *Service) noMembers(ctx context.Context, tx *ent.Tx, id uuid.UUID) (bool, error) {
	has, err := tx.SegmentMembership.Query().Where(segmentmembership.SegmentID(id)).Exist(ctx)
	return !has, err
}

func parseIDs(strs []string) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, len(strs))
	for i, v := range strs {
		id, err := uuid.Parse(v)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
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
// ran) and produces the membership events, in tx. Added and Removed must
// hold every changed id.
func (s *Service) recordChange(ctx context.Context, tx *ent.Tx, seg *ent.Segment, ch *Change, full bool, now time.Time) error {
	ch.AddedCount, ch.RemovedCount = len(ch.Added), len(ch.Removed)
	if err := s.updateCount(ctx, tx, seg, ch, full, now); err != nil {
		return err
	}
	if ch.Empty() {
		return nil
	}
	_, err := outbox.WriteMany(ctx, tx, membershipEvents(seg, *ch, now, s.eventChunk))
	return err
}

// updateCount applies the change to the segment's member count (and, for a
// full refresh, records when it ran) and sets ch.MemberCount.
func (s *Service) updateCount(ctx context.Context, tx *ent.Tx, seg *ent.Segment, ch *Change, full bool, now time.Time) error {
	parts := []any{"UPDATE segments SET member_count = member_count + ", arg(int64(ch.AddedCount - ch.RemovedCount))}
	if full {
		parts = append(parts, ", last_refreshed_at = ", arg(now), ", last_refresh_ms = ", arg(int64(s.now().Sub(now)/time.Millisecond)))
	}
	parts = append(parts, " WHERE id = ", arg(seg.ID), " RETURNING member_count")
	q, args := statement(s.dialect, parts...)
	if err := dbrow.Scan(ctx, tx, q, args, &ch.MemberCount); err != nil {
		return fmt.Errorf("segment %s: count: %w", seg.ID, err)
	}
	return nil
}

// membershipEvents splits a change into crm.segment.membership.changed
// events of at most chunk ids each, numbered part 1…parts.
func membershipEvents(seg *ent.Segment, ch Change, now time.Time, chunk int) []outbox.Draft {
	total := len(ch.Added) + len(ch.Removed)
	parts := (total + chunk - 1) / chunk
	var drafts []outbox.Draft
	added, removed := ch.Added, ch.Removed
	for part := 1; part <= parts; part++ {
		room := chunk
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
