package merge

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/customernote"
	"github.com/rapportcrm/rapport/ent/duplicatecandidate"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/identity"
	"github.com/rapportcrm/rapport/internal/outbox"
	"github.com/rapportcrm/rapport/internal/segment"
)

// MergedEvent is the data of a crm.profile.merged event.
type MergedEvent struct {
	MergeRecordID uuid.UUID   `json:"mergeRecordId"`
	SurvivorID    uuid.UUID   `json:"survivorId"`
	MergedIDs     []uuid.UUID `json:"mergedIds"`
	// MessagingContactIDs are every Messaging contact of the profiles
	// involved, so Messaging can link its contacts to one person.
	MessagingContactIDs []string `json:"messagingContactIds"`
}

// idRow is one row's id and owner, read to record what a merge moves.
type idRow struct {
	ID         uuid.UUID `json:"id"`
	CustomerID uuid.UUID `json:"customer_id"`
}

// Merge absorbs the merged profiles into the survivor in one transaction and
// returns the merge record and the survivor as it is afterwards.
func (s *Service) Merge(ctx context.Context, survivorID uuid.UUID, mergedIDs []uuid.UUID) (*ent.MergeRecord, *ent.CustomerProfile, error) {
	if err := validateMerge(survivorID, mergedIDs); err != nil {
		return nil, nil, err
	}
	tid, err := tenantOf(ctx)
	if err != nil {
		return nil, nil, err
	}
	mergedIDs = slices.Clone(mergedIDs)
	ctx = audit.WithAction(ctx, ActionMerged)
	actor := audit.ActorFrom(ctx)
	now := s.now()
	recordID, err := uuid.NewV7()
	if err != nil {
		return nil, nil, err
	}
	all := append([]uuid.UUID{survivorID}, mergedIDs...)

	var (
		rec   *ent.MergeRecord
		after *ent.CustomerProfile
	)
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		profiles, err := s.lockProfiles(ctx, tx, all)
		if err != nil {
			return err
		}
		for _, id := range all {
			if profiles[id] == nil {
				return profileNotFound(id)
			}
		}
		before := profiles[survivorID]
		merged := make([]*ent.CustomerProfile, len(mergedIDs))
		for i, id := range mergedIDs {
			merged[i] = profiles[id]
		}

		aliases, err := tx.IdentityAlias.Query().
			Where(identityalias.CustomerIDIn(all...)).Order(identityalias.ByID()).All(ctx)
		if err != nil {
			return fmt.Errorf("read aliases: %w", err)
		}
		aliasesOf := map[uuid.UUID][]*ent.IdentityAlias{}
		for _, a := range aliases {
			aliasesOf[a.CustomerID] = append(aliasesOf[a.CustomerID], a)
		}
		var acts, notes []idRow
		if err := tx.Activity.Query().Where(activity.CustomerIDIn(mergedIDs...)).Order(activity.ByID()).
			Select(activity.FieldID, activity.FieldCustomerID).Scan(ctx, &acts); err != nil {
			return fmt.Errorf("read activities: %w", err)
		}
		if err := tx.CustomerNote.Query().Where(customernote.CustomerIDIn(mergedIDs...)).Order(customernote.ByID()).
			Select(customernote.FieldID, customernote.FieldCustomerID).Scan(ctx, &notes); err != nil {
			return fmt.Errorf("read notes: %w", err)
		}

		next, promoted, err := plan(before, merged, aliasesOf)
		if err != nil {
			return err
		}
		snap, err := snapshotOf(before, merged, aliasesOf, acts, notes)
		if err != nil {
			return err
		}

		// Only customer_id and primary change, never (kind, value), so the
		// unique index on keys holds at every step; the aliases move before
		// their profiles are deleted, or the cascade would take them.
		for _, m := range merged {
			for _, a := range aliasesOf[m.ID] {
				if err := tx.IdentityAlias.UpdateOneID(a.ID).
					SetCustomerID(survivorID).SetPrimary(promoted[a.ID]).Exec(ctx); err != nil {
					return fmt.Errorf("move alias %s: %w", a.ID, err)
				}
			}
		}
		// One statement however long the timelines are.
		if err := tx.Activity.Update().Where(activity.CustomerIDIn(mergedIDs...)).
			SetCustomerID(survivorID).Exec(ctx); err != nil {
			return fmt.Errorf("move activities: %w", err)
		}
		noteIDs := make([]uuid.UUID, len(notes))
		noteOwner := make(map[uuid.UUID]uuid.UUID, len(notes))
		for i, n := range notes {
			noteIDs[i], noteOwner[n.ID] = n.ID, n.CustomerID
		}
		if err := s.moveNotes(ctx, tx, tid, noteIDs, noteOwner, survivorID, ActionMerged); err != nil {
			return err
		}

		u := tx.CustomerProfile.UpdateOneID(survivorID)
		if err := applyDiff(u.Mutation(), before, next); err != nil {
			return err
		}
		if err := u.Exec(ctx); err != nil {
			return fmt.Errorf("update survivor: %w", err)
		}
		if err := segment.ProfilesGone(ctx, tx, s.dialect, mergedIDs, &survivorID); err != nil {
			return fmt.Errorf("move segment memberships: %w", err)
		}
		for _, m := range merged {
			if err := tx.CustomerProfile.DeleteOneID(m.ID).Exec(ctx); err != nil {
				return fmt.Errorf("delete merged customer %s: %w", m.ID, err)
			}
		}

		title := fmt.Sprintf("Merged %d profiles into this one", len(merged))
		if len(merged) == 1 {
			title = "Merged 1 profile into this one"
		}
		idStrings := make([]any, len(mergedIDs))
		for i, id := range mergedIDs {
			idStrings[i] = id.String()
		}
		act, err := tx.Activity.Create().SetCustomerID(survivorID).
			SetType(activity.TypePROFILE_MERGED).SetCategory(activity.CategorySYSTEM).
			SetTitle(title).SetSourceService("crm").SetSourceID(recordID.String()).
			SetMetadata(map[string]any{"mergeRecordId": recordID.String(), "mergedIds": idStrings}).
			SetOccurredAt(now).SetCreatedAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("write merge activity: %w", err)
		}
		snap.ActivityID = act.ID

		// Candidates pair the survivor with a merged profile or two merged
		// profiles: both sides are in the merge.
		cands, err := tx.DuplicateCandidate.Query().Where(
			duplicatecandidate.StatusEQ(duplicatecandidate.StatusOPEN),
			duplicatecandidate.CustomerAIDIn(all...),
			duplicatecandidate.CustomerBIDIn(all...),
		).Order(duplicatecandidate.ByID()).IDs(ctx)
		if err != nil {
			return fmt.Errorf("read duplicate candidates: %w", err)
		}
		if len(cands) > 0 {
			if err := tx.DuplicateCandidate.Update().Where(duplicatecandidate.IDIn(cands...)).
				SetStatus(duplicatecandidate.StatusMERGED).SetResolvedAt(now).SetResolvedBy(actor.ID).
				Exec(ctx); err != nil {
				return fmt.Errorf("close duplicate candidates: %w", err)
			}
			snap.CandidateIDs = cands
		}

		// Read back rather than keep the builder's values, so the snapshot
		// holds what the database stored (PostgreSQL keeps microseconds).
		after, err = tx.CustomerProfile.Get(ctx, survivorID)
		if err != nil {
			return fmt.Errorf("read survivor: %w", err)
		}
		if snap.SurvivorAfter, err = encodeProfile(after); err != nil {
			return err
		}
		rec, err = tx.MergeRecord.Create().SetID(recordID).
			SetSurvivorID(survivorID).SetMergedIds(mergedIDs).SetSnapshot(*snap).
			SetMergedBy(actor.ID).Save(ctx)
		if err != nil {
			return fmt.Errorf("write merge record: %w", err)
		}
		_, err = outbox.Write(ctx, tx, tid, EventMerged, MergedEvent{
			MergeRecordID:       recordID,
			SurvivorID:          survivorID,
			MergedIDs:           mergedIDs,
			MessagingContactIDs: messagingContacts(append([]*ent.CustomerProfile{before}, merged...), aliases),
		}, now)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	// The merged ids are told too: like a delete, their subscribers learn
	// the profiles are gone.
	s.notify(ctx, all...)
	return rec, after, nil
}

