package event

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rapportcrm/rapport/ent/schematype"
)

// Identity is the block of identity keys any event's data may carry. Each
// event type requires its own system's id; the others are optional and help
// link the person to an existing profile.
type Identity struct {
	AuthUserID         *string                 `json:"authUserId,omitempty"`
	Email              *string                 `json:"email,omitempty"`
	PhoneNumber        *string                 `json:"phoneNumber,omitempty"`
	SCLMemberID        *int64                  `json:"sclMemberId,omitempty"`
	TeetimePlayerID    *string                 `json:"teetimePlayerId,omitempty"`
	MessagingContactID *string                 `json:"messagingContactId,omitempty"`
	ExternalIDs        *schematype.ExternalIDs `json:"externalIds,omitempty"`
}

// Person is the descriptive part of a profile an event may carry.
type Person struct {
	FirstName   *string `json:"firstName,omitempty"`
	LastName    *string `json:"lastName,omitempty"`
	DisplayName *string `json:"displayName,omitempty"`
	HomeClubID  *string `json:"homeClubId,omitempty"`
}

// Facts are profile values an event asserts; nil means "not said".
type Facts struct {
	Person
	MembershipTier   *string
	MembershipStatus *string
	Handicap         *float64
	EmailOptIn       *bool
	SMSOptIn         *bool
	PushOptIn        *bool
	WhatsappOptIn    *bool
	Tags             []string
	Attributes       map[string]any
}

// Activity describes the timeline entry an event becomes.
type Activity struct {
	Type        string // ent activity type, e.g. TEETIME_BOOKED
	Category    string
	Channel     string
	Title       string
	Description string
	SourceID    string
	Metadata    map[string]any
}

// Effect is everything an event means for the CRM, independent of storage.
type Effect struct {
	Keys  Identity
	Facts Facts
	// Activity is nil for events that concern no one person.
	Activity *Activity
	// Booking marks a tee-time booking (booking count).
	Booking bool
	// AmountCents is added to lifetime value.
	AmountCents int64
	// Personal is false for events about no person (competition.published).
	Personal bool
}

// Payload is the decoded data of one event type.
type Payload interface {
	validate() error
	// Effect says what the event means.
	Effect() Effect
}

type typeSpec struct {
	source string
	new    func() Payload
}

var order = []string{
	"member.created", "member.updated", "tier.changed", "payment.received",
	"player.created", "teetime.booked", "teetime.completed", "competition.published",
	"competition.entered", "handicap.updated",
	"message.sent", "message.delivered", "email.opened", "email.clicked", "contactPreference.updated",
	"profile.imported",
}

