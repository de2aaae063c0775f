package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/predicate"
	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/ent/synclog"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/event"
	"github.com/rapportcrm/rapport/internal/identity"
	"github.com/rapportcrm/rapport/internal/pgarray"
	"github.com/rapportcrm/rapport/internal/pubsub"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/timeline"
)

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nonEmpty(s *string) *string {
	if s == nil {
		return nil
	}
	v := strings.TrimSpace(*s)
	if v == "" {
		return nil
	}
	return &v
}

func normTags(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range in {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 100 || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// createProfiles inserts the profiles the batch created, with their keys.
func (b *batch) createProfiles(ctx context.Context) error {
	if len(b.createdIn) == 0 {
		return nil
	}
	c := b.tx.Client()
	profiles := make([]*ent.CustomerProfileCreate, 0, len(b.createdIn))
	var aliases []*ent.IdentityAliasCreate
	var entries []audit.Entry
	for _, id := range b.createdIn {
		np := b.created[id]
		f := np.facts
		k := np.keys
		first, last := nonEmpty(f.FirstName), nonEmpty(f.LastName)
		display := nonEmpty(f.DisplayName)
		if display == nil && (first != nil || last != nil) {
			display = ptr(strings.TrimSpace(deref(first) + " " + deref(last)))
		}
		pc := c.CustomerProfile.Create().SetID(id).SetCreatedAt(b.now).SetUpdatedAt(b.now).
			SetLifecycleStage(np.stage).
			SetNillableFirstName(first).SetNillableLastName(last).SetNillableDisplayName(display).
			SetNillableHomeClubID(nonEmpty(f.HomeClubID)).
			SetNillableMembershipTier(nonEmpty(f.MembershipTier)).SetNillableMembershipStatus(nonEmpty(f.MembershipStatus)).
			SetNillableHandicap(f.Handicap).
			SetNillableEmailOptIn(f.EmailOptIn).SetNillableSmsOptIn(f.SMSOptIn).
			SetNillablePushOptIn(f.PushOptIn).SetNillableWhatsappOptIn(f.WhatsappOptIn).
			SetActivityCount30d(np.m.acts30).SetBookingCount30d(np.m.books30).SetLifetimeValue(np.m.ltvCents).
			SetSearchText(identity.SearchText(deref(first), deref(last), deref(display), k[identityalias.KindEMAIL], k[identityalias.KindPHONE]))
		if !np.m.last.IsZero() {
			pc.SetLastActivityAt(np.m.last)
		}
		if tags := normTags(f.Tags); len(tags) > 0 {
			pc.SetTags(tags)
		}
		if len(f.Attributes) > 0 {
			pc.SetAttributes(f.Attributes)
		}
		setKeyColumns(pc.Mutation(), k)
		profiles = append(profiles, pc)
		for _, key := range k.List() {
			aliases = append(aliases, c.IdentityAlias.Create().SetID(uuid.Must(uuid.NewV7())).SetCustomerID(id).SetKind(key.Kind).
				SetValue(key.Value).SetPrimary(true).SetSource(np.source).SetCreatedAt(b.now))
		}
		entries = append(entries, audit.Entry{Action: "customer.created_from_event", EntityType: "Customer", EntityID: id,
			Changes: map[string]any{"source": np.source, "eventId": np.eventID, "keys": k}})
	}
	if b.p.cfg.Dialect == dialect.Postgres {
		if err := b.pgInsert(ctx, "customer_profiles", profileColumns, "tenant_id", mutations(profiles)); err != nil {
			return fmt.Errorf("create profiles: %w", err)
		}
		if err := b.pgInsert(ctx, "identity_aliases", aliasColumns, "tenant_id", mutations(aliases)); err != nil {
			return fmt.Errorf("create identity keys: %w", err)
		}
		return b.pgAudit(ctx, entries)
	}
	if err := insertChunks(ctx, profiles, 200, func(ctx context.Context, part []*ent.CustomerProfileCreate) error {
		return c.CustomerProfile.CreateBulk(part...).Exec(ctx)
	}); err != nil {
		return fmt.Errorf("create profiles: %w", err)
	}
	if err := insertChunks(ctx, aliases, 1000, func(ctx context.Context, part []*ent.IdentityAliasCreate) error {
		return c.IdentityAlias.CreateBulk(part...).Exec(ctx)
	}); err != nil {
		return fmt.Errorf("create identity keys: %w", err)
	}
	return audit.WriteMany(ctx, c, entries)
}

// The columns the PostgreSQL bulk path writes, with the defaults of the
// schema for values a row leaves out.
var (
	profileColumns = []column{
		{"id", "uuid", ""}, {"created_at", "timestamptz", ""}, {"updated_at", "timestamptz", ""},
		{"auth_user_id", "text", ""}, {"email", "text", ""}, {"phone_number", "text", ""},
		{"scl_member_id", "bigint", ""}, {"teetime_player_id", "text", ""}, {"messaging_contact_id", "text", ""},
		{"external_ids", "jsonb", "'{}'::jsonb"}, {"first_name", "text", ""}, {"last_name", "text", ""},
		{"display_name", "text", ""}, {"status", "text", "'ACTIVE'"}, {"lifecycle_stage", "text", "'PROSPECT'"},
		{"tags", "jsonb", ""}, {"lifetime_value", "bigint", "0"}, {"last_activity_at", "timestamptz", ""},
		{"activity_count_30d", "bigint", "0"}, {"booking_count_30d", "bigint", "0"}, {"handicap", "float8", ""},
		{"home_club_id", "text", ""}, {"membership_tier", "text", ""}, {"membership_status", "text", ""},
		{"email_opt_in", "boolean", "false"}, {"sms_opt_in", "boolean", "false"}, {"push_opt_in", "boolean", "false"},
		{"whatsapp_opt_in", "boolean", "false"}, {"attributes", "jsonb", ""}, {"search_text", "text", "''"},
	}
	aliasColumns = []column{
		{"id", "uuid", ""}, {"customer_id", "uuid", ""}, {"kind", "text", ""}, {"value", "text", ""},
		{"primary", "boolean", "false"}, {"source", "text", "'api'"}, {"created_at", "timestamptz", ""},
	}
	auditColumns = []column{
		{"id", "uuid", ""}, {"actor_id", "text", "''"}, {"actor_type", "text", "'user'"}, {"action", "text", ""},
		{"entity_type", "text", ""}, {"entity_id", "uuid", ""}, {"changes", "jsonb", ""}, {"request_id", "text", ""},
		{"created_at", "timestamptz", ""},
	}
	outboxColumns = []column{
		{"id", "uuid", ""}, {"organization_id", "uuid", ""}, {"type", "text", ""}, {"payload", "jsonb", ""},
		{"created_at", "timestamptz", ""}, {"attempts", "bigint", "0"},
	}
)

func mutations[T interface{ Mutation() M }, M ent.Mutation](builders []T) []ent.Mutation {
	out := make([]ent.Mutation, len(builders))
	for i, b := range builders {
		out[i] = b.Mutation()
	}
	return out
}

func (b *batch) pgInsert(ctx context.Context, table string, cols []column, tenantColumn string, muts []ent.Mutation) error {
	return pgBulkInsert(ctx, func(ctx context.Context, q string, args ...any) error {
		_, err := b.tx.ExecContext(ctx, q, args...)
		return err
	}, table, cols, tenantColumn, b.tenantID, muts)
}

// pgAudit writes the batch's audit entries with the bulk path.
func (b *batch) pgAudit(ctx context.Context, entries []audit.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	actor := audit.ActorFrom(ctx)
	muts := make([]ent.Mutation, len(entries))
	for i, e := range entries {
		changes, err := json.Marshal(e.Changes)
		if err != nil {
			return err
		}
		var m map[string]any
		_ = json.Unmarshal(changes, &m)
		muts[i] = b.tx.CrmAuditLog.Create().SetID(uuid.Must(uuid.NewV7())).SetActorID(actor.ID).SetActorType(actor.Type).
			SetAction(e.Action).SetEntityType(e.EntityType).SetEntityID(e.EntityID).SetChanges(m).SetCreatedAt(b.now).Mutation()
	}
	return b.pgInsert(ctx, "crm_audit_logs", auditColumns, "tenant_id", muts)
}

// keyColumns is the subset of profile mutations that set key columns.
type keyColumns interface {
	SetAuthUserID(string)
	SetEmail(string)
	SetPhoneNumber(string)
	SetSclMemberID(int64)
	SetTeetimePlayerID(string)
	SetMessagingContactID(string)
	SetExternalIds(schematype.ExternalIDs)
}

// setKeyColumns copies keys onto the profile's columns.
func setKeyColumns(m keyColumns, k identity.Keys) {
	if v := k[identityalias.KindAUTH_USER_ID]; v != "" {
		m.SetAuthUserID(v)
	}
	if v := k[identityalias.KindEMAIL]; v != "" {
		m.SetEmail(v)
	}
	if v := k[identityalias.KindPHONE]; v != "" {
		m.SetPhoneNumber(v)
	}
	if v := k[identityalias.KindSCL_MEMBER_ID]; v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			m.SetSclMemberID(n)
		}
	}
	if v := k[identityalias.KindTEETIME_PLAYER_ID]; v != "" {
		m.SetTeetimePlayerID(v)
	}
	if v := k[identityalias.KindMESSAGING_CONTACT_ID]; v != "" {
		m.SetMessagingContactID(v)
	}
	var x schematype.ExternalIDs
	has := false
	for kind, dst := range map[identity.Kind]**string{
		identityalias.KindMCA_V1_ZA_ID: &x.McaV1ZaID, identityalias.KindMCA_V1_UK_ID: &x.McaV1UkID, identityalias.KindGOLF_RSA_ID: &x.GolfRsaID,
	} {
		if v := k[kind]; v != "" {
			*dst = ptr(v)
			has = true
		}
	}
	if has {
		m.SetExternalIds(x)
	}
}

