// Package ingest turns consumed events into their effects: identity
// resolution, timeline entries, profile updates, duplicate candidates and
// produced events, committed together with the event's SyncLog row so that
// each event takes effect exactly once however often it is delivered.
//
// Events are processed in batches with set-based statements (one lookup for
// all identity keys, multi-row inserts, one metrics update), which is what
// makes thousands of events per second possible; a batch that fails is split
// so one bad event never holds back the others.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/event"
	"github.com/rapportcrm/rapport/internal/organization"
)

// Status is what became of one event.
type Status string

// The statuses of a processed event.
const (
	// Processed: the effects are committed.
	Processed Status = "processed"
	// Duplicate: the event was processed before; nothing changed.
	Duplicate Status = "duplicate"
	// Rejected: the event is invalid and never will be valid; it is recorded
	// with the reason and should be dead-lettered.
	Rejected Status = "rejected"
	// Failed: a transient failure (database unreachable, ...); retry later.
	Failed Status = "failed"
)

// Result is the outcome of one event.
type Result struct {
	Source string `json:"source,omitempty"`
	ID     string `json:"id,omitempty"`
	Type   string `json:"type,omitempty"`
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// CustomerID is the profile the event was applied to.
	CustomerID *uuid.UUID `json:"customerId,omitempty"`
	// Created is true when the event created the profile.
	Created bool `json:"created,omitempty"`
	// Linked counts identity keys newly linked to the profile.
	Linked int `json:"linked,omitempty"`
	// Flagged counts duplicate candidates raised for review.
	Flagged int `json:"flagged,omitempty"`
	// ActivityID is the timeline entry written (none in a dry run).
	ActivityID *uuid.UUID `json:"activityId,omitempty"`
	// Err is set for Failed.
	Err error `json:"-"`
}

// Publisher fans live updates out to subscribers after commit.
type Publisher interface {
	Publish(ctx context.Context, topic string, msg []byte) error
}

