package customer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/organization"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/identity"
	"github.com/rapportcrm/rapport/internal/outbox"
	"github.com/rapportcrm/rapport/internal/segment"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// EventCreated is the event produced for every new profile, whichever door
// it came through (the API here, events and imports in the ingest pipeline).
const EventCreated = "crm.profile.created"

// Notifier is told, after commit, which profile changed.
type Notifier interface {
	CustomerChanged(ctx context.Context, tenantID, customerID uuid.UUID)
}

// Service creates and changes customer profiles.
type Service struct {
	client   *ent.Client
	dialect  string
	notifier Notifier
	now      func() time.Time
}

// NewService returns a Service over the ent client. dialectName is the
// database dialect (row locks are taken on PostgreSQL only; SQLite
// serializes writers itself). notifier may be nil.
func NewService(client *ent.Client, dialectName string, notifier Notifier) *Service {
	return &Service{client: client, dialect: dialectName, notifier: notifier, now: func() time.Time { return time.Now().UTC() }}
}

// Get returns a profile of the caller's tenant or NOT_FOUND.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.CustomerProfile, error) {
	p, err := s.client.CustomerProfile.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, notFound(id)
	}
	return p, err
}

func notFound(id uuid.UUID) error {
	return apperr.New(apperr.NotFound, "customer %s not found", id)
}

// phoneRegion returns the organization's default phone region.
func (s *Service) phoneRegion(ctx context.Context) (string, error) {
	tid, ok := tenancy.FromContext(ctx)
	if !ok {
		return "", apperr.New(apperr.Unauthenticated, "no organization in context")
	}
	region, err := s.client.Organization.Query().Where(organization.ID(tid)).
		Select(organization.FieldDefaultPhoneRegion).String(ctx)
	if err != nil {
		return "", fmt.Errorf("read organization: %w", err)
	}
	return region, nil
}

// Create validates, normalizes and stores a new profile with its identity keys.
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.CustomerProfile, error) {
	region, err := s.phoneRegion(ctx)
	if err != nil {
		return nil, err
	}
	v, err := normalizeCreate(in, region)
	if err != nil {
		return nil, err
	}
	want := keysOfValues(v)
	if !want.hasIdentity() {
		return nil, apperr.InvalidField("input", "at least one identity key (authUserID, email or phoneNumber) is required")
	}
	if err := checkOwners(ctx, s.client, uuid.Nil, want); err != nil {
		return nil, err
	}
	var created *ent.CustomerProfile
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		c := tx.CustomerProfile.Create().
			SetNillableAuthUserID(v.authUserID).
			SetNillableEmail(v.email).
			SetNillablePhoneNumber(v.phone).
			SetNillableSclMemberID(in.SclMemberID).
			SetNillableTeetimePlayerID(v.teetimePlayerID).
			SetNillableMessagingContactID(v.messagingContactID).
			SetExternalIds(v.externalIDs).
			SetNillableFirstName(v.firstName).
			SetNillableLastName(v.lastName).
			SetNillableDisplayName(v.displayName).
			SetNillableStatus(in.Status).
			SetNillableLifecycleStage(in.LifecycleStage).
			SetTags(v.tags).
			SetNillableHandicap(in.Handicap).
			SetNillableHomeClubID(v.homeClubID).
			SetNillableMembershipTier(v.membershipTier).
			SetNillableMembershipStatus(v.membershipStatus).
			SetSearchText(searchText(v.firstName, v.lastName, v.displayName, v.email, v.phone))
		if in.Attributes != nil {
			c.SetAttributes(in.Attributes)
		}
		p, err := c.Save(ctx)
		if err != nil {
			return err
		}
		if err := syncAliases(ctx, tx, p.ID, keys{}, want, sourceOr(in.Source)); err != nil {
			return err
		}
		tid, _ := tenancy.FromContext(ctx)
		if _, err := outbox.Write(ctx, tx, tid, EventCreated, map[string]any{
			"customerId": p.ID, "source": sourceOr(in.Source), "keys": want,
		}, s.now()); err != nil {
			return err
		}
		created = p
		return nil
	})
	if err != nil {
		return nil, s.explainConflict(ctx, err, uuid.Nil, want)
	}
	s.changed(ctx, created.ID)
	return created, nil
}

// Update applies a partial change to a profile.
func (s *Service) Update(ctx context.Context, id uuid.UUID, in UpdateInput) (*ent.CustomerProfile, error) {
	region, err := s.phoneRegion(ctx)
	if err != nil {
		return nil, err
	}
	var (
		updated *ent.CustomerProfile
		want    keys
	)
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		cur, err := s.lockProfile(ctx, tx, id)
		if err != nil {
			return err
		}
		u := tx.CustomerProfile.UpdateOne(cur)
		next, err := applyUpdate(u, cur, in, region)
		if err != nil {
			return err
		}
		have := keysOf(cur)
		want = keysOf(next)
		if !want.hasIdentity() {
			return apperr.InvalidField("input", "a customer must keep at least one identity key (authUserID, email or phoneNumber)")
		}
		changedKeys := keys{}
		for k, v := range want {
			if have[k] != v {
				changedKeys[k] = v
			}
		}
		if err := checkOwners(ctx, tx.Client(), id, changedKeys); err != nil {
			return err
		}
		u.SetSearchText(searchText(next.FirstName, next.LastName, next.DisplayName, next.Email, next.PhoneNumber))
		p, err := u.Save(ctx)
		if err != nil {
			return err
		}
		if err := syncAliases(ctx, tx, id, have, want, sourceOr(in.Source)); err != nil {
			return err
		}
		updated = p
		return nil
	})
	if err != nil {
		return nil, s.explainConflict(ctx, err, id, want)
	}
	s.changed(ctx, id)
	return updated, nil
}