// profileChange is what the batch changes on one existing profile besides
// its metrics.
type profileChange struct {
	keys identity.Keys // primary keys to fill
}

// linkKeys stores keys newly tied to profiles. A key fills the profile's
// column of its kind when that is empty (it becomes the primary key);
// otherwise it is an additional alias.
func (b *batch) linkKeys(ctx context.Context, existing map[uuid.UUID]*ent.CustomerProfile) error {
	if len(b.links) == 0 {
		return nil
	}
	c := b.tx.Client()
	fill := map[uuid.UUID]identity.Keys{}
	var aliases []*ent.IdentityAliasCreate
	for _, l := range b.links {
		primary := false
		if p, ok := existing[l.customer]; ok {
			have := identity.KeysOf(p)
			if have[l.key.Kind] == "" && (fill[l.customer] == nil || fill[l.customer][l.key.Kind] == "") {
				if fill[l.customer] == nil {
					fill[l.customer] = identity.Keys{}
				}
				fill[l.customer][l.key.Kind] = l.key.Value
				primary = true
			}
		}
		aliases = append(aliases, c.IdentityAlias.Create().SetID(uuid.Must(uuid.NewV7())).SetCustomerID(l.customer).SetKind(l.key.Kind).
			SetValue(l.key.Value).SetPrimary(primary).SetSource(l.source).SetCreatedAt(b.now))
	}
	if b.p.cfg.Dialect == dialect.Postgres {
		if err := b.pgLinkAliases(ctx, aliases); err != nil {
			return err
		}
	} else if err := insertChunks(ctx, aliases, 1000, func(ctx context.Context, part []*ent.IdentityAliasCreate) error {
		return c.IdentityAlias.CreateBulk(part...).Exec(ctx)
	}); err != nil {
		return fmt.Errorf("link identity keys: %w", err)
	}
	b.fill = fill
	return nil
}