var types = map[string]typeSpec{
	"member.created":            {"scl", func() Payload { return &MemberCreated{} }},
	"member.updated":            {"scl", func() Payload { return &MemberUpdated{} }},
	"tier.changed":              {"scl", func() Payload { return &TierChanged{} }},
	"payment.received":          {"scl", func() Payload { return &PaymentReceived{} }},
	"player.created":            {"teetime", func() Payload { return &PlayerCreated{} }},
	"teetime.booked":            {"teetime", func() Payload { return &TeeTimeBooked{} }},
	"teetime.completed":         {"teetime", func() Payload { return &TeeTimeCompleted{} }},
	"competition.published":     {"teetime", func() Payload { return &CompetitionPublished{} }},
	"competition.entered":       {"teetime", func() Payload { return &CompetitionEntered{} }},
	"handicap.updated":          {"teetime", func() Payload { return &HandicapUpdated{} }},
	"message.sent":              {"messaging", func() Payload { return &MessageSent{} }},
	"message.delivered":         {"messaging", func() Payload { return &MessageDelivered{} }},
	"email.opened":              {"messaging", func() Payload { return &EmailOpened{} }},
	"email.clicked":             {"messaging", func() Payload { return &EmailClicked{} }},
	"contactPreference.updated": {"messaging", func() Payload { return &ContactPreferenceUpdated{} }},
	"profile.imported":          {"import", func() Payload { return &ProfileImported{} }},
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

func requireString(field string, v *string, max int) error {
	s := str(v)
	if s == "" {
		return invalid("data."+field, "required")
	}
	if len(s) > max {
		return invalid("data."+field, "longer than %d characters", max)
	}
	return nil
}

func optionalString(field string, v *string, max int) error {
	if v != nil && len(strings.TrimSpace(*v)) > max {
		return invalid("data."+field, "longer than %d characters", max)
	}
	return nil
}

func checkPerson(p Person) error {
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{{"firstName", p.FirstName, 200}, {"lastName", p.LastName, 200}, {"displayName", p.DisplayName, 400}, {"homeClubId", p.HomeClubID, 255}} {
		if err := optionalString(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	return nil
}

func checkIdentity(id Identity) error {
	if id.SCLMemberID != nil && *id.SCLMemberID <= 0 {
		return invalid("data.sclMemberId", "must be a positive integer")
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"authUserId", id.AuthUserID}, {"teetimePlayerId", id.TeetimePlayerID}, {"messagingContactId", id.MessagingContactID}, {"phoneNumber", id.PhoneNumber}} {
		if err := optionalString(f.name, f.v, 255); err != nil {
			return err
		}
	}
	return optionalString("email", id.Email, 320)
}

func checkHandicap(field string, h *float64) error {
	if h != nil && (math.IsNaN(*h) || *h < -10 || *h > 54) {
		return invalid("data."+field, "must be between -10 and 54")
	}
	return nil
}

var channels = map[string]bool{"EMAIL": true, "SMS": true, "PUSH": true, "WHATSAPP": true}

func checkChannel(c *string) error {
	if err := requireString("channel", c, 20); err != nil {
		return err
	}
	if !channels[strings.ToUpper(str(c))] {
		return invalid("data.channel", "must be EMAIL, SMS, PUSH or WHATSAPP")
	}
	return nil
}

func meta(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case *string:
			if s := str(v); s != "" {
				m[kv[i].(string)] = s
			}
		case *int:
			if v != nil {
				m[kv[i].(string)] = *v
			}
		case *float64:
			if v != nil {
				m[kv[i].(string)] = *v
			}
		case *time.Time:
			if v != nil {
				m[kv[i].(string)] = v.UTC().Format(time.RFC3339)
			}
		default:
			if v != nil {
				m[kv[i].(string)] = v
			}
		}
	}
	return m
}

func name(p Person) string {
	n := strings.TrimSpace(str(p.FirstName) + " " + str(p.LastName))
	if n == "" {
		n = str(p.DisplayName)
	}
	return n
}

// --- SCL ---------------------------------------------------------------

// MemberCreated is SCL's member.created: a membership signup.
type MemberCreated struct {
	Identity
	Person
	MembershipTier   *string    `json:"membershipTier,omitempty"`
	MembershipStatus *string    `json:"membershipStatus,omitempty"`
	JoinedAt         *time.Time `json:"joinedAt,omitempty"`
}

func (e *MemberCreated) validate() error {
	if e.SCLMemberID == nil {
		return invalid("data.sclMemberId", "required")
	}
	if err := checkIdentity(e.Identity); err != nil {
		return err
	}
	if err := optionalString("membershipTier", e.MembershipTier, 100); err != nil {
		return err
	}
	if err := optionalString("membershipStatus", e.MembershipStatus, 100); err != nil {
		return err
	}
	return checkPerson(e.Person)
}

