package segment

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/segmentmembership"
)

// ProfilesGone settles the memberships of profiles that are being deleted
// or merged away, in the caller's transaction (memberships carry no foreign
// key to cascade). With a survivor, their STATIC memberships move to it
// where it is not a member yet (a merged profile's place on the board list
// is the person's); every other membership of theirs ends. Member counts
// follow, and each segment's change is produced as
// crm.segment.membership.changed. The survivor's rule memberships are
// re-decided by the follow-up of its change.
func ProfilesGone(ctx context.Context, tx *ent.Tx, dialectName string, ids []uuid.UUID, survivor *uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	// Memberships are found through the (segment, customer) index, one
	// probe per segment of the organization and profile: memberships have
	// no customer index, which would slow every fill of a large segment.
	segIDs, err := tx.Segment.Query().IDs(ctx)
	if err != nil || len(segIDs) == 0 {
		return err
	}
	theirs := segmentmembership.And(segmentmembership.SegmentIDIn(segIDs...), segmentmembership.CustomerIDIn(ids...))
	ms, err := tx.SegmentMembership.Query().Where(theirs).All(ctx)
	if err != nil || len(ms) == 0 {
		return err
	}
	s := &Service{dialect: dialectName, now: func() time.Time { return time.Now().UTC() }, eventChunk: defaultEventChunk}
	now := s.now()
	bySegment := map[uuid.UUID][]*ent.SegmentMembership{}
	var order []uuid.UUID
	for _, m := range ms {
		if _, ok := bySegment[m.SegmentID]; !ok {
			order = append(order, m.SegmentID)
		}
		bySegment[m.SegmentID] = append(bySegment[m.SegmentID], m)
	}
	if _, err := tx.SegmentMembership.Delete().Where(theirs).Exec(ctx); err != nil {
		return err
	}
	for _, segID := range order {
		seg, err := s.lock(ctx, tx, segID)
		if ent.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		ch := Change{SegmentID: seg.ID, Name: seg.Name}
		manual := false
		for _, m := range bySegment[segID] {
			ch.Removed = append(ch.Removed, m.CustomerID)
			manual = manual || m.Source == segmentmembership.SourceMANUAL
		}
		if survivor != nil && manual {
			has, err := tx.SegmentMembership.Query().Where(segmentmembership.SegmentID(segID), segmentmembership.CustomerID(*survivor)).Exist(ctx)
			if err != nil {
				return err
			}
			if !has {
				if err := tx.SegmentMembership.Create().SetSegmentID(segID).SetCustomerID(*survivor).
					SetSource(segmentmembership.SourceMANUAL).SetAddedAt(now).Exec(ctx); err != nil {
					return err
				}
				ch.Added = []uuid.UUID{*survivor}
			}
		}
		if err := s.recordChange(ctx, tx, seg, &ch, false, now); err != nil {
			return err
		}
	}
	return nil
}
