package segment

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/schema"
	st "github.com/rapportcrm/rapport/ent/schematype"
)

// FieldType is the type of value a field holds; it decides the operators a
// condition on it may use and how its value is checked.
type FieldType string

// The field types of the registry.
const (
	String    FieldType = "STRING"
	Number    FieldType = "NUMBER"
	Boolean   FieldType = "BOOLEAN"
	Time      FieldType = "TIME"
	Enum      FieldType = "ENUM"
	Tags      FieldType = "TAGS"
	Attribute FieldType = "ATTRIBUTE"
	Behaviour FieldType = "BEHAVIOUR"
)

// operatorsOf are the operators each type accepts.
var operatorsOf = map[FieldType][]st.Operator{
	String:    {st.OpEq, st.OpNeq, st.OpIn, st.OpNin, st.OpContains, st.OpExists},
	Number:    {st.OpEq, st.OpNeq, st.OpIn, st.OpNin, st.OpLt, st.OpLte, st.OpGt, st.OpGte, st.OpBetween, st.OpExists},
	Boolean:   {st.OpEq, st.OpNeq, st.OpExists},
	Time:      {st.OpLt, st.OpLte, st.OpGt, st.OpGte, st.OpBetween, st.OpWithinLast, st.OpNotWithinLast, st.OpExists},
	Enum:      {st.OpEq, st.OpNeq, st.OpIn, st.OpNin, st.OpExists},
	Tags:      {st.OpEq, st.OpContains, st.OpIn, st.OpNin, st.OpExists},
	Attribute: {st.OpEq, st.OpNeq, st.OpIn, st.OpNin, st.OpLt, st.OpLte, st.OpGt, st.OpGte, st.OpBetween, st.OpContains, st.OpExists},
}

// behaviourCountOps and behaviourLastOps are the operators of the two
// behaviour forms: a count of activities and the time of the last one.
var (
	behaviourCountOps = []st.Operator{st.OpEq, st.OpNeq, st.OpLt, st.OpLte, st.OpGt, st.OpGte, st.OpBetween}
	behaviourLastOps  = []st.Operator{st.OpWithinLast, st.OpNotWithinLast, st.OpExists, st.OpLt, st.OpLte, st.OpGt, st.OpGte, st.OpBetween}
)

// Field is one entry of the registry.
type Field struct {
	// Name is how rules name the field (the GraphQL field name).
	Name string
	Type FieldType
	// Column is the customer_profiles column.
	Column string
	// Nullable columns need NULL-safe comparisons.
	Nullable bool
	// Values are the allowed values of an enum.
	Values      []string
	Description string
	// value reads the field from a loaded profile (for explain).
	value func(*ent.CustomerProfile) any
}

// Operators are the operators the field accepts.
func (f Field) Operators() []st.Operator {
	if f.Type == Behaviour {
		if strings.HasSuffix(f.Name, ".last") {
			return behaviourLastOps
		}
		return behaviourCountOps
	}
	return operatorsOf[f.Type]
}