// Effect of member.created.
func (e *MemberCreated) Effect() Effect {
	title := "Became a member"
	if t := str(e.MembershipTier); t != "" {
		title = "Became a " + t + " member"
	}
	return Effect{
		Personal: true, Keys: e.Identity,
		Facts: Facts{Person: e.Person, MembershipTier: e.MembershipTier, MembershipStatus: e.MembershipStatus},
		Activity: &Activity{Type: "MEMBER_CREATED", Category: "MEMBERSHIP", Title: title,
			SourceID: fmt.Sprint(*e.SCLMemberID),
			Metadata: meta("membershipTier", e.MembershipTier, "membershipStatus", e.MembershipStatus, "joinedAt", e.JoinedAt)},
	}
}

// MemberUpdated is SCL's member.updated: details of a member changed. Fields
// left out are unchanged.
type MemberUpdated struct {
	MemberCreated
}

// Effect of member.updated.
func (e *MemberUpdated) Effect() Effect {
	ef := e.MemberCreated.Effect()
	ef.Activity.Type = "MEMBER_UPDATED"
	ef.Activity.Title = "Membership details updated"
	return ef
}

// TierChanged is SCL's tier.changed.
type TierChanged struct {
	Identity
	FromTier         *string `json:"fromTier,omitempty"`
	ToTier           *string `json:"toTier"`
	MembershipStatus *string `json:"membershipStatus,omitempty"`
	Reason           *string `json:"reason,omitempty"`
}

func (e *TierChanged) validate() error {
	if e.SCLMemberID == nil {
		return invalid("data.sclMemberId", "required")
	}
	if err := requireString("toTier", e.ToTier, 100); err != nil {
		return err
	}
	if err := optionalString("fromTier", e.FromTier, 100); err != nil {
		return err
	}
	return checkIdentity(e.Identity)
}

// Effect of tier.changed.
func (e *TierChanged) Effect() Effect {
	to := str(e.ToTier)
	title := "Tier changed to " + to
	if from := str(e.FromTier); from != "" {
		title = "Tier changed from " + from + " to " + to
	}
	return Effect{
		Personal: true, Keys: e.Identity,
		Facts: Facts{MembershipTier: &to, MembershipStatus: e.MembershipStatus},
		Activity: &Activity{Type: "TIER_CHANGED", Category: "MEMBERSHIP", Title: title,
			SourceID: fmt.Sprint(*e.SCLMemberID),
			Metadata: meta("fromTier", e.FromTier, "toTier", e.ToTier, "reason", e.Reason)},
	}
}

// PaymentReceived is SCL's payment.received.
type PaymentReceived struct {
	Identity
	PaymentID   *string `json:"paymentId"`
	AmountCents *int64  `json:"amountCents"`
	Currency    *string `json:"currency"`
	Description *string `json:"description,omitempty"`
}

func (e *PaymentReceived) validate() error {
	if e.SCLMemberID == nil {
		return invalid("data.sclMemberId", "required")
	}
	if err := requireString("paymentId", e.PaymentID, 255); err != nil {
		return err
	}
	if e.AmountCents == nil || *e.AmountCents <= 0 {
		return invalid("data.amountCents", "required, a positive number of cents")
	}
	c := strings.ToUpper(str(e.Currency))
	if len(c) != 3 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return invalid("data.currency", "required, an ISO 4217 code such as ZAR")
	}
	if err := optionalString("description", e.Description, 500); err != nil {
		return err
	}
	return checkIdentity(e.Identity)
}

// Effect of payment.received.
func (e *PaymentReceived) Effect() Effect {
	cur := strings.ToUpper(str(e.Currency))
	title := fmt.Sprintf("Payment of %s %d.%02d received", cur, *e.AmountCents/100, *e.AmountCents%100)
	return Effect{
		Personal: true, Keys: e.Identity, AmountCents: *e.AmountCents,
		Activity: &Activity{Type: "PAYMENT_RECEIVED", Category: "FINANCIAL", Title: title,
			Description: str(e.Description), SourceID: str(e.PaymentID),
			Metadata: meta("paymentId", e.PaymentID, "amountCents", *e.AmountCents, "currency", cur)},
	}
}

// --- TeeTime -----------------------------------------------------------

