package segment

import (
	"context"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/outbox"
)

// EventMembershipSynced carries a segment's whole membership to the
// Messaging service, which keeps contact membership only (spec §8).
const EventMembershipSynced = "crm.segment.membership.synced"

// SyncResult is what a sync handed over.
type SyncResult struct {
	Segment *ent.Segment
	// Contacts are members with a Messaging contact id; Skipped those without.
	Contacts, Skipped int
}

// SyncToMessaging produces the segment's membership as Messaging contact
// ids (crm.segment.membership.synced, in parts of at most eventChunk
// contacts, each with the total so Messaging knows when it has them all),
// read set-based in the same transaction that records the sync time.
func (s *Service) SyncToMessaging(ctx context.Context, id uuid.UUID) (SyncResult, error) {
	var res SyncResult
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		seg, err := s.get(ctx, tx, id)
		if err != nil {
			return err
		}
		q, args := statement(s.dialect, `SELECT p."messaging_contact_id" FROM segment_memberships sm JOIN customer_profiles p ON p."id" = sm.customer_id WHERE sm.segment_id = `,
			arg(seg.ID), ` ORDER BY p."messaging_contact_id"`)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		var contacts []string
		for rows.Next() {
			var c *string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return err
			}
			if c == nil || *c == "" {
				res.Skipped++
				continue
			}
			contacts = append(contacts, *c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		res.Contacts = len(contacts)
		now := s.now()
		parts := max(1, (len(contacts)+s.eventChunk-1)/s.eventChunk)
		drafts := make([]outbox.Draft, 0, parts)
		for part := 1; part <= parts; part++ {
			chunk := contacts[min((part-1)*s.eventChunk, len(contacts)):min(part*s.eventChunk, len(contacts))]
			if chunk == nil {
				chunk = []string{}
			}
			drafts = append(drafts, outbox.Draft{OrgID: seg.TenantID, Type: EventMembershipSynced, OccurredAt: now, Data: map[string]any{
				"segmentId": seg.ID, "segmentName": seg.Name, "syncedAt": now, "contacts": chunk,
				"total": len(contacts), "part": part, "parts": parts,
			}})
		}
		if _, err := outbox.WriteMany(ctx, tx, drafts); err != nil {
			return err
		}
		res.Segment, err = tx.Segment.UpdateOne(seg).SetMessagingSyncedAt(now).Save(ctx)
		return err
	})
	return res, err
}
