package demo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/identityalias"
	// The runtime registers the tenant hooks and the id defaults; without it
	// creates would skip the tenant stamp.
	_ "github.com/rapportcrm/rapport/ent/runtime"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/identity"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// chunk bounds every bulk insert: 500 profiles × 33 columns stays well under
// SQLite's 32,766 bound variables.
const chunk = 500

// aliasSource marks the identity keys Ensure writes.
const aliasSource = "demo"

// Ensure makes sure the organization holds n demo people. If it already has
// n or more customer profiles it does nothing; otherwise it creates, in one
// transaction, every person of People(n, Seed, now) none of whose identity
// keys is taken yet, with their identity aliases and notes.
func Ensure(ctx context.Context, client *ent.Client, orgID uuid.UUID, n int, now time.Time) (created int, err error) {
	if n <= 0 {
		return 0, nil
	}
	ctx = tenancy.WithTenant(ctx, orgID)
	// With the audit hook installed every row leaves an entry; naming the
	// actor tells staff reading the trail where these customers came from.
	ctx = audit.WithActor(ctx, audit.Actor{ID: "demo", Type: "system"})
	have, err := client.CustomerProfile.Query().Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("demo: count profiles: %w", err)
	}
	if have >= n {
		return 0, nil
	}
	created, err = create(ctx, client, People(n, Seed, now))
	if ent.IsConstraintError(err) {
		// Another replica seeded the organization at the same time; its
		// transaction won, which is all Ensure promises.
		if have, cerr := client.CustomerProfile.Query().Count(ctx); cerr == nil && have >= n {
			return 0, nil
		}
	}
	return created, err
}

