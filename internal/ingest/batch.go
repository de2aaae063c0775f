package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/duplicatecandidate"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/predicate"
	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/ent/synclog"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/event"
	"github.com/rapportcrm/rapport/internal/identity"
	"github.com/rapportcrm/rapport/internal/pgarray"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// postCommit is what to announce once the batch is committed.
type postCommit struct {
	tenantID   uuid.UUID
	activities []*ent.Activity
	// metadata holds each activity's metadata as the insert encoded it
	// (nil on SQLite, whose insert does not).
	metadata [][]byte
	changed  map[uuid.UUID]bool
	outbox   bool
}

// metrics accumulates one profile's activity metrics from a batch.
type metrics struct {
	last     time.Time
	acts30   int
	books30  int
	ltvCents int64
}

// newProfile is a profile the batch creates.
type newProfile struct {
	id      uuid.UUID
	keys    identity.Keys
	facts   event.Facts
	stage   customerprofile.LifecycleStage
	source  string
	eventID string
	m       metrics
}

// batch is the working state of one tenant's batch.
type batch struct {
	p        *Pipeline
	tx       *ent.Tx
	tenantID uuid.UUID
	now      time.Time
	region   string
	// dry stops the batch once its events are resolved (CheckEvents).
	dry bool

	owners    identity.Owners
	created   map[uuid.UUID]*newProfile
	createdIn []uuid.UUID
	links     []linkedKey
	facts     map[uuid.UUID][]event.Facts
	stages    map[uuid.UUID]customerprofile.LifecycleStage
	metrics   map[uuid.UUID]*metrics
	cands     map[[2]uuid.UUID]*ent.DuplicateCandidateCreate
	acts      []*ent.Activity
	actMeta   [][]byte // acts' metadata encoded by the PostgreSQL insert
	logs      []*ent.SyncLog
	results   map[int]Result
	touched   map[uuid.UUID]bool
	fill      map[uuid.UUID]identity.Keys
	saved     []*ent.Activity
}

type linkedKey struct {
	customer uuid.UUID
	key      identity.Key
	source   string
}

// applyBatch runs one tenant's items in one transaction; a dry run
// resolves them and rolls back without writing.
func (p *Pipeline) applyBatch(ctx context.Context, items []*item, dry bool) (map[int]Result, *postCommit, error) {
	org := items[0].org
	ctx = tenancy.WithTenant(ctx, org.ID)
	ctx = audit.Suppress(audit.WithActor(ctx, audit.Actor{ID: items[0].env.Source, Type: "event"}))
	tx, err := p.cfg.Client.Tx(ctx)
	if err != nil {
		return nil, nil, err
	}
	b := &batch{
		p: p, tx: tx, tenantID: org.ID, now: p.cfg.Now(), region: org.DefaultPhoneRegion,
		created: map[uuid.UUID]*newProfile{}, facts: map[uuid.UUID][]event.Facts{},
		stages: map[uuid.UUID]customerprofile.LifecycleStage{}, metrics: map[uuid.UUID]*metrics{},
		cands: map[[2]uuid.UUID]*ent.DuplicateCandidateCreate{}, results: map[int]Result{},
		touched: map[uuid.UUID]bool{}, dry: dry,
	}
	post, err := b.run(ctx, items)
	if err != nil || dry {
		_ = tx.Rollback()
		if err != nil {
			return nil, nil, err
		}
		for i, r := range b.results {
			// Ids of rows a dry run never writes would name nothing.
			r.ActivityID = nil
			if r.Created {
				r.CustomerID = nil
			}
			b.results[i] = r
		}
		return b.results, nil, nil
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, err
	}
	return b.results, post, nil
}