// PlayerCreated is TeeTime's player.created, e.g. a guest's first booking.
type PlayerCreated struct {
	Identity
	Person
	Handicap *float64 `json:"handicap,omitempty"`
}

func (e *PlayerCreated) validate() error {
	if err := requireString("teetimePlayerId", e.TeetimePlayerID, 255); err != nil {
		return err
	}
	if err := checkHandicap("handicap", e.Handicap); err != nil {
		return err
	}
	if err := checkIdentity(e.Identity); err != nil {
		return err
	}
	return checkPerson(e.Person)
}

// Effect of player.created.
func (e *PlayerCreated) Effect() Effect {
	return Effect{
		Personal: true, Keys: e.Identity, Facts: Facts{Person: e.Person, Handicap: e.Handicap},
		Activity: &Activity{Type: "PLAYER_CREATED", Category: "GOLF", Title: "Registered as a TeeTime player",
			SourceID: str(e.TeetimePlayerID), Metadata: meta("handicap", e.Handicap)},
	}
}

// TeeTimeBooked is TeeTime's teetime.booked.
type TeeTimeBooked struct {
	Identity
	BookingID  *string    `json:"bookingId"`
	TeeTime    *time.Time `json:"teeTime"`
	CourseName *string    `json:"courseName,omitempty"`
	ClubID     *string    `json:"clubId,omitempty"`
	Players    *int       `json:"players,omitempty"`
	Holes      *int       `json:"holes,omitempty"`
}

func (e *TeeTimeBooked) validate() error {
	if err := requireString("teetimePlayerId", e.TeetimePlayerID, 255); err != nil {
		return err
	}
	if err := requireString("bookingId", e.BookingID, 255); err != nil {
		return err
	}
	if e.TeeTime == nil {
		return invalid("data.teeTime", "required (RFC 3339 time)")
	}
	if e.Players != nil && (*e.Players < 1 || *e.Players > 8) {
		return invalid("data.players", "must be between 1 and 8")
	}
	return checkIdentity(e.Identity)
}

// Effect of teetime.booked.
func (e *TeeTimeBooked) Effect() Effect {
	title := "Booked a tee time for " + e.TeeTime.UTC().Format("Mon 2 Jan 15:04 MST")
	if c := str(e.CourseName); c != "" {
		title = "Booked a tee time at " + c + " for " + e.TeeTime.UTC().Format("Mon 2 Jan 15:04 MST")
	}
	return Effect{
		Personal: true, Keys: e.Identity, Booking: true,
		Activity: &Activity{Type: "TEETIME_BOOKED", Category: "BOOKING", Channel: "WEB", Title: title,
			SourceID: str(e.BookingID),
			Metadata: meta("bookingId", e.BookingID, "teeTime", e.TeeTime, "courseName", e.CourseName,
				"clubId", e.ClubID, "players", e.Players, "holes", e.Holes)},
	}
}

// TeeTimeCompleted is TeeTime's teetime.completed: the round was played.
type TeeTimeCompleted struct {
	Identity
	BookingID  *string `json:"bookingId"`
	CourseName *string `json:"courseName,omitempty"`
	Score      *int    `json:"score,omitempty"`
	Holes      *int    `json:"holes,omitempty"`
}

func (e *TeeTimeCompleted) validate() error {
	if err := requireString("teetimePlayerId", e.TeetimePlayerID, 255); err != nil {
		return err
	}
	if err := requireString("bookingId", e.BookingID, 255); err != nil {
		return err
	}
	if e.Score != nil && (*e.Score < 1 || *e.Score > 300) {
		return invalid("data.score", "must be between 1 and 300")
	}
	return checkIdentity(e.Identity)
}

