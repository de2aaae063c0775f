// Package merge merges duplicate customer profiles into one and undoes a
// merge exactly: everything a merge changes is kept in its MergeRecord so the
// absorbed profiles come back with their ids, fields, keys, timeline and notes.
package merge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/customernote"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/customer"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// MaxMerged is how many profiles one merge may absorb.
const MaxMerged = 20

// EventMerged is the type of the event a merge produces.
const EventMerged = "crm.profile.merged"

// EventUnmerged is the type of the event an unmerge produces (same data as
// EventMerged), so Messaging can split the contacts it linked again.
const EventUnmerged = "crm.profile.unmerged"

// The audit actions of the entries a merge and an unmerge write.
const (
	ActionMerged   = "customer.merged"
	ActionUnmerged = "customer.unmerged"
)

// maxTags mirrors the customer package's limit: a merge must not create a
// profile that an ordinary edit could not.
const maxTags = 100

// idChunk bounds the ids bound in one statement: far below PostgreSQL's
// 65,535 and SQLite's 32,766 parameters, and still few round trips for the
// tens of thousands of timeline entries a long-lived profile has.
const idChunk = 5000

// auditChunk is how many audit entries go in one insert (about ten
// parameters each).
const auditChunk = 1000

// Service merges profiles and undoes merges.
type Service struct {
	client   *ent.Client
	dialect  string
	notifier customer.Notifier
	now      func() time.Time
}

// NewService returns a Service; dialectName is "postgres" or "sqlite3" (rows
// are locked on PostgreSQL only, SQLite serializes writers) and notifier may
// be nil.
func NewService(client *ent.Client, dialectName string, notifier customer.Notifier) *Service {
	return &Service{client: client, dialect: dialectName, notifier: notifier, now: func() time.Time { return time.Now().UTC() }}
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

// lockProfiles reads the profiles for change. On PostgreSQL their rows are
// locked in id order, so two merges over overlapping profiles queue instead
// of deadlocking, and a profile a concurrent merge deleted reads as missing.
func (s *Service) lockProfiles(ctx context.Context, tx *ent.Tx, ids []uuid.UUID) (map[uuid.UUID]*ent.CustomerProfile, error) {
	q := tx.CustomerProfile.Query().Where(customerprofile.IDIn(ids...)).Order(customerprofile.ByID())
	if s.dialect == dialect.Postgres {
		q.ForUpdate()
	}
	rows, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock profiles: %w", err)
	}
	out := make(map[uuid.UUID]*ent.CustomerProfile, len(rows))
	for _, p := range rows {
		out[p.ID] = p
	}
	return out, nil
}

// moveNotes points notes at another profile. It is plain SQL on purpose:
// customer_id is immutable for every other writer (a note never changes
// hands except by a merge), and ent's update builder would also stamp
// updated_at, which an exact unmerge could not put back. Raw SQL bypasses
// the tenant interceptor, so the tenant is filtered here; on PostgreSQL the
// transaction's row-level security setting applies as well. The moves are
// audited as one entry per note.
func (s *Service) moveNotes(ctx context.Context, tx *ent.Tx, tenantID uuid.UUID, noteIDs []uuid.UUID, from map[uuid.UUID]uuid.UUID, to uuid.UUID, action string) error {
	for _, chunk := range chunks(noteIDs) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		q, qargs := entsql.Dialect(s.dialect).Update(customernote.Table).
			Set(customernote.FieldCustomerID, to).
			Where(entsql.And(
				entsql.EQ(customernote.FieldTenantID, tenantID),
				entsql.In(customernote.FieldID, args...),
			)).Query()
		if _, err := tx.ExecContext(ctx, q, qargs...); err != nil {
			return fmt.Errorf("move notes: %w", err)
		}
	}
	entries := make([]audit.Entry, 0, auditChunk)
	for i, id := range noteIDs {
		entries = append(entries, audit.Entry{
			Action: action, EntityType: "CustomerNote", EntityID: id,
			Changes: map[string]any{customernote.FieldCustomerID: map[string]any{"before": from[id], "after": to}},
		})
		// WriteMany inserts in one statement; chunks keep its parameters
		// under PostgreSQL's limit for a profile with very many notes.
		if len(entries) == auditChunk || i == len(noteIDs)-1 {
			if err := audit.WriteMany(ctx, tx.Client(), entries); err != nil {
				return err
			}
			entries = entries[:0]
		}
	}
	return nil
}

func (s *Service) notify(ctx context.Context, ids ...uuid.UUID) {
	if s.notifier == nil {
		return
	}
	tid, ok := tenancy.FromContext(ctx)
	if !ok {
		return
	}
	for _, id := range ids {
		s.notifier.CustomerChanged(ctx, tid, id)
	}
}

func tenantOf(ctx context.Context) (uuid.UUID, error) {
	tid, ok := tenancy.FromContext(ctx)
	if !ok {
		return uuid.Nil, apperr.New(apperr.Unauthenticated, "no organization in context")
	}
	return tid, nil
}

func profileNotFound(id uuid.UUID) error {
	return apperr.New(apperr.NotFound, "customer %s not found", id)
}

func chunks(ids []uuid.UUID) [][]uuid.UUID {
	var out [][]uuid.UUID
	for len(ids) > 0 {
		n := min(len(ids), idChunk)
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	return out
}

// constraintConflict turns a unique violation, which only a concurrent
// writer can cause after the checks, into a CONFLICT the caller may retry.
func constraintConflict(err error) error {
	if ent.IsConstraintError(err) {
		return apperr.New(apperr.Conflict, "an identity key of these customers changed concurrently; retry")
	}
	return err
}
