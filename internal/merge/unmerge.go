package merge

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqljson"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/customernote"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/duplicatecandidate"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/mergerecord"
	"github.com/rapportcrm/rapport/ent/predicate"
	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/outbox"
)

// Unmerge undoes a merge in one transaction and returns the record, the
// survivor and the restored profiles (in the record's order).
func (s *Service) Unmerge(ctx context.Context, recordID uuid.UUID) (*ent.MergeRecord, *ent.CustomerProfile, []*ent.CustomerProfile, error) {
	tid, err := tenantOf(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx = audit.WithAction(ctx, ActionUnmerged)
	actor := audit.ActorFrom(ctx)
	now := s.now()

	var (
		rec      *ent.MergeRecord
		survivor *ent.CustomerProfile
		restored []*ent.CustomerProfile
	)
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		// The record's row lock makes a concurrent second unmerge wait and
		// then find it UNMERGED.
		q := tx.MergeRecord.Query().Where(mergerecord.ID(recordID))
		if s.dialect == dialect.Postgres {
			q.ForUpdate()
		}
		r, err := q.Only(ctx)
		if ent.IsNotFound(err) {
			return apperr.New(apperr.NotFound, "merge %s not found", recordID)
		}
		if err != nil {
			return fmt.Errorf("read merge record: %w", err)
		}
		if r.Status != mergerecord.StatusMERGED {
			return apperr.New(apperr.Conflict, "merge %s is already unmerged", recordID)
		}
		profiles, err := s.lockProfiles(ctx, tx, []uuid.UUID{r.SurvivorID})
		if err != nil {
			return err
		}
		cur := profiles[r.SurvivorID]
		if cur == nil {
			return survivorGone(ctx, tx, r.SurvivorID)
		}
		if taken, err := tx.CustomerProfile.Query().Where(customerprofile.IDIn(r.MergedIds...)).IDs(ctx); err != nil {
			return err
		} else if len(taken) > 0 {
			return apperr.New(apperr.Conflict, "customer %s exists again; the merge cannot be undone", taken[0])
		}
		snap := r.Snapshot
		before, err := decodeProfile(snap.SurvivorBefore)
		if err != nil {
			return err
		}
		after, err := decodeProfile(snap.SurvivorAfter)
		if err != nil {
			return err
		}
		if err := checkAliasesFree(ctx, tx, snap.Merged); err != nil {
			return err
		}

		ids := make([]uuid.UUID, len(snap.Merged))
		merged := make([]*ent.CustomerProfile, len(snap.Merged))
		for i, mp := range snap.Merged {
			p, err := decodeProfile(mp.Profile)
			if err != nil {
				return err
			}
			ids[i], merged[i] = p.ID, p
			c, err := createFrom(tx.CustomerProfile.Create(), p)
			if err != nil {
				return err
			}
			if err := c.Exec(ctx); err != nil {
				return fmt.Errorf("restore customer %s: %w", p.ID, constraintConflict(err))
			}
			if err := restoreAliases(ctx, tx, p.ID, mp.Aliases); err != nil {
				return err
			}
			// Only entries still on the survivor come back: one deleted since
			// stays deleted.
			for _, chunk := range chunks(mp.ActivityIDs) {
				if err := tx.Activity.Update().
					Where(activity.IDIn(chunk...), activity.CustomerID(r.SurvivorID)).
					SetCustomerID(p.ID).Exec(ctx); err != nil {
					return fmt.Errorf("move activities back: %w", err)
				}
			}
			var notes []uuid.UUID
			for _, chunk := range chunks(mp.NoteIDs) {
				got, err := tx.CustomerNote.Query().
					Where(customernote.IDIn(chunk...), customernote.CustomerID(r.SurvivorID)).IDs(ctx)
				if err != nil {
					return fmt.Errorf("read notes: %w", err)
				}
				notes = append(notes, got...)
			}
			from := make(map[uuid.UUID]uuid.UUID, len(notes))
			for _, n := range notes {
				from[n] = r.SurvivorID
			}
			if err := s.moveNotes(ctx, tx, tid, notes, from, p.ID, ActionUnmerged); err != nil {
				return err
			}
		}

		u := tx.CustomerProfile.UpdateOneID(r.SurvivorID)
		if err := applyDiff(u.Mutation(), cur, restoreSurvivor(cur, before, after, merged)); err != nil {
			return err
		}
		if err := u.Exec(ctx); err != nil {
			return fmt.Errorf("restore survivor: %w", err)
		}
		if _, err := tx.Activity.Delete().Where(activity.ID(snap.ActivityID)).Exec(ctx); err != nil {
			return fmt.Errorf("delete merge activity: %w", err)
		}
		if len(snap.CandidateIDs) > 0 {
			if err := tx.DuplicateCandidate.Update().Where(
				duplicatecandidate.IDIn(snap.CandidateIDs...),
				duplicatecandidate.StatusEQ(duplicatecandidate.StatusMERGED),
			).SetStatus(duplicatecandidate.StatusOPEN).ClearResolvedAt().ClearResolvedBy().Exec(ctx); err != nil {
				return fmt.Errorf("reopen duplicate candidates: %w", err)
			}
		}
		rec, err = tx.MergeRecord.UpdateOne(r).SetStatus(mergerecord.StatusUNMERGED).
			SetUnmergedAt(now).SetUnmergedBy(actor.ID).Save(ctx)
		if err != nil {
			return fmt.Errorf("update merge record: %w", err)
		}
		var contacts []string
		for _, mp := range snap.Merged {
			for _, a := range mp.Aliases {
				if a.Kind == string(identityalias.KindMESSAGING_CONTACT_ID) {
					contacts = append(contacts, a.Value)
				}
			}
		}
		if _, err := outbox.Write(ctx, tx, tid, EventUnmerged, MergedEvent{
			MergeRecordID: r.ID, SurvivorID: r.SurvivorID, MergedIDs: r.MergedIds, MessagingContactIDs: contacts,
		}, now); err != nil {
			return err
		}
		if survivor, err = tx.CustomerProfile.Get(ctx, r.SurvivorID); err != nil {
			return err
		}
		got, err := tx.CustomerProfile.Query().Where(customerprofile.IDIn(ids...)).All(ctx)
		if err != nil {
			return err
		}
		byID := make(map[uuid.UUID]*ent.CustomerProfile, len(got))
		for _, p := range got {
			byID[p.ID] = p
		}
		restored = make([]*ent.CustomerProfile, len(ids))
		for i, id := range ids {
			restored[i] = byID[id]
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	notified := []uuid.UUID{survivor.ID}
	for _, p := range restored {
		notified = append(notified, p.ID)
	}
	s.notify(ctx, notified...)
	return rec, survivor, restored, nil
}

// survivorGone explains why a merge whose survivor is missing cannot be
// undone yet, naming the later merge that absorbed it when there is one.
func survivorGone(ctx context.Context, tx *ent.Tx, survivorID uuid.UUID) error {
	later, err := tx.MergeRecord.Query().Where(
		mergerecord.StatusEQ(mergerecord.StatusMERGED),
		func(s *sql.Selector) {
			s.Where(sqljson.ValueContains(s.C(mergerecord.FieldMergedIds), survivorID.String()))
		},
	).Order(mergerecord.ByCreatedAt(sql.OrderDesc())).First(ctx)
	switch {
	case ent.IsNotFound(err):
		return apperr.New(apperr.Conflict, "the survivor %s no longer exists (it was deleted); this merge cannot be undone", survivorID)
	case err != nil:
		return fmt.Errorf("find later merge: %w", err)
	}
	return apperr.New(apperr.Conflict, "the survivor %s was merged into customer %s by merge %s; unmerge that merge first", survivorID, later.SurvivorID, later.ID)
}

// checkAliasesFree returns a CONFLICT when a key a restored profile gets back
// now belongs to another alias: staff removed the moved alias and the key was
// given to someone since.
func checkAliasesFree(ctx context.Context, tx *ent.Tx, merged []schematype.MergedProfile) error {
	want := map[[2]string]uuid.UUID{}
	var ors []predicate.IdentityAlias
	for _, mp := range merged {
		for _, a := range mp.Aliases {
			want[[2]string{a.Kind, a.Value}] = a.ID
			ors = append(ors, identityalias.And(identityalias.KindEQ(identityalias.Kind(a.Kind)), identityalias.Value(a.Value)))
		}
	}
	if len(ors) == 0 {
		return nil
	}
	holders, err := tx.IdentityAlias.Query().Where(identityalias.Or(ors...)).All(ctx)
	if err != nil {
		return fmt.Errorf("read aliases: %w", err)
	}
	for _, h := range holders {
		if id := want[[2]string{string(h.Kind), h.Value}]; id != h.ID {
			return apperr.New(apperr.Conflict, "the %s %q of a merged customer now belongs to customer %s; remove it there before unmerging", h.Kind, h.Value, h.CustomerID)
		}
	}
	return nil
}

// restoreAliases gives a restored profile its aliases back exactly; one
// deleted since the merge is recreated with its id.
func restoreAliases(ctx context.Context, tx *ent.Tx, customerID uuid.UUID, states []schematype.AliasState) error {
	if len(states) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(states))
	for i, a := range states {
		ids[i] = a.ID
	}
	existing, err := tx.IdentityAlias.Query().Where(identityalias.IDIn(ids...)).IDs(ctx)
	if err != nil {
		return fmt.Errorf("read aliases: %w", err)
	}
	exists := make(map[uuid.UUID]bool, len(existing))
	for _, id := range existing {
		exists[id] = true
	}
	for _, a := range states {
		kind := identityalias.Kind(a.Kind)
		if exists[a.ID] {
			err = tx.IdentityAlias.UpdateOneID(a.ID).SetCustomerID(customerID).
				SetKind(kind).SetValue(a.Value).SetPrimary(a.Primary).SetSource(a.Source).Exec(ctx)
		} else {
			err = tx.IdentityAlias.Create().SetID(a.ID).SetCustomerID(customerID).
				SetKind(kind).SetValue(a.Value).SetPrimary(a.Primary).SetSource(a.Source).Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("restore alias %s: %w", a.ID, constraintConflict(err))
		}
	}
	return nil
}

// restoreSurvivor returns the survivor with every column the merge changed
// and nobody has changed since put back to its value before the merge, so
// edits made after the merge survive the unmerge.
//
// The summed metrics are the exception: the merged profiles' shares are
// subtracted instead. While the survivor is untouched that gives exactly its
// value before the merge, and it stays right when payments or bookings were
// added since, or when a later merge into the same survivor is undone after
// this one; restoring the old value would then count the restored profiles'
// shares twice or lose the new ones.
func restoreSurvivor(cur, before, after *ent.CustomerProfile, merged []*ent.CustomerProfile) *ent.CustomerProfile {
	next := *cur
	for _, c := range profileColumns {
		if c.immutable() || summed[c.name] || c.name == customerprofile.FieldSearchText {
			continue
		}
		if c.same(cur, after) && !c.same(before, after) {
			c.copyFrom(&next, before)
		}
	}
	for _, m := range merged {
		next.LifetimeValue -= m.LifetimeValue
		next.ActivityCount30d = max(0, next.ActivityCount30d-m.ActivityCount30d)
		next.BookingCount30d = max(0, next.BookingCount30d-m.BookingCount30d)
	}
	// search_text follows the columns it is made of.
	switch {
	case sameSearchInputs(&next, before):
		next.SearchText = before.SearchText
	case !sameSearchInputs(&next, cur):
		next.SearchText = searchText(&next)
	}
	return &next
}

// summed are the columns a merge adds the merged profiles' values to.
var summed = map[string]bool{
	customerprofile.FieldLifetimeValue:    true,
	customerprofile.FieldActivityCount30d: true,
	customerprofile.FieldBookingCount30d:  true,
}

func sameSearchInputs(a, b *ent.CustomerProfile) bool {
	return deref(a.FirstName) == deref(b.FirstName) && deref(a.LastName) == deref(b.LastName) &&
		deref(a.DisplayName) == deref(b.DisplayName) && deref(a.Email) == deref(b.Email) &&
		deref(a.PhoneNumber) == deref(b.PhoneNumber)
}