func validateMerge(survivorID uuid.UUID, mergedIDs []uuid.UUID) error {
	if survivorID == uuid.Nil {
		return apperr.InvalidField("survivorID", "is required")
	}
	switch {
	case len(mergedIDs) == 0:
		return apperr.InvalidField("mergedIDs", "name at least one customer to merge")
	case len(mergedIDs) > MaxMerged:
		return apperr.InvalidField("mergedIDs", "at most %d customers can be merged at once", MaxMerged)
	}
	seen := make(map[uuid.UUID]bool, len(mergedIDs))
	for _, id := range mergedIDs {
		switch {
		case id == uuid.Nil:
			return apperr.InvalidField("mergedIDs", "contains an empty id")
		case id == survivorID:
			return apperr.InvalidField("mergedIDs", "must not contain the survivor %s", id)
		case seen[id]:
			return apperr.InvalidField("mergedIDs", "lists %s twice", id)
		}
		seen[id] = true
	}
	return nil
}

// plan returns the survivor as the merge leaves it and the moved aliases that
// stay primary. Fields fill from the newest merged profile first: its data is
// the most recent word on the person.
func plan(survivor *ent.CustomerProfile, merged []*ent.CustomerProfile, aliasesOf map[uuid.UUID][]*ent.IdentityAlias) (*ent.CustomerProfile, map[uuid.UUID]bool, error) {
	next, err := cloneProfile(survivor)
	if err != nil {
		return nil, nil, err
	}
	newest := slices.Clone(merged)
	sort.SliceStable(newest, func(i, j int) bool {
		if !newest[i].CreatedAt.Equal(newest[j].CreatedAt) {
			return newest[i].CreatedAt.After(newest[j].CreatedAt)
		}
		return newest[i].ID.String() > newest[j].ID.String()
	})

	have := identity.KeysOf(next)
	promoted := map[uuid.UUID]bool{}
	tags := slices.Clone(next.Tags)
	hasTag := map[string]bool{}
	for _, t := range tags {
		hasTag[t] = true
	}
	addedTag := false
	for _, m := range newest {
		// A key fills the survivor only through the alias that holds it, so
		// the survivor's columns stay backed by the unique index.
		keys := identity.KeysOf(m)
		for _, a := range aliasesOf[m.ID] {
			if have[a.Kind] != "" || keys[a.Kind] != a.Value {
				continue
			}
			if err := setKey(next, a.Kind, a.Value); err != nil {
				return nil, nil, err
			}
			have[a.Kind] = a.Value
			promoted[a.ID] = true
		}

		fill(&next.FirstName, m.FirstName)
		fill(&next.LastName, m.LastName)
		fill(&next.DisplayName, m.DisplayName)
		fill(&next.HomeClubID, m.HomeClubID)
		fill(&next.MembershipTier, m.MembershipTier)
		fill(&next.MembershipStatus, m.MembershipStatus)
		if next.Handicap == nil && m.Handicap != nil {
			h := *m.Handicap
			next.Handicap = &h
		}
		for k, v := range m.Attributes {
			if _, ok := next.Attributes[k]; ok {
				continue
			}
			if next.Attributes == nil {
				next.Attributes = map[string]any{}
			}
			next.Attributes[k] = v
		}
		for _, t := range m.Tags {
			if !hasTag[t] {
				hasTag[t] = true
				tags = append(tags, t)
				addedTag = true
			}
		}

		if m.LastActivityAt != nil && (next.LastActivityAt == nil || m.LastActivityAt.After(*next.LastActivityAt)) {
			at := *m.LastActivityAt
			next.LastActivityAt = &at
		}
		next.ActivityCount30d += m.ActivityCount30d
		next.BookingCount30d += m.BookingCount30d
		next.LifetimeValue += m.LifetimeValue
	}
	// The survivor's own order stands unless the merge brings new tags.
	if addedTag {
		if len(tags) > maxTags {
			return nil, nil, apperr.InvalidField("mergedIDs", "the merged customer would carry %d tags, more than %d; remove some first", len(tags), maxTags)
		}
		sort.Strings(tags)
		next.Tags = tags
	}
	if deref(next.FirstName) != deref(survivor.FirstName) || deref(next.LastName) != deref(survivor.LastName) ||
		deref(next.DisplayName) != deref(survivor.DisplayName) || deref(next.Email) != deref(survivor.Email) ||
		deref(next.PhoneNumber) != deref(survivor.PhoneNumber) {
		next.SearchText = searchText(next)
	}
	return next, promoted, nil
}