// Delete removes a profile with its notes and identity keys.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		if _, err := s.lockProfile(ctx, tx, id); err != nil {
			return err
		}
		// Aliases go one by one so each removal is audited; the timeline
		// goes in one statement (no foreign key cascades it on PostgreSQL);
		// notes cascade with the profile, whose audit entry keeps its state.
		// The profile's row lock, taken first, keeps ingestion from adding
		// to what is being removed.
		if _, err := tx.Activity.Delete().Where(activity.CustomerID(id)).Exec(ctx); err != nil {
			return err
		}
		aliases, err := tx.IdentityAlias.Query().Where(identityalias.CustomerID(id)).IDs(ctx)
		if err != nil {
			return err
		}
		for _, a := range aliases {
			if err := tx.IdentityAlias.DeleteOneID(a).Exec(ctx); err != nil {
				return err
			}
		}
		if err := segment.ProfilesGone(ctx, tx, s.dialect, []uuid.UUID{id}, nil); err != nil {
			return err
		}
		return tx.CustomerProfile.DeleteOneID(id).Exec(ctx)
	})
	if err != nil {
		return err
	}
	s.changed(ctx, id)
	return nil
}

// AddTags adds tags to a profile; tags it already has are ignored.
func (s *Service) AddTags(ctx context.Context, id uuid.UUID, tags []string) (*ent.CustomerProfile, error) {
	add, err := normalizeTags(tags, "tags")
	if err != nil {
		return nil, err
	}
	return s.editTags(ctx, id, func(cur []string) []string { return mergeTags(cur, add) })
}

// RemoveTags removes tags from a profile; tags it does not have are ignored.
func (s *Service) RemoveTags(ctx context.Context, id uuid.UUID, tags []string) (*ent.CustomerProfile, error) {
	rm, err := normalizeTags(tags, "tags")
	if err != nil {
		return nil, err
	}
	drop := map[string]bool{}
	for _, t := range rm {
		drop[t] = true
	}
	return s.editTags(ctx, id, func(cur []string) []string {
		out := make([]string, 0, len(cur))
		for _, t := range cur {
			if !drop[t] {
				out = append(out, t)
			}
		}
		return out
	})
}

func (s *Service) editTags(ctx context.Context, id uuid.UUID, edit func([]string) []string) (*ent.CustomerProfile, error) {
	var out *ent.CustomerProfile
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		cur, err := s.lockProfile(ctx, tx, id)
		if err != nil {
			return err
		}
		next := edit(cur.Tags)
		if len(next) > maxTags {
			return apperr.InvalidField("tags", "a customer can carry at most %d tags", maxTags)
		}
		out, err = tx.CustomerProfile.UpdateOne(cur).SetTags(next).Save(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx, id)
	return out, nil
}

// lockProfile reads a profile for change, locking its row on PostgreSQL so
// concurrent edits of one profile apply one after the other.
func (s *Service) lockProfile(ctx context.Context, tx *ent.Tx, id uuid.UUID) (*ent.CustomerProfile, error) {
	q := tx.CustomerProfile.Query().Where(customerprofile.ID(id))
	if s.dialect == dialect.Postgres {
		// NO KEY UPDATE: an edit need not wait for ingestion's uncommitted
		// activity inserts, whose foreign key holds a key-share lock.
		q.ForUpdate(sql.WithLockClause("FOR NO KEY UPDATE"))
	}
	p, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound(id)
	}
	return p, err
}

func (s *Service) withTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return tx.Commit()
}

// explainConflict turns a unique violation on identity keys, which only a
// concurrent writer can cause after the pre-check, into a CONFLICT naming the
// winner. It runs after the failed transaction, which PostgreSQL has aborted.
func (s *Service) explainConflict(ctx context.Context, err error, self uuid.UUID, want keys) error {
	if !ent.IsConstraintError(err) {
		return err
	}
	if cerr := checkOwners(ctx, s.client, self, want); cerr != nil {
		return cerr
	}
	return apperr.New(apperr.Conflict, "an identity key of this customer changed concurrently; retry")
}

func (s *Service) changed(ctx context.Context, id uuid.UUID) {
	if s.notifier == nil {
		return
	}
	if tid, ok := tenancy.FromContext(ctx); ok {
		s.notifier.CustomerChanged(ctx, tid, id)
	}
}

func sourceOr(s string) string {
	if s == "" {
		return "api"
	}
	return s
}

func searchText(first, last, display, email, phone *string) string {
	return identity.SearchText(deref(first), deref(last), deref(display), deref(email), deref(phone))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func keysOfValues(v *normalized) keys {
	k := keys{}
	put := func(kind identityalias.Kind, s *string) {
		if s != nil && *s != "" {
			k[kind] = *s
		}
	}
	put(identityalias.KindAUTH_USER_ID, v.authUserID)
	put(identityalias.KindEMAIL, v.email)
	put(identityalias.KindPHONE, v.phone)
	if v.sclMemberID != nil {
		k[identityalias.KindSCL_MEMBER_ID] = strconv.FormatInt(*v.sclMemberID, 10)
	}
	put(identityalias.KindTEETIME_PLAYER_ID, v.teetimePlayerID)
	put(identityalias.KindMESSAGING_CONTACT_ID, v.messagingContactID)
	putExternal(k, v.externalIDs)
	return k
}
