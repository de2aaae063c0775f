// Package outbox makes produced events as durable as the changes that cause
// them: Write inserts the event in the business transaction, and the Relay
// publishes committed events afterwards. An event is therefore never lost
// and never sent for a change that rolled back; it may be published more
// than once (a crash between publishing and marking), so consumers dedup on
// its id.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
)

// Source is the envelope's source for every event Rapport produces.
const Source = "rapport"

// Envelope is the JSON every produced event travels in.
type Envelope struct {
	// ID is the event id (the outbox row id, a UUIDv7) consumers dedup on.
	ID   uuid.UUID `json:"id"`
	Type string    `json:"type"`
	// Source is always "rapport".
	Source string `json:"source"`
	// Tenant is the organization id.
	Tenant string `json:"tenant"`
	// OccurredAt is when the change happened, UTC, RFC 3339 with nanoseconds.
	OccurredAt time.Time       `json:"occurredAt"`
	Data       json.RawMessage `json:"data"`
}

// Draft is one event for WriteMany.
type Draft struct {
	OrgID uuid.UUID
	Type  string
	// Data is marshalled to JSON; a json.RawMessage is taken as is.
	Data any
	// OccurredAt defaults to now.
	OccurredAt time.Time
}

// bulkChunk keeps one INSERT's parameters (8 per row) well under
// PostgreSQL's 65,535 limit.
const bulkChunk = 1000

// Write records an event in tx, the caller's business transaction, and
// returns its id. It is published only if tx commits; call Relay.Notify (or
// Relay.NotifyOnCommit before committing) to publish it without waiting for
// the relay's interval.
func Write(ctx context.Context, tx *ent.Tx, orgID uuid.UUID, eventType string, data any, occurredAt time.Time) (uuid.UUID, error) {
	ids, err := WriteMany(ctx, tx, []Draft{{OrgID: orgID, Type: eventType, Data: data, OccurredAt: occurredAt}})
	if err != nil {
		return uuid.Nil, err
	}
	return ids[0], nil
}

// WriteMany records several events in tx with multi-row inserts and returns
// their ids in order. Ids are generated here, in order, so the relay
// publishes the events in the order given.
func WriteMany(ctx context.Context, tx *ent.Tx, drafts []Draft) ([]uuid.UUID, error) {
	if tx == nil {
		return nil, errors.New("outbox: a transaction is required")
	}
	ids := make([]uuid.UUID, len(drafts))
	builders := make([]*ent.OutboxEventCreate, len(drafts))
	now := time.Now().UTC()
	for i, d := range drafts {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		payload, err := envelope(id, d, now)
		if err != nil {
			return nil, err
		}
		ids[i] = id
		builders[i] = tx.OutboxEvent.Create().
			SetID(id).
			SetOrganizationID(d.OrgID).
			SetType(d.Type).
			SetPayload(payload).
			SetCreatedAt(now)
	}
	for len(builders) > 0 {
		n := min(len(builders), bulkChunk)
		if err := tx.OutboxEvent.CreateBulk(builders[:n]...).Exec(ctx); err != nil {
			return nil, fmt.Errorf("outbox: write: %w", err)
		}
		builders = builders[n:]
	}
	return ids, nil
}

func envelope(id uuid.UUID, d Draft, now time.Time) ([]byte, error) {
	if d.Type == "" {
		return nil, errors.New("outbox: event type is required")
	}
	if d.OrgID == uuid.Nil {
		return nil, fmt.Errorf("outbox: %s: organization id is required", d.Type)
	}
	data, ok := d.Data.(json.RawMessage)
	if !ok {
		b, err := json.Marshal(d.Data)
		if err != nil {
			return nil, fmt.Errorf("outbox: encode %s data: %w", d.Type, err)
		}
		data = b
	}
	at := d.OccurredAt
	if at.IsZero() {
		at = now
	}
	b, err := json.Marshal(Envelope{
		ID:         id,
		Type:       d.Type,
		Source:     Source,
		Tenant:     d.OrgID.String(),
		OccurredAt: at.UTC(),
		Data:       data,
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: encode %s: %w", d.Type, err)
	}
	return b, nil
}