func opt[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// registry lists every profile field rules may filter on, in the order the
// field list is documented.
var registry = []Field{
	{Name: "membershipStatus", Type: String, Column: "membership_status", Nullable: true, Description: "membership status from SCL, e.g. ACTIVE", value: func(p *ent.CustomerProfile) any { return opt(p.MembershipStatus) }},
	{Name: "membershipTier", Type: String, Column: "membership_tier", Nullable: true, Description: "membership tier from SCL, e.g. Gold", value: func(p *ent.CustomerProfile) any { return opt(p.MembershipTier) }},
	{Name: "handicap", Type: Number, Column: "handicap", Nullable: true, Description: "golf handicap from TeeTime", value: func(p *ent.CustomerProfile) any { return opt(p.Handicap) }},
	{Name: "homeClubId", Type: String, Column: "home_club_id", Nullable: true, Description: "home club from TeeTime", value: func(p *ent.CustomerProfile) any { return opt(p.HomeClubID) }},
	{Name: "bookingCount30d", Type: Number, Column: "booking_count_30d", Description: "tee-time bookings in the last 30 days", value: func(p *ent.CustomerProfile) any { return p.BookingCount30d }},
	{Name: "activityCount30d", Type: Number, Column: "activity_count_30d", Description: "timeline entries in the last 30 days (system entries excluded)", value: func(p *ent.CustomerProfile) any { return p.ActivityCount30d }},
	{Name: "lastActivityAt", Type: Time, Column: "last_activity_at", Nullable: true, Description: "time of the latest activity", value: func(p *ent.CustomerProfile) any { return opt(p.LastActivityAt) }},
	{Name: "lifetimeValue", Type: Number, Column: "lifetime_value", Description: "payments received, in cents", value: func(p *ent.CustomerProfile) any { return p.LifetimeValue }},
	{Name: "engagementScore", Type: Number, Column: "engagement_score", Nullable: true, Description: "engagement score 0–100", value: func(p *ent.CustomerProfile) any { return opt(p.EngagementScore) }},
	{Name: "churnRiskScore", Type: Number, Column: "churn_risk_score", Nullable: true, Description: "churn risk 0–100", value: func(p *ent.CustomerProfile) any { return opt(p.ChurnRiskScore) }},
	{Name: "churnRiskTrend", Type: Number, Column: "churn_risk_trend", Nullable: true, Description: "change in churn risk since its weekly baseline", value: func(p *ent.CustomerProfile) any { return opt(p.ChurnRiskTrend) }},
	{Name: "healthScore", Type: Number, Column: "health_score", Nullable: true, Description: "health score 0–100", value: func(p *ent.CustomerProfile) any { return opt(p.HealthScore) }},
	{Name: "healthBand", Type: Enum, Column: "health_band", Nullable: true, Values: []string{"HEALTHY", "AT_RISK", "UNHEALTHY"}, Description: "health band", value: func(p *ent.CustomerProfile) any { return optString(p.HealthBand) }},
	{Name: "emailOptIn", Type: Boolean, Column: "email_opt_in", Description: "e-mail consent (from Messaging)", value: func(p *ent.CustomerProfile) any { return p.EmailOptIn }},
	{Name: "smsOptIn", Type: Boolean, Column: "sms_opt_in", Description: "SMS consent (from Messaging)", value: func(p *ent.CustomerProfile) any { return p.SmsOptIn }},
	{Name: "pushOptIn", Type: Boolean, Column: "push_opt_in", Description: "push consent (from Messaging)", value: func(p *ent.CustomerProfile) any { return p.PushOptIn }},
	{Name: "whatsappOptIn", Type: Boolean, Column: "whatsapp_opt_in", Description: "WhatsApp consent (from Messaging)", value: func(p *ent.CustomerProfile) any { return p.WhatsappOptIn }},
	{Name: "lifecycleStage", Type: Enum, Column: "lifecycle_stage", Values: []string{"PROSPECT", "GUEST", "NEW_MEMBER", "ACTIVE_MEMBER", "AT_RISK", "LAPSED", "FORMER_MEMBER"}, Description: "lifecycle stage", value: func(p *ent.CustomerProfile) any { return p.LifecycleStage.String() }},
	{Name: "status", Type: Enum, Column: "status", Values: []string{"ACTIVE", "INACTIVE", "BLOCKED", "ARCHIVED"}, Description: "profile status", value: func(p *ent.CustomerProfile) any { return p.Status.String() }},
	{Name: "tags", Type: Tags, Column: "tags", Nullable: true, Description: "tags (lower-case)", value: func(p *ent.CustomerProfile) any { return p.Tags }},
	{Name: "email", Type: String, Column: "email", Nullable: true, Description: "primary e-mail", value: func(p *ent.CustomerProfile) any { return opt(p.Email) }},
	{Name: "phoneNumber", Type: String, Column: "phone_number", Nullable: true, Description: "primary phone, E.164", value: func(p *ent.CustomerProfile) any { return opt(p.PhoneNumber) }},
	{Name: "firstName", Type: String, Column: "first_name", Nullable: true, Description: "first name", value: func(p *ent.CustomerProfile) any { return opt(p.FirstName) }},
	{Name: "lastName", Type: String, Column: "last_name", Nullable: true, Description: "last name", value: func(p *ent.CustomerProfile) any { return opt(p.LastName) }},
	{Name: "displayName", Type: String, Column: "display_name", Nullable: true, Description: "display name", value: func(p *ent.CustomerProfile) any { return opt(p.DisplayName) }},
	{Name: "sclMemberId", Type: Number, Column: "scl_member_id", Nullable: true, Description: "SCL member id", value: func(p *ent.CustomerProfile) any { return opt(p.SclMemberID) }},
	{Name: "teetimePlayerId", Type: String, Column: "teetime_player_id", Nullable: true, Description: "TeeTime player id", value: func(p *ent.CustomerProfile) any { return opt(p.TeetimePlayerID) }},
	{Name: "messagingContactId", Type: String, Column: "messaging_contact_id", Nullable: true, Description: "Messaging contact id", value: func(p *ent.CustomerProfile) any { return opt(p.MessagingContactID) }},
	{Name: "createdAt", Type: Time, Column: "created_at", Description: "when the profile was created", value: func(p *ent.CustomerProfile) any { return p.CreatedAt }},
}

func optString[T ~string](p *T) any {
	if p == nil {
		return nil
	}
	return string(*p)
}

var byName = func() map[string]Field {
	m := make(map[string]Field, len(registry))
	for _, f := range registry {
		m[f.Name] = f
	}
	return m
}()

// Fields returns the registry: every profile field, then the patterns of
// custom attributes and behaviour conditions.
func Fields() []Field {
	out := append([]Field(nil), registry...)
	return append(out,
		Field{Name: "attributes.<key>", Type: Attribute, Description: "a custom attribute; compared as its JSON type (number, string or boolean)"},
		Field{Name: "activity.<TYPE>.count.<D>d", Type: Behaviour, Description: "how many activities of a type (e.g. TEETIME_BOOKED) or category (e.g. BOOKING) the customer had in the last D days (1–3650)"},
		Field{Name: "activity.<TYPE>.last", Type: Behaviour, Description: "when the customer last had an activity of a type or category; use within_last / not_within_last"},
	)
}

var attrKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)