// create inserts the people none of whose keys is taken, in one transaction.
func create(ctx context.Context, client *ent.Client, people []Person) (created int, err error) {
	tx, err := client.Tx(ctx)
	if err != nil {
		return 0, fmt.Errorf("demo: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	todo, err := untaken(ctx, tx, people)
	if err != nil {
		return 0, err
	}
	if err := insert(ctx, tx, todo); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("demo: commit: %w", err)
	}
	return len(todo), nil
}

// key is one identity key of a person.
type key struct {
	kind  identityalias.Kind
	value string
}

// keys lists the identity aliases a person gets, e-mail and phone first.
func keys(p Person) []key {
	ks := []key{{identityalias.KindEMAIL, p.Email}, {identityalias.KindPHONE, p.Phone}}
	add := func(kind identityalias.Kind, v *string) {
		if v != nil && *v != "" {
			ks = append(ks, key{kind, *v})
		}
	}
	add(identityalias.KindAUTH_USER_ID, p.AuthUserID)
	if p.SclMemberID != nil {
		ks = append(ks, key{identityalias.KindSCL_MEMBER_ID, strconv.FormatInt(*p.SclMemberID, 10)})
	}
	add(identityalias.KindTEETIME_PLAYER_ID, p.TeetimePlayerID)
	add(identityalias.KindMESSAGING_CONTACT_ID, p.MessagingContactID)
	add(identityalias.KindMCA_V1_ZA_ID, p.ExternalIDs.McaV1ZaID)
	add(identityalias.KindMCA_V1_UK_ID, p.ExternalIDs.McaV1UkID)
	add(identityalias.KindGOLF_RSA_ID, p.ExternalIDs.GolfRsaID)
	return ks
}

// untaken drops the people any of whose keys the organization already uses:
// they were created by an earlier run, or a real customer holds the key and
// must not be disturbed. Checking every kind, not only e-mail, keeps the
// unique index on (tenant, kind, value) from failing the whole transaction.
func untaken(ctx context.Context, tx *ent.Tx, people []Person) ([]Person, error) {
	byKind := map[identityalias.Kind][]string{}
	for _, p := range people {
		for _, k := range keys(p) {
			byKind[k.kind] = append(byKind[k.kind], k.value)
		}
	}
	taken := map[key]bool{}
	for kind, values := range byKind {
		for start := 0; start < len(values); start += chunk {
			end := min(start+chunk, len(values))
			got, err := tx.IdentityAlias.Query().
				Where(identityalias.KindEQ(kind), identityalias.ValueIn(values[start:end]...)).
				Select(identityalias.FieldValue).Strings(ctx)
			if err != nil {
				return nil, fmt.Errorf("demo: read identity aliases: %w", err)
			}
			for _, v := range got {
				taken[key{kind, v}] = true
			}
		}
	}
	out := people[:0:0]
	for _, p := range people {
		free := true
		for _, k := range keys(p) {
			free = free && !taken[k]
		}
		if free {
			out = append(out, p)
		}
	}
	return out, nil
}

// insert writes the people, their aliases and notes with bulk creates.
func insert(ctx context.Context, tx *ent.Tx, people []Person) error {
	ids := make([]uuid.UUID, len(people))
	for i := range ids {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		ids[i] = id
	}

	profiles := make([]*ent.CustomerProfileCreate, 0, chunk)
	for i, p := range people {
		profiles = append(profiles, profileCreate(tx, p).SetID(ids[i]))
		if len(profiles) == chunk || i == len(people)-1 {
			if err := tx.CustomerProfile.CreateBulk(profiles...).Exec(ctx); err != nil {
				return fmt.Errorf("demo: create profiles: %w", err)
			}
			profiles = profiles[:0]
		}
	}

	var aliases []*ent.IdentityAliasCreate
	var notes []*ent.CustomerNoteCreate
	for i, p := range people {
		for _, k := range keys(p) {
			aliases = append(aliases, tx.IdentityAlias.Create().
				SetCustomerID(ids[i]).SetKind(k.kind).SetValue(k.value).
				SetPrimary(true).SetSource(aliasSource))
		}
		for _, n := range p.Notes {
			notes = append(notes, tx.CustomerNote.Create().
				SetCustomerID(ids[i]).SetAuthorID(n.AuthorID).SetBody(n.Body).SetPinned(n.Pinned).
				SetCreatedAt(n.CreatedAt).SetUpdatedAt(n.CreatedAt))
		}
	}
	for start := 0; start < len(aliases); start += chunk {
		if err := tx.IdentityAlias.CreateBulk(aliases[start:min(start+chunk, len(aliases))]...).Exec(ctx); err != nil {
			return fmt.Errorf("demo: create identity aliases: %w", err)
		}
	}
	for start := 0; start < len(notes); start += chunk {
		if err := tx.CustomerNote.CreateBulk(notes[start:min(start+chunk, len(notes))]...).Exec(ctx); err != nil {
			return fmt.Errorf("demo: create notes: %w", err)
		}
	}
	return nil
}

// profileCreate fills a profile builder from a person.
func profileCreate(tx *ent.Tx, p Person) *ent.CustomerProfileCreate {
	c := tx.CustomerProfile.Create().
		SetEmail(p.Email).
		SetPhoneNumber(p.Phone).
		SetNillableAuthUserID(p.AuthUserID).
		SetNillableSclMemberID(p.SclMemberID).
		SetNillableTeetimePlayerID(p.TeetimePlayerID).
		SetNillableMessagingContactID(p.MessagingContactID).
		SetExternalIds(p.ExternalIDs).
		SetFirstName(p.FirstName).
		SetLastName(p.LastName).
		SetDisplayName(p.DisplayName).
		SetStatus(p.Status).
		SetLifecycleStage(p.LifecycleStage).
		SetTags(p.Tags).
		SetNillableEngagementScore(p.EngagementScore).
		SetNillableChurnRiskScore(p.ChurnRiskScore).
		SetLifetimeValue(p.LifetimeValue).
		SetNillableLastActivityAt(p.LastActivityAt).
		SetActivityCount30d(p.ActivityCount30d).
		SetBookingCount30d(p.BookingCount30d).
		SetNillableHandicap(p.Handicap).
		SetNillableHomeClubID(p.HomeClubID).
		SetNillableMembershipTier(p.MembershipTier).
		SetNillableMembershipStatus(p.MembershipStatus).
		SetEmailOptIn(p.EmailOptIn).
		SetSmsOptIn(p.SmsOptIn).
		SetPushOptIn(p.PushOptIn).
		SetWhatsappOptIn(p.WhatsappOptIn).
		SetSearchText(identity.SearchText(p.FirstName, p.LastName, p.DisplayName, p.Email, p.Phone))
	if len(p.Attributes) > 0 {
		c.SetAttributes(p.Attributes)
	}
	return c
}