// errKeyTaken is a retryable failure: a key the batch links was linked to
// another profile by a concurrent writer; the retry resolves it afresh.
var errKeyTaken = errors.New("identity key linked to another profile meanwhile")

// pgLinkAliases inserts linked keys, letting a key that a concurrent batch
// linked to the same profile meanwhile pass (several consumers often see
// one person's new service id at once): only a key now owned by another
// profile fails the batch, for a retry that flags the conflict.
func (b *batch) pgLinkAliases(ctx context.Context, aliases []*ent.IdentityAliasCreate) error {
	inserted := 0
	err := pgBulkInsert(ctx, func(ctx context.Context, q string, args ...any) error {
		rows, err := b.tx.QueryContext(ctx, q+" ON CONFLICT (tenant_id, kind, value) DO NOTHING RETURNING 1", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			inserted++
		}
		return rows.Err()
	}, "identity_aliases", aliasColumns, "tenant_id", b.tenantID, mutations(aliases))
	if err != nil {
		return fmt.Errorf("link identity keys: %w", err)
	}
	if inserted == len(aliases) {
		return nil
	}
	want := map[identity.Key]uuid.UUID{}
	keys := make([]identity.Key, 0, len(aliases))
	for _, a := range aliases {
		m := a.Mutation()
		kind, _ := m.Kind()
		value, _ := m.Value()
		customer, _ := m.CustomerID()
		k := identity.Key{Kind: kind, Value: value}
		want[k] = customer
		keys = append(keys, k)
	}
	owners, err := identity.LookupOwners(ctx, b.tx.Client(), dialect.Postgres, keys)
	if err != nil {
		return fmt.Errorf("link identity keys: %w", err)
	}
	for k, customer := range want {
		if owners[k] != customer {
			return fmt.Errorf("link %s key: %w", k.Kind, errKeyTaken)
		}
	}
	return nil
}