// behaviour is a parsed behaviour field.
type behaviour struct {
	// column is "type" or "category"; value the activity type or category.
	column, value string
	// days is the count window; 0 for the .last form.
	days int
}

var (
	activityTypes      = setOf(schema.ActivityTypes)
	activityCategories = setOf(schema.ActivityCategories)
)

func setOf(vs []string) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

// lookup finds a field by the name a rule uses. attributes.<key> and the
// behaviour patterns are resolved here; ok is false for an unknown name,
// with a reason.
func lookup(name string) (f Field, attr string, b *behaviour, reason string) {
	if f, ok := byName[name]; ok {
		return f, "", nil, ""
	}
	if key, ok := strings.CutPrefix(name, "attributes."); ok {
		if !attrKey.MatchString(key) {
			return Field{}, "", nil, "attribute keys are letters, digits, _ and -, starting with a letter or _"
		}
		return Field{Name: name, Type: Attribute}, key, nil, ""
	}
	if rest, ok := strings.CutPrefix(name, "activity."); ok {
		parts := strings.Split(rest, ".")
		bh := &behaviour{value: parts[0]}
		switch {
		case activityTypes[parts[0]]:
			bh.column = "type"
		case activityCategories[parts[0]]:
			bh.column = "category"
		default:
			return Field{}, "", nil, "unknown activity type or category " + strconv.Quote(parts[0])
		}
		switch {
		case len(parts) == 2 && parts[1] == "last":
		case len(parts) == 3 && parts[1] == "count" && strings.HasSuffix(parts[2], "d"):
			d, err := strconv.Atoi(strings.TrimSuffix(parts[2], "d"))
			if err != nil || d < 1 || d > 3650 {
				return Field{}, "", nil, "the count window must be 1d to 3650d"
			}
			bh.days = d
		default:
			return Field{}, "", nil, "behaviour fields are activity.<TYPE>.count.<D>d or activity.<TYPE>.last"
		}
		return Field{Name: name, Type: Behaviour}, "", bh, ""
	}
	return Field{}, "", nil, "unknown field " + strconv.Quote(name) + " (see segmentFields)"
}
