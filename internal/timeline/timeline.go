// Package timeline reads customers' activity timelines and records the
// interactions staff log by hand.
package timeline

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/pubsub"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// Publisher announces new entries to live subscribers.
type Publisher interface {
	Publish(ctx context.Context, topic string, msg []byte) error
}

// Topic is the pub/sub topic of one customer's new timeline entries.
func Topic(tenantID, customerID uuid.UUID) string {
	return "timeline:" + tenantID.String() + ":" + customerID.String()
}

// Service logs interactions and reads timelines.
type Service struct {
	client    *ent.Client
	publisher Publisher
	now       func() time.Time
}

// NewService returns a Service; publisher may be nil.
func NewService(client *ent.Client, publisher Publisher) *Service {
	return &Service{client: client, publisher: publisher, now: func() time.Time { return time.Now().UTC() }}
}

// Filter narrows a timeline.
type Filter struct {
	Categories []activity.Category
	Types      []activity.Type
	Since      *time.Time
	Until      *time.Time
}

// Query returns the customer's timeline query with the filter applied; the
// caller paginates it newest first.
func (s *Service) Query(customerID uuid.UUID, f Filter) *ent.ActivityQuery {
	q := s.client.Activity.Query().Where(activity.CustomerID(customerID))
	if len(f.Categories) > 0 {
		q.Where(activity.CategoryIn(f.Categories...))
	}
	if len(f.Types) > 0 {
		q.Where(activity.TypeIn(f.Types...))
	}
	if f.Since != nil {
		q.Where(activity.OccurredAtGTE(f.Since.UTC()))
	}
	if f.Until != nil {
		q.Where(activity.OccurredAtLT(f.Until.UTC()))
	}
	return q
}

// Interaction is a contact staff log by hand.
type Interaction struct {
	CustomerID uuid.UUID
	Type       activity.Type
	Channel    string
	Direction  *activity.Direction
	Subject    string
	Notes      string
	OccurredAt *time.Time
	StaffID    string
	Metadata   map[string]any
}

// interactionCategory files the suite's interaction types: calls and
// e-mails are communication, meetings and visits are support.
var interactionCategory = map[activity.Type]activity.Category{
	activity.TypeCALL:    activity.CategoryCOMMUNICATION,
	activity.TypeEMAIL:   activity.CategoryCOMMUNICATION,
	activity.TypeMEETING: activity.CategorySUPPORT,
	activity.TypeVISIT:   activity.CategorySUPPORT,
	activity.TypeOTHER:   activity.CategorySUPPORT,
}

// AddInteraction validates and records an interaction, and updates the
// customer's activity metrics in the same transaction.
func (s *Service) AddInteraction(ctx context.Context, in Interaction) (*ent.Activity, error) {
	cat, ok := interactionCategory[in.Type]
	if !ok {
		return nil, apperr.InvalidField("input.type", "staff can log CALL, EMAIL, MEETING, VISIT or OTHER, not %s", in.Type)
	}
	subject := strings.TrimSpace(in.Subject)
	if subject == "" || len(subject) > 500 {
		return nil, apperr.InvalidField("input.subject", "a subject of 1 to 500 characters is required")
	}
	notes := strings.TrimSpace(in.Notes)
	if len(notes) > 20000 {
		return nil, apperr.InvalidField("input.notes", "at most 20000 characters")
	}
	channel := strings.ToUpper(strings.TrimSpace(in.Channel))
	if len(channel) > 50 {
		return nil, apperr.InvalidField("input.channel", "at most 50 characters")
	}
	now := s.now()
	at := now
	if in.OccurredAt != nil {
		at = in.OccurredAt.UTC()
		if at.After(now.Add(5 * time.Minute)) {
			return nil, apperr.InvalidField("input.occurredAt", "may not be in the future")
		}
	}
	staff := strings.TrimSpace(in.StaffID)
	if len(staff) > 255 {
		return nil, apperr.InvalidField("input.staffID", "at most 255 characters")
	}
	if in.Metadata != nil {
		if b, err := json.Marshal(in.Metadata); err != nil || len(b) > 16<<10 {
			return nil, apperr.InvalidField("input.metadata", "must be a JSON object of at most 16 KiB")
		}
	}
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	p, err := tx.CustomerProfile.Query().Where(customerprofile.ID(in.CustomerID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "customer %s not found", in.CustomerID)
	}
	if err != nil {
		return nil, err
	}
	c := tx.Activity.Create().SetCustomerID(p.ID).SetType(in.Type).SetCategory(cat).
		SetTitle(subject).SetSourceService("crm").SetOccurredAt(at).SetCreatedAt(now).
		SetNillableDirection(in.Direction)
	if channel != "" {
		c.SetChannel(channel)
	}
	if notes != "" {
		c.SetDescription(notes)
	}
	if staff != "" {
		c.SetStaffID(staff)
	}
	if in.Metadata != nil {
		c.SetMetadata(in.Metadata)
	}
	a, err := c.Save(ctx)
	if err != nil {
		return nil, err
	}
	u := tx.CustomerProfile.Update().Where(customerprofile.ID(p.ID)).SetUpdatedAt(now)
	if p.LastActivityAt == nil || p.LastActivityAt.Before(at) {
		u.SetLastActivityAt(at)
	}
	if at.After(now.AddDate(0, 0, -30)) {
		u.AddActivityCount30d(1)
	}
	// The profile row is locked from here to the commit; zero rows means it
	// was deleted since it was read, and the entry must not outlive it (on
	// PostgreSQL no foreign key would stop it).
	n, err := u.Save(ctx)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, apperr.New(apperr.NotFound, "customer %s not found", in.CustomerID)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.announce(ctx, a)
	return a, nil
}

// announce tells live subscribers about a new entry; losing it loses a live
// update, never data.
func (s *Service) announce(ctx context.Context, a *ent.Activity) {
	if s.publisher == nil {
		return
	}
	tid, _ := tenancy.FromContext(ctx)
	if b, err := Encode(a, nil); err == nil {
		_ = s.publisher.Publish(ctx, Topic(tid, a.CustomerID), b)
	}
	// The profile changed too (last activity, counts): a publisher that
	// follows profile changes (rescoring, segments) is told as such.
	if n, ok := s.publisher.(interface {
		CustomerChanged(ctx context.Context, tenantID, customerID uuid.UUID)
	}); ok {
		n.CustomerChanged(ctx, tid, a.CustomerID)
		return
	}
	_ = s.publisher.Publish(ctx, pubsub.CustomerTopic(tid, a.CustomerID), []byte(a.CustomerID.String()))
}

// Decode reads an entry announced on a timeline topic.
func Decode(msg []byte) (*ent.Activity, error) {
	var a ent.Activity
	if err := json.Unmarshal(msg, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