// fill sets an empty field of the survivor from a merged profile.
func fill(dst **string, src *string) {
	if deref(*dst) == "" && deref(src) != "" {
		v := *src
		*dst = &v
	}
}

// setKey writes a primary identity key to its column.
func setKey(p *ent.CustomerProfile, kind identityalias.Kind, v string) error {
	switch kind {
	case identityalias.KindAUTH_USER_ID:
		p.AuthUserID = &v
	case identityalias.KindEMAIL:
		p.Email = &v
	case identityalias.KindPHONE:
		p.PhoneNumber = &v
	case identityalias.KindSCL_MEMBER_ID:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("merge: scl member id %q: %w", v, err)
		}
		p.SclMemberID = &n
	case identityalias.KindTEETIME_PLAYER_ID:
		p.TeetimePlayerID = &v
	case identityalias.KindMESSAGING_CONTACT_ID:
		p.MessagingContactID = &v
	case identityalias.KindMCA_V1_ZA_ID:
		p.ExternalIds.McaV1ZaID = &v
	case identityalias.KindMCA_V1_UK_ID:
		p.ExternalIds.McaV1UkID = &v
	case identityalias.KindGOLF_RSA_ID:
		p.ExternalIds.GolfRsaID = &v
	default:
		return fmt.Errorf("merge: unknown identity kind %s", kind)
	}
	return nil
}