// Effect of teetime.completed.
func (e *TeeTimeCompleted) Effect() Effect {
	title := "Played a round"
	if c := str(e.CourseName); c != "" {
		title = "Played a round at " + c
	}
	if e.Score != nil {
		title += fmt.Sprintf(" (score %d)", *e.Score)
	}
	return Effect{
		Personal: true, Keys: e.Identity,
		Activity: &Activity{Type: "TEETIME_COMPLETED", Category: "GOLF", Channel: "IN_PERSON", Title: title,
			SourceID: str(e.BookingID),
			Metadata: meta("bookingId", e.BookingID, "courseName", e.CourseName, "score", e.Score, "holes", e.Holes)},
	}
}

// CompetitionPublished is TeeTime's competition.published. It concerns no
// one person; it is recorded, and feeds event promotion once that exists.
type CompetitionPublished struct {
	CompetitionID *string    `json:"competitionId"`
	Name          *string    `json:"name"`
	StartsAt      *time.Time `json:"startsAt"`
	ClubID        *string    `json:"clubId,omitempty"`
	Description   *string    `json:"description,omitempty"`
}

func (e *CompetitionPublished) validate() error {
	if err := requireString("competitionId", e.CompetitionID, 255); err != nil {
		return err
	}
	if err := requireString("name", e.Name, 300); err != nil {
		return err
	}
	if e.StartsAt == nil {
		return invalid("data.startsAt", "required (RFC 3339 time)")
	}
	return nil
}

// Effect of competition.published: none on profiles.
func (e *CompetitionPublished) Effect() Effect { return Effect{} }

// CompetitionEntered is TeeTime's competition.entered.
type CompetitionEntered struct {
	Identity
	CompetitionID   *string `json:"competitionId"`
	CompetitionName *string `json:"competitionName"`
}

func (e *CompetitionEntered) validate() error {
	if err := requireString("teetimePlayerId", e.TeetimePlayerID, 255); err != nil {
		return err
	}
	if err := requireString("competitionId", e.CompetitionID, 255); err != nil {
		return err
	}
	if err := requireString("competitionName", e.CompetitionName, 300); err != nil {
		return err
	}
	return checkIdentity(e.Identity)
}

// Effect of competition.entered.
func (e *CompetitionEntered) Effect() Effect {
	return Effect{
		Personal: true, Keys: e.Identity,
		Activity: &Activity{Type: "COMPETITION_ENTERED", Category: "GOLF", Title: "Entered " + str(e.CompetitionName),
			SourceID: str(e.CompetitionID), Metadata: meta("competitionId", e.CompetitionID)},
	}
}

// HandicapUpdated is TeeTime's handicap.updated.
type HandicapUpdated struct {
	Identity
	Handicap         *float64 `json:"handicap"`
	PreviousHandicap *float64 `json:"previousHandicap,omitempty"`
}

func (e *HandicapUpdated) validate() error {
	if err := requireString("teetimePlayerId", e.TeetimePlayerID, 255); err != nil {
		return err
	}
	if e.Handicap == nil {
		return invalid("data.handicap", "required")
	}
	if err := checkHandicap("handicap", e.Handicap); err != nil {
		return err
	}
	if err := checkHandicap("previousHandicap", e.PreviousHandicap); err != nil {
		return err
	}
	return checkIdentity(e.Identity)
}

// Effect of handicap.updated.
func (e *HandicapUpdated) Effect() Effect {
	title := fmt.Sprintf("Handicap updated to %.1f", *e.Handicap)
	if e.PreviousHandicap != nil {
		title = fmt.Sprintf("Handicap updated from %.1f to %.1f", *e.PreviousHandicap, *e.Handicap)
	}
	return Effect{
		Personal: true, Keys: e.Identity, Facts: Facts{Handicap: e.Handicap},
		Activity: &Activity{Type: "HANDICAP_UPDATED", Category: "GOLF", Title: title,
			SourceID: str(e.TeetimePlayerID), Metadata: meta("handicap", e.Handicap, "previousHandicap", e.PreviousHandicap)},
	}
}