func (b *batch) run(ctx context.Context, items []*item) (*postCommit, error) {
	fresh, err := b.dropDuplicates(ctx, items)
	if err != nil {
		return nil, err
	}
	// Normalize keys; a key that cannot be normalized rejects its event.
	type keyed struct {
		it   *item
		keys identity.Keys
	}
	var work []keyed
	var all []identity.Key
	for _, it := range fresh {
		if !it.effect.Personal {
			b.processed(it, nil, false)
			continue
		}
		keys, err := normalizeKeys(it.effect.Keys, b.region)
		if err == nil && len(keys) == 0 {
			err = &event.Error{Field: "data", Reason: "no usable identity key (auth user id, e-mail, phone or a service id)"}
		}
		if err != nil {
			b.reject(it, err.Error())
			continue
		}
		work = append(work, keyed{it, keys})
		all = append(all, keys.List()...)
	}
	b.owners, err = identity.LookupOwners(ctx, b.tx.Client(), b.p.cfg.Dialect, all)
	if err != nil {
		return nil, fmt.Errorf("look up identity keys: %w", err)
	}
	// Resolve each event in order; keys linked or created by earlier events of
	// the batch are visible to later ones through owners.
	for _, w := range work {
		b.resolve(w.it, w.keys)
	}
	if b.dry {
		return nil, nil
	}
	if err := b.write(ctx); err != nil {
		return nil, err
	}
	changed := b.touched
	for id := range b.created {
		changed[id] = true
	}
	post := &postCommit{tenantID: b.tenantID, changed: changed, outbox: len(b.created) > 0, activities: b.acts, metadata: b.actMeta}
	return post, nil
}

// dropDuplicates marks events already in the sync log, or repeated within
// the batch, as duplicates and returns the rest.
func (b *batch) dropDuplicates(ctx context.Context, items []*item) ([]*item, error) {
	done := map[[2]string]bool{}
	if b.p.cfg.Dialect == dialect.Postgres {
		// One probe of the unique index per event, whatever the statistics.
		// The tenant comes with each key, not as a constant: for a tenant
		// the statistics think empty (a new organization's first backfill)
		// the planner otherwise scans all of the tenant's rows per key, by
		// the (tenant, processed_at) index, or merge-joins the whole range.
		sources, ids := make([]string, len(items)), make([]string, len(items))
		for i, it := range items {
			sources[i], ids[i] = it.env.Source, it.env.ID
		}
		rows, err := b.tx.QueryContext(ctx, `SELECT k.source, k.event_id
FROM unnest(array_fill($1::uuid, ARRAY[cardinality($2::text[])]), $2::text[], $3::text[]) AS k(tenant_id, source, event_id)
CROSS JOIN LATERAL (SELECT 1 FROM sync_logs s
  WHERE s.tenant_id = k.tenant_id AND s.source = k.source AND s.event_id = k.event_id LIMIT 1) AS seen`,
			b.tenantID, pgarray.Text(sources), pgarray.Text(ids))
		if err != nil {
			return nil, fmt.Errorf("read sync log: %w", err)
		}
		for rows.Next() {
			var src, id string
			if err := rows.Scan(&src, &id); err != nil {
				rows.Close()
				return nil, err
			}
			done[[2]string{src, id}] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	} else {
		bySource := map[string][]string{}
		for _, it := range items {
			bySource[it.env.Source] = append(bySource[it.env.Source], it.env.ID)
		}
		var ors []predicate.SyncLog
		for src, ids := range bySource {
			ors = append(ors, synclog.And(synclog.Source(src), synclog.EventIDIn(ids...)))
		}
		seen, err := b.tx.SyncLog.Query().Where(synclog.Or(ors...)).
			Select(synclog.FieldSource, synclog.FieldEventID).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read sync log: %w", err)
		}
		for _, s := range seen {
			done[[2]string{s.Source, s.EventID}] = true
		}
	}
	var out []*item
	for _, it := range items {
		k := [2]string{it.env.Source, it.env.ID}
		if done[k] {
			b.results[it.idx] = Result{Source: it.env.Source, ID: it.env.ID, Type: it.env.Type, Status: Duplicate}
			continue
		}
		done[k] = true
		out = append(out, it)
	}
	return out, nil
}

func (b *batch) reject(it *item, reason string) {
	b.results[it.idx] = Result{Source: it.env.Source, ID: it.env.ID, Type: it.env.Type, Status: Rejected, Reason: reason}
	b.logs = append(b.logs, syncLogRow(it.env, synclog.StatusREJECTED, reason, nil, b.now))
}