func snapshotOf(survivor *ent.CustomerProfile, merged []*ent.CustomerProfile, aliasesOf map[uuid.UUID][]*ent.IdentityAlias, acts, notes []idRow) (*schematype.MergeSnapshot, error) {
	raw, err := encodeProfile(survivor)
	if err != nil {
		return nil, err
	}
	snap := &schematype.MergeSnapshot{SurvivorBefore: raw, Merged: make([]schematype.MergedProfile, len(merged))}
	index := make(map[uuid.UUID]int, len(merged))
	for i, m := range merged {
		raw, err := encodeProfile(m)
		if err != nil {
			return nil, err
		}
		mp := schematype.MergedProfile{Profile: raw, Aliases: []schematype.AliasState{}, ActivityIDs: []uuid.UUID{}, NoteIDs: []uuid.UUID{}}
		for _, a := range aliasesOf[m.ID] {
			mp.Aliases = append(mp.Aliases, schematype.AliasState{ID: a.ID, Kind: string(a.Kind), Value: a.Value, Primary: a.Primary, Source: a.Source})
		}
		snap.Merged[i] = mp
		index[m.ID] = i
	}
	for _, a := range acts {
		mp := &snap.Merged[index[a.CustomerID]]
		mp.ActivityIDs = append(mp.ActivityIDs, a.ID)
	}
	for _, n := range notes {
		mp := &snap.Merged[index[n.CustomerID]]
		mp.NoteIDs = append(mp.NoteIDs, n.ID)
	}
	return snap, nil
}

// messagingContacts lists, sorted and once each, the Messaging contact ids
// on the profiles' columns and aliases.
func messagingContacts(profiles []*ent.CustomerProfile, aliases []*ent.IdentityAlias) []string {
	set := map[string]bool{}
	for _, p := range profiles {
		if v := deref(p.MessagingContactID); v != "" {
			set[v] = true
		}
	}
	for _, a := range aliases {
		if a.Kind == identityalias.KindMESSAGING_CONTACT_ID {
			set[a.Value] = true
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// searchText is the customer package's free-text column: lower-cased names,
// e-mail and phone.
func searchText(p *ent.CustomerProfile) string {
	return identity.SearchText(deref(p.FirstName), deref(p.LastName), deref(p.DisplayName), deref(p.Email), deref(p.PhoneNumber))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