// --- Messaging ---------------------------------------------------------

// MessageSent is Messaging's message.sent.
type MessageSent struct {
	Identity
	MessageID  *string `json:"messageId"`
	Channel    *string `json:"channel"`
	Subject    *string `json:"subject,omitempty"`
	CampaignID *string `json:"campaignId,omitempty"`
}

func (e *MessageSent) validate() error {
	if err := requireString("messagingContactId", e.MessagingContactID, 255); err != nil {
		return err
	}
	if err := requireString("messageId", e.MessageID, 255); err != nil {
		return err
	}
	if err := checkChannel(e.Channel); err != nil {
		return err
	}
	if err := optionalString("subject", e.Subject, 500); err != nil {
		return err
	}
	return checkIdentity(e.Identity)
}

func (e *MessageSent) activity(typ, category, verb string) *Activity {
	ch := strings.ToUpper(str(e.Channel))
	title := strings.TrimSpace(verbChannel(verb, ch))
	if s := str(e.Subject); s != "" {
		title += ": " + s
	}
	return &Activity{Type: typ, Category: category, Channel: ch, Title: title, SourceID: str(e.MessageID),
		Metadata: meta("messageId", e.MessageID, "campaignId", e.CampaignID, "subject", e.Subject)}
}

func verbChannel(verb, ch string) string {
	switch ch {
	case "EMAIL":
		return "E-mail " + verb
	case "SMS":
		return "SMS " + verb
	case "PUSH":
		return "Push notification " + verb
	case "WHATSAPP":
		return "WhatsApp message " + verb
	}
	return "Message " + verb
}

// Effect of message.sent.
func (e *MessageSent) Effect() Effect {
	return Effect{Personal: true, Keys: e.Identity, Activity: e.activity("MESSAGE_SENT", "COMMUNICATION", "sent")}
}

// MessageDelivered is Messaging's message.delivered.
type MessageDelivered struct{ MessageSent }

// Effect of message.delivered.
func (e *MessageDelivered) Effect() Effect {
	return Effect{Personal: true, Keys: e.Identity, Activity: e.activity("MESSAGE_DELIVERED", "COMMUNICATION", "delivered")}
}

// EmailOpened is Messaging's email.opened.
type EmailOpened struct {
	Identity
	MessageID  *string `json:"messageId"`
	CampaignID *string `json:"campaignId,omitempty"`
	Subject    *string `json:"subject,omitempty"`
}

func (e *EmailOpened) validate() error {
	if err := requireString("messagingContactId", e.MessagingContactID, 255); err != nil {
		return err
	}
	if err := requireString("messageId", e.MessageID, 255); err != nil {
		return err
	}
	return checkIdentity(e.Identity)
}

// Effect of email.opened.
func (e *EmailOpened) Effect() Effect {
	title := "Opened an e-mail"
	if s := str(e.Subject); s != "" {
		title += ": " + s
	}
	return Effect{Personal: true, Keys: e.Identity,
		Activity: &Activity{Type: "EMAIL_OPENED", Category: "ENGAGEMENT", Channel: "EMAIL", Title: title,
			SourceID: str(e.MessageID), Metadata: meta("messageId", e.MessageID, "campaignId", e.CampaignID)}}
}

// EmailClicked is Messaging's email.clicked.
type EmailClicked struct {
	EmailOpened
	URL *string `json:"url"`
}

func (e *EmailClicked) validate() error {
	if err := e.EmailOpened.validate(); err != nil {
		return err
	}
	return requireString("url", e.URL, 2000)
}

// Effect of email.clicked.
func (e *EmailClicked) Effect() Effect {
	return Effect{Personal: true, Keys: e.Identity,
		Activity: &Activity{Type: "EMAIL_CLICKED", Category: "ENGAGEMENT", Channel: "EMAIL",
			Title: "Clicked a link in an e-mail", SourceID: str(e.MessageID),
			Metadata: meta("messageId", e.MessageID, "campaignId", e.CampaignID, "url", e.URL)}}
}