// Config holds the pipeline's dependencies.
type Config struct {
	Client  *ent.Client
	Dialect string
	Orgs    *organization.Resolver
	// Publisher receives timeline and profile updates after commit; may be nil.
	Publisher Publisher
	// OutboxWritten is called after a commit that wrote produced events, to
	// wake the relay; may be nil.
	OutboxWritten func()
	// ProfilesChanged is called after a commit with the profiles the batch
	// created or changed (rescoring and segment follow-up); may be nil. It
	// must not block.
	ProfilesChanged func(tenantID uuid.UUID, ids []uuid.UUID)
	// Now is the clock (UTC); defaults to time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Pipeline processes events.
type Pipeline struct {
	cfg Config
}

// New returns a pipeline.
func New(cfg Config) *Pipeline {
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Pipeline{cfg: cfg}
}

// item is one decoded event on its way through a batch.
type item struct {
	idx     int
	env     *event.Envelope
	payload event.Payload
	effect  event.Effect
	org     *ent.Organization
}

// maxAttempts bounds the retries of a batch that lost a race (a key linked,
// a row locked by another replica) before it is split.
const maxAttempts = 4

// Process applies a batch of raw envelopes and returns one result per
// envelope, in order. Effects are committed before it returns.
func (p *Pipeline) Process(ctx context.Context, raws [][]byte) []Result {
	return p.apply(ctx, decodeEvents(raws), false)
}

// decodeEvents runs event.Decode on raw envelopes.
func decodeEvents(raws [][]byte) []decodedEvent {
	decoded := make([]decodedEvent, len(raws))
	for i, raw := range raws {
		decoded[i].env, decoded[i].payload, decoded[i].err = event.Decode(raw)
	}
	return decoded
}

// Event is an envelope with its payload built in Go, for ProcessEvents.
type Event struct {
	Envelope event.Envelope
	Payload  event.Payload
}

// ProcessEvents is Process for events built in the same process: each is
// checked as Process checks what it decodes (event.Check), without the
// JSON encoding and decoding in between.
func (p *Pipeline) ProcessEvents(ctx context.Context, events []Event) []Result {
	return p.apply(ctx, checkEvents(events), false)
}

// CheckEvents says what ProcessEvents would do with events and writes
// nothing: each result is processed (Created, or linked to the profile in
// CustomerID), duplicate (processed before) or rejected with its reason, as
// the events' transaction found them before it was rolled back. Events of
// one call see each other's would-be profiles; those of separate calls do
// not, and nothing is recorded, rejections included.
func (p *Pipeline) CheckEvents(ctx context.Context, events []Event) []Result {
	return p.apply(ctx, checkEvents(events), true)
}

// Check is CheckEvents for raw envelopes: what Process would do with them.
func (p *Pipeline) Check(ctx context.Context, raws [][]byte) []Result {
	return p.apply(ctx, decodeEvents(raws), true)
}

// checkEvents runs event.Check on events built in Go.
func checkEvents(events []Event) []decodedEvent {
	decoded := make([]decodedEvent, len(events))
	for i := range events {
		env := events[i].Envelope
		d := &decoded[i]
		d.env = &env
		if d.err = event.Check(d.env, events[i].Payload); d.err == nil {
			d.payload = events[i].Payload
		}
	}
	return decoded
}

// decodedEvent is one event of a batch as read: its envelope (nil when it
// was not even JSON), its payload, or why it is invalid.
type decodedEvent struct {
	env     *event.Envelope
	payload event.Payload
	err     error
}

// apply groups a batch's events by organization and applies each group;
// a dry run rolls every group back and records no rejection.
func (p *Pipeline) apply(ctx context.Context, events []decodedEvent, dry bool) []Result {
	results := make([]Result, len(events))
	groups := map[uuid.UUID][]*item{}
	var orgOrder []uuid.UUID
	var rejectedByOrg = map[uuid.UUID][]*item{}
	for i, d := range events {
		env, payload, err := d.env, d.payload, d.err
		if env != nil {
			results[i].Source, results[i].ID, results[i].Type = env.Source, env.ID, env.Type
		}
		var org *ent.Organization
		if env != nil && env.Tenant != "" {
			o, lerr := p.cfg.Orgs.Lookup(ctx, env.Tenant)
			switch {
			case lerr == nil:
				org = o
			case isNotFound(lerr):
				if err == nil {
					err = &event.Error{Field: "tenant", Reason: fmt.Sprintf("no organization %q", env.Tenant)}
				}
			default:
				results[i] = Result{Source: env.Source, ID: env.ID, Type: env.Type, Status: Failed, Reason: lerr.Error(), Err: lerr}
				continue
			}
		}
		if err != nil {
			results[i].Status, results[i].Reason = Rejected, err.Error()
			if org != nil && env.ID != "" && env.Source != "" {
				// Record the rejection where staff can see it.
				rejectedByOrg[org.ID] = append(rejectedByOrg[org.ID], &item{idx: i, env: env, org: org})
			}
			continue
		}
		it := &item{idx: i, env: env, payload: payload, effect: payload.Effect(), org: org}
		if _, ok := groups[org.ID]; !ok {
			orgOrder = append(orgOrder, org.ID)
		}
		groups[org.ID] = append(groups[org.ID], it)
	}
	for _, orgID := range orgOrder {
		p.processGroup(ctx, groups[orgID], results, dry)
	}
	for _, items := range rejectedByOrg {
		if !dry {
			p.recordRejections(ctx, items, results)
		}
	}
	return results
}

// processGroup applies one tenant's events: the whole group in one
// transaction, retried when it lost a race, split in halves when it fails
// otherwise, down to single events whose failure is then their own.
func (p *Pipeline) processGroup(ctx context.Context, items []*item, results []Result, dry bool) {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		var out map[int]Result
		var post *postCommit
		out, post, err = p.applyBatch(ctx, items, dry)
		if err == nil {
			for i, r := range out {
				results[i] = r
			}
			if !dry {
				p.afterCommit(ctx, post)
			}
			return
		}
		if !retryable(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt*attempt) * 5 * time.Millisecond)
	}
	if len(items) > 1 && ctx.Err() == nil {
		mid := len(items) / 2
		p.processGroup(ctx, items[:mid], results, dry)
		p.processGroup(ctx, items[mid:], results, dry)
		return
	}
	for _, it := range items {
		r := Result{Source: it.env.Source, ID: it.env.ID, Type: it.env.Type}
		if permanent(err) {
			r.Status, r.Reason = Rejected, err.Error()
			results[it.idx] = r
			if !dry {
				p.recordRejections(ctx, []*item{it}, results)
			}
			continue
		}
		r.Status, r.Reason, r.Err = Failed, err.Error(), err
		results[it.idx] = r
	}
}

// retryable reports whether a batch failed because it raced another writer
// (unique key taken meanwhile, deadlock, serialization, SQLite busy).
func retryable(err error) bool {
	if ent.IsConstraintError(err) || errors.Is(err, errKeyTaken) || errors.Is(err, errProfileGone) {
		return true
	}
	var pqe *pq.Error
	if errors.As(err, &pqe) {
		switch pqe.Code {
		case "23505", "40001", "40P01", "55P03":
			return true
		}
	}
	s := err.Error()
	return strings.Contains(s, "database is locked") || strings.Contains(s, "SQLITE_BUSY")
}

// permanent reports whether an error is about the event's data, so retrying
// cannot help.
func permanent(err error) bool {
	var ee *event.Error
	if errors.As(err, &ee) {
		return true
	}
	if ent.IsValidationError(err) {
		return true
	}
	var pqe *pq.Error
	if errors.As(err, &pqe) {
		// Class 22: data exception (value too long, invalid text, ...).
		return strings.HasPrefix(string(pqe.Code), "22")
	}
	return false
}

func isNotFound(err error) bool {
	return apperr.Is(err, apperr.Unauthenticated) || apperr.Is(err, apperr.NotFound) || ent.IsNotFound(err)
}