func (b *batch) processed(it *item, customer *uuid.UUID, created bool) Result {
	r := Result{Source: it.env.Source, ID: it.env.ID, Type: it.env.Type, Status: Processed, CustomerID: customer, Created: created}
	b.results[it.idx] = r
	b.logs = append(b.logs, syncLogRow(it.env, synclog.StatusPROCESSED, "", customer, b.now))
	return r
}

func syncLogRow(env *event.Envelope, st synclog.Status, reason string, customer *uuid.UUID, now time.Time) *ent.SyncLog {
	l := &ent.SyncLog{ID: uuid.Must(uuid.NewV7()), Source: env.Source, EventID: env.ID, EventType: trunc(env.Type, 100),
		Status: st, CustomerID: customer, ProcessedAt: now}
	if !env.OccurredAt.IsZero() {
		l.OccurredAt = ptr(env.OccurredAt)
	}
	if reason != "" {
		l.Reason = ptr(trunc(reason, 2000))
	}
	return l
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// resolve decides the profile of one event and records its effects.
func (b *batch) resolve(it *item, keys identity.Keys) {
	m := identity.Decide(keys, b.owners)
	created := false
	id := m.CustomerID
	if id == uuid.Nil {
		id = uuid.Must(uuid.NewV7())
		created = true
		np := &newProfile{id: id, keys: identity.Keys{}, stage: stageFor(it.env.Type, ""), source: it.env.Source, eventID: it.env.ID}
		b.created[id] = np
		b.createdIn = append(b.createdIn, id)
		for _, k := range m.Unowned {
			if np.keys[k.Kind] == "" {
				np.keys[k.Kind] = k.Value
			} else {
				b.links = append(b.links, linkedKey{id, k, it.env.Source})
			}
			b.owners[k] = id
		}
	} else {
		np := b.created[id] // created earlier in this batch, not stored yet
		for _, k := range m.Unowned {
			if np != nil && np.keys[k.Kind] == "" {
				np.keys[k.Kind] = k.Value
			} else {
				b.links = append(b.links, linkedKey{id, k, it.env.Source})
			}
			b.owners[k] = id
		}
	}
	for _, c := range m.Conflicts {
		b.flag(id, c.CustomerID, "CONFLICTING_KEYS", c.Confidence, []schematype.Evidence{{
			Kind: string(c.Key.Kind), Value: c.Key.Value,
			Detail: fmt.Sprintf("%s event %s carried this key with keys of the other profile", it.env.Type, it.env.ID),
		}})
	}
	ef := it.effect
	if np, ok := b.created[id]; ok {
		np.facts = mergeFacts(np.facts, ef.Facts)
		if created {
			np.stage = stageFor(it.env.Type, "")
		}
	} else {
		if hasFacts(ef.Facts) {
			b.facts[id] = append(b.facts[id], ef.Facts)
		}
		if st := stageFor(it.env.Type, ""); st == customerprofile.LifecycleStageNEW_MEMBER {
			b.stages[id] = st
		}
		b.touched[id] = true
	}
	mt := b.metrics[id]
	if np, ok := b.created[id]; ok {
		mt = &np.m
	} else if mt == nil {
		mt = &metrics{}
		b.metrics[id] = mt
	}
	at := it.env.OccurredAt
	if ef.Activity != nil && ef.Activity.Category != "SYSTEM" {
		// System entries (imports, merges) are not engagement: they do not
		// move last activity or the 30-day counts.
		if at.After(mt.last) {
			mt.last = at
		}
		if at.After(b.now.AddDate(0, 0, -30)) {
			mt.acts30++
			if ef.Booking {
				mt.books30++
			}
		}
	}
	var actID *uuid.UUID
	if ef.Activity != nil {
		row := b.activityRow(id, it, ef.Activity)
		b.acts = append(b.acts, row)
		actID = &row.ID
	}
	mt.ltvCents += ef.AmountCents
	cid := id
	r := b.processed(it, &cid, created)
	r.Linked = len(m.Unowned)
	r.Flagged = len(m.Conflicts)
	r.ActivityID = actID
	b.results[it.idx] = r
}

func (b *batch) flag(a, c uuid.UUID, reason string, confidence int, ev []schematype.Evidence) {
	x, y := identity.Pair(a, c)
	k := [2]uuid.UUID{x, y}
	if _, ok := b.cands[k]; ok {
		return
	}
	b.cands[k] = b.tx.DuplicateCandidate.Create().SetCustomerAID(x).SetCustomerBID(y).
		SetReason(duplicatecandidate.Reason(reason)).SetConfidence(confidence).SetEvidence(ev).
		SetCreatedAt(b.now).SetUpdatedAt(b.now)
}

func (b *batch) activityRow(customer uuid.UUID, it *item, a *event.Activity) *ent.Activity {
	row := &ent.Activity{ID: uuid.Must(uuid.NewV7()), TenantID: b.tenantID, CustomerID: customer,
		Type: activity.Type(a.Type), Category: activity.Category(a.Category), Title: trunc(a.Title, 500),
		SourceService: it.env.Source, OccurredAt: it.env.OccurredAt, CreatedAt: b.now}
	if a.Channel != "" {
		row.Channel = ptr(a.Channel)
	}
	if a.Description != "" {
		row.Description = ptr(a.Description)
	}
	src := a.SourceID
	if src == "" {
		src = it.env.ID
	}
	row.SourceID = ptr(trunc(src, 255))
	md := a.Metadata
	if md == nil {
		md = map[string]any{}
	}
	md["eventId"] = it.env.ID
	md["eventType"] = it.env.Type
	row.Metadata = md
	return row
}

func stageFor(eventType string, _ string) customerprofile.LifecycleStage {
	switch eventType {
	case "member.created":
		return customerprofile.LifecycleStageNEW_MEMBER
	case "player.created", "teetime.booked", "teetime.completed":
		return customerprofile.LifecycleStageGUEST
	}
	return customerprofile.LifecycleStagePROSPECT
}

func hasFacts(f event.Facts) bool {
	return f.FirstName != nil || f.LastName != nil || f.DisplayName != nil || f.HomeClubID != nil ||
		f.MembershipTier != nil || f.MembershipStatus != nil || f.Handicap != nil ||
		f.EmailOptIn != nil || f.SMSOptIn != nil || f.PushOptIn != nil || f.WhatsappOptIn != nil ||
		len(f.Tags) > 0 || len(f.Attributes) > 0
}

// mergeFacts lays later facts over earlier ones.
func mergeFacts(a, later event.Facts) event.Facts {
	pick := func(x, y *string) *string {
		if y != nil {
			return y
		}
		return x
	}
	pickB := func(x, y *bool) *bool {
		if y != nil {
			return y
		}
		return x
	}
	a.FirstName, a.LastName, a.DisplayName = pick(a.FirstName, later.FirstName), pick(a.LastName, later.LastName), pick(a.DisplayName, later.DisplayName)
	a.HomeClubID = pick(a.HomeClubID, later.HomeClubID)
	a.MembershipTier, a.MembershipStatus = pick(a.MembershipTier, later.MembershipTier), pick(a.MembershipStatus, later.MembershipStatus)
	if later.Handicap != nil {
		a.Handicap = later.Handicap
	}
	a.EmailOptIn, a.SMSOptIn = pickB(a.EmailOptIn, later.EmailOptIn), pickB(a.SMSOptIn, later.SMSOptIn)
	a.PushOptIn, a.WhatsappOptIn = pickB(a.PushOptIn, later.PushOptIn), pickB(a.WhatsappOptIn, later.WhatsappOptIn)
	a.Tags = append(a.Tags, later.Tags...)
	if len(later.Attributes) > 0 {
		if a.Attributes == nil {
			a.Attributes = map[string]any{}
		}
		for k, v := range later.Attributes {
			a.Attributes[k] = v
		}
	}
	return a
}

// normalizeKeys turns an event's identity block into keys; placeholders are
// dropped, an unparseable e-mail or phone is an error.
func normalizeKeys(id event.Identity, region string) (identity.Keys, error) {
	k := identity.Keys{}
	if id.Email != nil {
		e, err := identity.NormalizeEmail(*id.Email)
		if err != nil {
			return nil, &event.Error{Field: "data.email", Reason: err.Error()}
		}
		if e != "" {
			k[identityalias.KindEMAIL] = e
		}
	}
	if id.PhoneNumber != nil && strings.TrimSpace(*id.PhoneNumber) != "" {
		ph, err := identity.NormalizePhone(*id.PhoneNumber, region)
		if err != nil {
			return nil, &event.Error{Field: "data.phoneNumber", Reason: err.Error()}
		}
		if ph != "" {
			k[identityalias.KindPHONE] = ph
		}
	}
	put := func(kind identity.Kind, v *string) {
		if v != nil {
			if s := identity.NormalizeID(*v); s != "" {
				k[kind] = s
			}
		}
	}
	put(identityalias.KindAUTH_USER_ID, id.AuthUserID)
	if id.SCLMemberID != nil {
		k[identityalias.KindSCL_MEMBER_ID] = strconv.FormatInt(*id.SCLMemberID, 10)
	}
	put(identityalias.KindTEETIME_PLAYER_ID, id.TeetimePlayerID)
	put(identityalias.KindMESSAGING_CONTACT_ID, id.MessagingContactID)
	if x := id.ExternalIDs; x != nil {
		put(identityalias.KindMCA_V1_ZA_ID, x.McaV1ZaID)
		put(identityalias.KindMCA_V1_UK_ID, x.McaV1UkID)
		put(identityalias.KindGOLF_RSA_ID, x.GolfRsaID)
	}
	return k, nil
}

// write stores everything the batch decided. The existing profiles it
// changes are locked last, just before their update, so a row lock is held
// for the last statements and the commit only, not the whole batch: several
// consumers (and the scoring follow-up) touch the same busy profiles.
func (b *batch) write(ctx context.Context) error {
	c := b.tx.Client()
	if err := b.createProfiles(ctx); err != nil {
		return err
	}
	if err := b.flagSimilarNames(ctx); err != nil {
		return err
	}
	if len(b.cands) > 0 {
		builders := make([]*ent.DuplicateCandidateCreate, 0, len(b.cands))
		for _, cb := range b.cands {
			builders = append(builders, cb)
		}
		err := c.DuplicateCandidate.CreateBulk(builders...).
			OnConflictColumns(duplicatecandidate.FieldTenantID, duplicatecandidate.FieldCustomerAID, duplicatecandidate.FieldCustomerBID).
			DoNothing().Exec(ctx)
		if err != nil && !errors.Is(err, errNoRows) {
			return fmt.Errorf("write duplicate candidates: %w", err)
		}
	}
	if err := b.insertActivities(ctx); err != nil {
		return fmt.Errorf("write activities: %w", err)
	}
	if err := b.insertSyncLogs(ctx); err != nil {
		return fmt.Errorf("write sync log: %w", err)
	}
	if err := b.produce(ctx); err != nil {
		return err
	}
	existing, err := b.lockProfiles(ctx)
	if err != nil {
		return err
	}
	if err := b.linkKeys(ctx, existing); err != nil {
		return err
	}
	if err := b.applyFacts(ctx, existing); err != nil {
		return err
	}
	return b.updateMetrics(ctx, existing)
}

// The statements that write chosen profiles compare the tenant as a
// sub-select, a value known only at run time: as a constant it is estimated
// from the statistics, which for a new organization (its first import or
// events, before ANALYZE) say it has no rows, and PostgreSQL then reads all
// of its profiles by a tenant index for each batch instead of probing the
// primary key with the batch's ids.
const (
	// lockSQL locks the profiles $2 of tenant $1 in id order and counts them.
	lockSQL = `SELECT count(*) FROM (SELECT id FROM customer_profiles
  WHERE tenant_id = (SELECT $1::uuid) AND id = ANY($2::uuid[]) ORDER BY id FOR NO KEY UPDATE) AS locked`
	// metricsSQL adds a batch's activity to the metrics of profiles.
	metricsSQL = `UPDATE customer_profiles AS p SET
  last_activity_at = GREATEST(p.last_activity_at, NULLIF(v.last, '')::timestamptz),
  activity_count_30d = p.activity_count_30d + v.acts, booking_count_30d = p.booking_count_30d + v.books,
  lifetime_value = p.lifetime_value + v.ltv, updated_at = $1
FROM unnest($3::uuid[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[]) AS v(id, last, acts, books, ltv)
WHERE p.id = v.id AND p.tenant_id = (SELECT $2::uuid)`
)

// errProfileGone is a retryable failure: a profile the batch writes to was
// removed by a concurrent delete or merge.
var errProfileGone = errors.New("a profile of the batch was removed meanwhile")

// readColumns are the profile columns linkKeys, applyFacts and (on SQLite)
// updateMetrics read.
var readColumns = []string{
	customerprofile.FieldID, customerprofile.FieldAuthUserID, customerprofile.FieldEmail, customerprofile.FieldPhoneNumber,
	customerprofile.FieldSclMemberID, customerprofile.FieldTeetimePlayerID, customerprofile.FieldMessagingContactID,
	customerprofile.FieldExternalIds, customerprofile.FieldFirstName, customerprofile.FieldLastName, customerprofile.FieldDisplayName,
	customerprofile.FieldLifecycleStage, customerprofile.FieldTags, customerprofile.FieldHandicap, customerprofile.FieldHomeClubID,
	customerprofile.FieldMembershipTier, customerprofile.FieldMembershipStatus, customerprofile.FieldEmailOptIn,
	customerprofile.FieldSmsOptIn, customerprofile.FieldPushOptIn, customerprofile.FieldWhatsappOptIn, customerprofile.FieldAttributes,
	customerprofile.FieldLifetimeValue, customerprofile.FieldLastActivityAt, customerprofile.FieldActivityCount30d,
	customerprofile.FieldBookingCount30d,
}

// lockProfiles locks the existing profiles the batch updates and reads those
// whose fields it changes (facts, linked keys, stage). On PostgreSQL the rows
// are locked in id order, so concurrent batches never deadlock, and FOR NO
// KEY UPDATE, which the key-share locks of other batches' activity inserts
// (the foreign key) do not block. Profiles that only gain activity are
// locked but not read: their metrics are updated relatively. SQLite, a
// single writer, reads them all.
func (b *batch) lockProfiles(ctx context.Context) (map[uuid.UUID]*ent.CustomerProfile, error) {
	pg := b.p.cfg.Dialect == dialect.Postgres
	need := map[uuid.UUID]bool{}
	for id := range b.facts {
		need[id] = true
	}
	for id := range b.stages {
		need[id] = true
	}
	for _, l := range b.links {
		if _, isNew := b.created[l.customer]; !isNew {
			need[l.customer] = true
		}
	}
	if !pg {
		for id := range b.touched {
			need[id] = true
		}
	}
	existing := map[uuid.UUID]*ent.CustomerProfile{}
	if pg {
		lock := make([]uuid.UUID, 0, len(b.metrics)+len(need))
		for id := range b.metrics {
			if _, isNew := b.created[id]; !isNew && !need[id] {
				lock = append(lock, id)
			}
		}
		for id := range need {
			lock = append(lock, id)
		}
		if len(lock) > 0 {
			rows, err := b.tx.QueryContext(ctx, lockSQL, b.tenantID, pgarray.UUID(lock))
			if err != nil {
				return nil, fmt.Errorf("lock profiles: %w", err)
			}
			n := 0
			for rows.Next() {
				err = rows.Scan(&n)
			}
			if err == nil {
				err = rows.Err()
			}
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("lock profiles: %w", err)
			}
			if n != len(lock) {
				// A profile was deleted or merged away since the batch
				// resolved to it: its activities and keys must not be
				// written (no foreign key stops them). The retry resolves
				// the events afresh.
				return nil, errProfileGone
			}
		}
	}
	if len(need) == 0 {
		return existing, nil
	}
	ids := make([]uuid.UUID, 0, len(need))
	for id := range need {
		ids = append(ids, id)
	}
	// Only the columns the batch compares and merges: the rest (scores and
	// their components, search text) would only cost decoding.
	rows, err := b.tx.CustomerProfile.Query().Where(customerprofile.IDIn(ids...)).Select(readColumns...).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	for _, r := range rows {
		existing[r.ID] = r
	}
	return existing, nil
}

var errNoRows = errors.New("sql: no rows in result set")

func insertChunks[T any](ctx context.Context, rows []T, size int, exec func(context.Context, []T) error) error {
	for start := 0; start < len(rows); start += size {
		if err := exec(ctx, rows[start:min(start+size, len(rows))]); err != nil {
			return err
		}
	}
	return nil
}