// ContactPreferenceUpdated is Messaging's contactPreference.updated: the
// person's marketing consent, which the CRM mirrors read-only.
type ContactPreferenceUpdated struct {
	Identity
	EmailOptIn    *bool `json:"emailOptIn,omitempty"`
	SMSOptIn      *bool `json:"smsOptIn,omitempty"`
	PushOptIn     *bool `json:"pushOptIn,omitempty"`
	WhatsappOptIn *bool `json:"whatsappOptIn,omitempty"`
}

func (e *ContactPreferenceUpdated) validate() error {
	if err := requireString("messagingContactId", e.MessagingContactID, 255); err != nil {
		return err
	}
	if e.EmailOptIn == nil && e.SMSOptIn == nil && e.PushOptIn == nil && e.WhatsappOptIn == nil {
		return invalid("data", "at least one of emailOptIn, smsOptIn, pushOptIn, whatsappOptIn is required")
	}
	return checkIdentity(e.Identity)
}

// Effect of contactPreference.updated.
func (e *ContactPreferenceUpdated) Effect() Effect {
	var parts []string
	for _, f := range []struct {
		n string
		v *bool
	}{{"e-mail", e.EmailOptIn}, {"SMS", e.SMSOptIn}, {"push", e.PushOptIn}, {"WhatsApp", e.WhatsappOptIn}} {
		if f.v != nil {
			state := "out"
			if *f.v {
				state = "in"
			}
			parts = append(parts, f.n+" opted "+state)
		}
	}
	return Effect{Personal: true, Keys: e.Identity,
		Facts: Facts{EmailOptIn: e.EmailOptIn, SMSOptIn: e.SMSOptIn, PushOptIn: e.PushOptIn, WhatsappOptIn: e.WhatsappOptIn},
		Activity: &Activity{Type: "CONTACT_PREFERENCE_UPDATED", Category: "COMMUNICATION",
			Title: "Contact preferences: " + strings.Join(parts, ", "), SourceID: str(e.MessagingContactID),
			Metadata: meta("emailOptIn", e.EmailOptIn, "smsOptIn", e.SMSOptIn, "pushOptIn", e.PushOptIn, "whatsappOptIn", e.WhatsappOptIn)}}
}

// --- Import ------------------------------------------------------------

// ProfileImported is one row of a legacy export (rapport import).
type ProfileImported struct {
	Identity
	Person
	MembershipTier   *string        `json:"membershipTier,omitempty"`
	MembershipStatus *string        `json:"membershipStatus,omitempty"`
	Handicap         *float64       `json:"handicap,omitempty"`
	Tags             []string       `json:"tags,omitempty"`
	Attributes       map[string]any `json:"attributes,omitempty"`
	// System names the legacy system, e.g. "MCA v1 ZA".
	System *string `json:"system,omitempty"`
}

func (e *ProfileImported) validate() error {
	if err := checkIdentity(e.Identity); err != nil {
		return err
	}
	if err := checkHandicap("handicap", e.Handicap); err != nil {
		return err
	}
	if len(e.Tags) > 50 {
		return invalid("data.tags", "at most 50 tags")
	}
	return checkPerson(e.Person)
}

// Effect of profile.imported.
func (e *ProfileImported) Effect() Effect {
	title := "Imported"
	if s := str(e.System); s != "" {
		title = "Imported from " + s
	}
	return Effect{Personal: true, Keys: e.Identity,
		Facts: Facts{Person: e.Person, MembershipTier: e.MembershipTier, MembershipStatus: e.MembershipStatus,
			Handicap: e.Handicap, Tags: e.Tags, Attributes: e.Attributes},
		Activity: &Activity{Type: "PROFILE_IMPORTED", Category: "SYSTEM", Title: title, Metadata: meta("system", e.System)}}
}