// applyFacts writes the facts events asserted about existing profiles, and
// the key columns linking filled: on PostgreSQL with one UPDATE for the whole
// batch, on SQLite one per profile. Only profiles that really change are
// written.
func (b *batch) applyFacts(ctx context.Context, existing map[uuid.UUID]*ent.CustomerProfile) error {
	c := b.tx.Client()
	pg := b.p.cfg.Dialect == dialect.Postgres
	var ids []uuid.UUID
	var muts []ent.Mutation
	for id, p := range existing {
		facts := b.facts[id]
		fill := b.fill[id]
		stage, hasStage := b.stages[id]
		if len(facts) == 0 && len(fill) == 0 && !hasStage {
			continue
		}
		var f event.Facts
		for _, x := range facts {
			f = mergeFacts(f, x)
		}
		u := c.CustomerProfile.Update().Where(customerprofile.ID(id))
		m := u.Mutation()
		changed := false
		setStr := func(cur *string, v *string, set func(string)) *string {
			v = nonEmpty(v)
			if v != nil && deref(cur) != *v {
				set(*v)
				changed = true
				return v
			}
			return cur
		}
		first := setStr(p.FirstName, f.FirstName, m.SetFirstName)
		last := setStr(p.LastName, f.LastName, m.SetLastName)
		display := setStr(p.DisplayName, f.DisplayName, m.SetDisplayName)
		if f.DisplayName == nil && (f.FirstName != nil || f.LastName != nil) && (deref(p.DisplayName) == "" ||
			deref(p.DisplayName) == strings.TrimSpace(deref(p.FirstName)+" "+deref(p.LastName))) {
			// The display name followed the names; keep it following.
			display = setStr(p.DisplayName, ptr(strings.TrimSpace(deref(first)+" "+deref(last))), m.SetDisplayName)
		}
		setStr(p.HomeClubID, f.HomeClubID, m.SetHomeClubID)
		setStr(p.MembershipTier, f.MembershipTier, m.SetMembershipTier)
		setStr(p.MembershipStatus, f.MembershipStatus, m.SetMembershipStatus)
		if f.Handicap != nil && (p.Handicap == nil || *p.Handicap != *f.Handicap) {
			m.SetHandicap(*f.Handicap)
			changed = true
		}
		setBool := func(cur bool, v *bool, set func(bool)) {
			if v != nil && *v != cur {
				set(*v)
				changed = true
			}
		}
		setBool(p.EmailOptIn, f.EmailOptIn, m.SetEmailOptIn)
		setBool(p.SmsOptIn, f.SMSOptIn, m.SetSmsOptIn)
		setBool(p.PushOptIn, f.PushOptIn, m.SetPushOptIn)
		setBool(p.WhatsappOptIn, f.WhatsappOptIn, m.SetWhatsappOptIn)
		if len(f.Tags) > 0 {
			tags := normTags(append(slices.Clone(p.Tags), f.Tags...))
			if !slices.Equal(tags, p.Tags) {
				m.SetTags(tags)
				changed = true
			}
		}
		if len(f.Attributes) > 0 {
			attrs := maps.Clone(p.Attributes)
			if attrs == nil {
				attrs = map[string]any{}
			}
			maps.Copy(attrs, f.Attributes)
			m.SetAttributes(attrs)
			changed = true
		}
		if hasStage && (p.LifecycleStage == customerprofile.LifecycleStagePROSPECT || p.LifecycleStage == customerprofile.LifecycleStageGUEST) && p.LifecycleStage != stage {
			m.SetLifecycleStage(stage)
			changed = true
		}
		email, phone := deref(p.Email), deref(p.PhoneNumber)
		if len(fill) > 0 {
			setKeyColumns(m, fill)
			if x := fill[identityalias.KindMCA_V1_ZA_ID] + fill[identityalias.KindMCA_V1_UK_ID] + fill[identityalias.KindGOLF_RSA_ID]; x != "" {
				// External ids share one JSON column: keep the ones it had.
				ext := p.ExternalIds
				if v := fill[identityalias.KindMCA_V1_ZA_ID]; v != "" {
					ext.McaV1ZaID = ptr(v)
				}
				if v := fill[identityalias.KindMCA_V1_UK_ID]; v != "" {
					ext.McaV1UkID = ptr(v)
				}
				if v := fill[identityalias.KindGOLF_RSA_ID]; v != "" {
					ext.GolfRsaID = ptr(v)
				}
				m.SetExternalIds(ext)
			}
			if v := fill[identityalias.KindEMAIL]; v != "" {
				email = v
			}
			if v := fill[identityalias.KindPHONE]; v != "" {
				phone = v
			}
			changed = true
		}
		if !changed {
			continue
		}
		m.SetSearchText(identity.SearchText(deref(first), deref(last), deref(display), email, phone))
		m.SetUpdatedAt(b.now)
		b.touched[id] = true
		if pg {
			ids, muts = append(ids, id), append(muts, m)
			continue
		}
		if err := u.Exec(ctx); err != nil {
			return fmt.Errorf("update profile %s: %w", id, err)
		}
	}
	if len(muts) == 0 {
		return nil
	}
	err := pgBulkUpdate(ctx, func(ctx context.Context, q string, args ...any) error {
		_, err := b.tx.ExecContext(ctx, q, args...)
		return err
	}, "customer_profiles", factColumns, b.tenantID, ids, muts)
	if err != nil {
		return fmt.Errorf("update profiles: %w", err)
	}
	return nil
}

// factColumns are the profile columns applyFacts may set, with their types.
var factColumns = []column{
	{"first_name", "text", ""}, {"last_name", "text", ""}, {"display_name", "text", ""},
	{"home_club_id", "text", ""}, {"membership_tier", "text", ""}, {"membership_status", "text", ""},
	{"handicap", "float8", ""}, {"email_opt_in", "boolean", ""}, {"sms_opt_in", "boolean", ""},
	{"push_opt_in", "boolean", ""}, {"whatsapp_opt_in", "boolean", ""}, {"tags", "jsonb", ""},
	{"attributes", "jsonb", ""}, {"lifecycle_stage", "text", ""}, {"auth_user_id", "text", ""},
	{"email", "text", ""}, {"phone_number", "text", ""}, {"scl_member_id", "bigint", ""},
	{"teetime_player_id", "text", ""}, {"messaging_contact_id", "text", ""}, {"external_ids", "jsonb", ""},
	{"search_text", "text", ""}, {"updated_at", "timestamptz", ""},
}

// updateMetrics adds the batch's activity to the metrics of the existing
// profiles it touched: on PostgreSQL with one relative UPDATE over arrays (no
// read first; concurrent batches add up correctly), on SQLite from the rows
// read at the start of the batch.
func (b *batch) updateMetrics(ctx context.Context, existing map[uuid.UUID]*ent.CustomerProfile) error {
	ids := make([]uuid.UUID, 0, len(b.metrics))
	for id, m := range b.metrics {
		if _, isNew := b.created[id]; isNew || (m.last.IsZero() && m.acts30 == 0 && m.ltvCents == 0) {
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	if b.p.cfg.Dialect != dialect.Postgres {
		for _, id := range ids {
			m, p := b.metrics[id], existing[id]
			if p == nil {
				continue // deleted meanwhile
			}
			u := b.tx.CustomerProfile.Update().Where(customerprofile.ID(id)).
				SetActivityCount30d(p.ActivityCount30d + m.acts30).SetBookingCount30d(p.BookingCount30d + m.books30).
				SetLifetimeValue(p.LifetimeValue + m.ltvCents).SetUpdatedAt(b.now)
			if !m.last.IsZero() && (p.LastActivityAt == nil || p.LastActivityAt.Before(m.last)) {
				u.SetLastActivityAt(m.last)
			}
			if err := u.Exec(ctx); err != nil {
				return fmt.Errorf("update metrics: %w", err)
			}
		}
		return nil
	}
	n := len(ids)
	lasts := make([]string, n)
	acts, books, ltvs := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, id := range ids {
		m := b.metrics[id]
		if !m.last.IsZero() {
			lasts[i] = m.last.UTC().Format(time.RFC3339Nano)
		}
		acts[i], books[i], ltvs[i] = int64(m.acts30), int64(m.books30), m.ltvCents
	}
	_, err := b.tx.ExecContext(ctx, metricsSQL,
		b.now, b.tenantID, pgarray.UUID(ids), pgarray.Text(lasts), pq.Array(acts), pq.Array(books), pq.Array(ltvs))
	if err != nil {
		return fmt.Errorf("update metrics: %w", err)
	}
	return nil
}

// flagSimilarNames raises the spec's "name fuzzy + e-mail domain" candidates
// (confidence 60) for the profiles the batch created.
func (b *batch) flagSimilarNames(ctx context.Context) error {
	byLast := map[string][]*newProfile{}
	pairs := map[[2]string]bool{}
	for _, id := range b.createdIn {
		np := b.created[id]
		last, email := deref(nonEmpty(np.facts.LastName)), np.keys[identityalias.KindEMAIL]
		dom := identity.EmailDomain(email)
		if last == "" || email == "" || deref(nonEmpty(np.facts.FirstName)) == "" || identity.IsFreeMailDomain(dom) {
			continue
		}
		byLast[last] = append(byLast[last], np)
		// Only profiles with the last name and the e-mail domain can match:
		// the database filters both, so a common last name does not bring
		// back thousands of rows.
		pairs[[2]string{last, dom}] = true
	}
	if len(pairs) == 0 {
		return nil
	}
	others, err := b.sameNameAndDomain(ctx, pairs)
	if err != nil {
		return fmt.Errorf("look for similar names: %w", err)
	}
	for _, o := range others {
		for _, np := range byLast[deref(o.LastName)] {
			email := np.keys[identityalias.KindEMAIL]
			dom := identity.EmailDomain(email)
			if identity.EmailDomain(deref(o.Email)) != dom ||
				!identity.SimilarNames(deref(np.facts.FirstName), deref(np.facts.LastName), deref(o.FirstName), deref(o.LastName)) {
				continue
			}
			b.flag(np.id, o.ID, "NAME_AND_EMAIL_DOMAIN", 60, []schematype.Evidence{
				{Kind: "NAME", Value: strings.TrimSpace(deref(np.facts.FirstName) + " " + deref(np.facts.LastName)),
					Detail: "similar to " + strings.TrimSpace(deref(o.FirstName)+" "+deref(o.LastName))},
				{Kind: "EMAIL_DOMAIN", Value: dom, Detail: email + " and " + deref(o.Email)},
			})
		}
	}
	return nil
}

// maxSameNameAndDomain bounds the profiles compared with one new person.
const maxSameNameAndDomain = 1000

// sameNameAndDomain reads the existing profiles with one of the (last name,
// e-mail domain) pairs: on PostgreSQL one index probe per pair.
func (b *batch) sameNameAndDomain(ctx context.Context, pairs map[[2]string]bool) ([]*ent.CustomerProfile, error) {
	if b.p.cfg.Dialect != dialect.Postgres {
		same := make([]predicate.CustomerProfile, 0, len(pairs))
		for p := range pairs {
			same = append(same, customerprofile.And(customerprofile.LastName(p[0]), customerprofile.EmailHasSuffix("@"+p[1])))
		}
		return b.tx.CustomerProfile.Query().
			Where(customerprofile.Or(same...), customerprofile.IDNotIn(b.createdIn...)).
			Select(customerprofile.FieldID, customerprofile.FieldFirstName, customerprofile.FieldLastName, customerprofile.FieldEmail).
			All(ctx)
	}
	lasts, doms := make([]string, 0, len(pairs)), make([]string, 0, len(pairs))
	for p := range pairs {
		lasts, doms = append(lasts, p[0]), append(doms, p[1])
	}
	rows, err := b.tx.QueryContext(ctx, `SELECT c.id, c.first_name, c.last_name, c.email
FROM unnest($2::text[], $3::text[]) AS k(last_name, domain)
CROSS JOIN LATERAL (SELECT id, first_name, last_name, email FROM customer_profiles
  WHERE tenant_id = $1 AND last_name = k.last_name AND split_part(email, '@', 2) = k.domain AND id <> ALL($4::uuid[])
  LIMIT $5) AS c`, b.tenantID, pgarray.Text(lasts), pgarray.Text(doms), pgarray.UUID(b.createdIn), maxSameNameAndDomain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ent.CustomerProfile
	for rows.Next() {
		p := &ent.CustomerProfile{}
		if err := rows.Scan(&p.ID, &p.FirstName, &p.LastName, &p.Email); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// produce writes crm.profile.created for every profile the batch created.
func (b *batch) produce(ctx context.Context) error {
	if len(b.createdIn) == 0 {
		return nil
	}
	rows := make([]*ent.OutboxEventCreate, 0, len(b.createdIn))
	for _, id := range b.createdIn {
		np := b.created[id]
		data := map[string]any{"customerId": id, "source": np.source, "sourceEventId": np.eventID, "keys": np.keys}
		row, err := outboxRow(b.tx.Client(), b.tenantID, "crm.profile.created", data, b.now)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if b.p.cfg.Dialect == dialect.Postgres {
		return b.pgInsert(ctx, "outbox_events", outboxColumns, "", mutations(rows))
	}
	return insertChunks(ctx, rows, 500, func(ctx context.Context, part []*ent.OutboxEventCreate) error {
		return b.tx.OutboxEvent.CreateBulk(part...).Exec(ctx)
	})
}

// outboxRow builds a produced event in the envelope consumers read.
func outboxRow(c *ent.Client, tenantID uuid.UUID, typ string, data any, now time.Time) (*ent.OutboxEventCreate, error) {
	id := uuid.Must(uuid.NewV7())
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	env, err := json.Marshal(map[string]any{
		"id": id, "type": typ, "source": "rapport", "tenant": tenantID, "occurredAt": now.Format(time.RFC3339Nano), "data": json.RawMessage(raw),
	})
	if err != nil {
		return nil, err
	}
	return c.OutboxEvent.Create().SetID(id).SetOrganizationID(tenantID).SetType(typ).SetPayload(env).SetCreatedAt(now), nil
}

// recordRejections writes REJECTED sync log rows for invalid events whose
// tenant is known, so staff see what was refused and why. A redelivered
// rejection is ignored.
func (p *Pipeline) recordRejections(ctx context.Context, items []*item, results []Result) {
	if len(items) == 0 {
		return
	}
	org := items[0].org
	ctx = tenancy.WithTenant(ctx, org.ID)
	now := p.cfg.Now()
	builders := make([]*ent.SyncLogCreate, 0, len(items))
	for _, it := range items {
		builders = append(builders, syncLogCreate(p.cfg.Client.SyncLog.Create(), syncLogRow(it.env, synclog.StatusREJECTED, results[it.idx].Reason, nil, now)))
	}
	err := p.cfg.Client.SyncLog.CreateBulk(builders...).
		OnConflictColumns(synclog.FieldTenantID, synclog.FieldSource, synclog.FieldEventID).DoNothing().Exec(ctx)
	if err != nil && !errors.Is(err, errNoRows) {
		p.cfg.Logger.Warn("record rejected events", "err", err, "count", len(items))
	}
}

// afterCommit announces the batch's changes to live subscribers and wakes the
// outbox relay. A failure here loses a live notification, never data.
func (p *Pipeline) afterCommit(ctx context.Context, post *postCommit) {
	if post == nil {
		return
	}
	if post.outbox && p.cfg.OutboxWritten != nil {
		p.cfg.OutboxWritten()
	}
	if p.cfg.ProfilesChanged != nil {
		ids := make([]uuid.UUID, 0, len(post.changed)+len(post.activities))
		for id := range post.changed {
			ids = append(ids, id)
		}
		for _, a := range post.activities {
			if !post.changed[a.CustomerID] {
				ids = append(ids, a.CustomerID)
			}
		}
		p.cfg.ProfilesChanged(post.tenantID, ids)
	}
	if p.cfg.Publisher == nil {
		return
	}
	msgs := make([]pubsub.Message, 0, len(post.activities)+len(post.changed))
	for i, a := range post.activities {
		var meta []byte
		if i < len(post.metadata) {
			meta = post.metadata[i]
		}
		body, err := timeline.Encode(a, meta)
		if err != nil {
			p.cfg.Logger.Warn("encode live update", "err", err)
			continue
		}
		msgs = append(msgs, pubsub.Message{Topic: TimelineTopic(post.tenantID, a.CustomerID), Body: body})
	}
	for id := range post.changed {
		msgs = append(msgs, pubsub.Message{Topic: pubsub.CustomerTopic(post.tenantID, id), Body: []byte(id.String())})
	}
	if bp, ok := p.cfg.Publisher.(interface {
		PublishMany(context.Context, []pubsub.Message) error
	}); ok {
		if err := bp.PublishMany(ctx, msgs); err != nil {
			p.cfg.Logger.Warn("publish live updates", "err", err)
		}
		return
	}
	for _, m := range msgs {
		if err := p.cfg.Publisher.Publish(ctx, m.Topic, m.Body); err != nil {
			p.cfg.Logger.Warn("publish live updates", "err", err)
			return
		}
	}
}

// TimelineTopic is the pub/sub topic of one customer's new timeline entries.
func TimelineTopic(tenantID, customerID uuid.UUID) string {
	return timeline.Topic(tenantID, customerID)
}
