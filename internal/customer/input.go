// Package customer holds the rules for creating and changing customer
// profiles, their identity keys, tags and notes. GraphQL, event consumers
// and imports all go through it.
package customer

import (
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/schematype"
)

// Field is an optional change of one value: when Set is false the value is
// left alone; when Set is true and Value is nil it is cleared.
type Field[T any] struct {
	Set   bool
	Value *T
}

// SetTo returns a Field that sets (or, for nil, clears) the value.
func SetTo[T any](v *T) Field[T] { return Field[T]{Set: true, Value: v} }

// CreateInput is a new profile. At least one of AuthUserID, Email and
// PhoneNumber is required.
type CreateInput struct {
	AuthUserID         *string
	Email              *string
	PhoneNumber        *string
	SclMemberID        *int64
	TeetimePlayerID    *string
	MessagingContactID *string
	ExternalIDs        *schematype.ExternalIDs
	FirstName          *string
	LastName           *string
	DisplayName        *string
	Status             *customerprofile.Status
	LifecycleStage     *customerprofile.LifecycleStage
	Tags               []string
	Handicap           *float64
	HomeClubID         *string
	MembershipTier     *string
	MembershipStatus   *string
	Attributes         map[string]any
	// Source names the system the keys came from ("api", "import", "scl"…).
	Source string
}

// UpdateInput is a partial change to a profile.
type UpdateInput struct {
	AuthUserID         Field[string]
	Email              Field[string]
	PhoneNumber        Field[string]
	SclMemberID        Field[int64]
	TeetimePlayerID    Field[string]
	MessagingContactID Field[string]
	// ExternalIDs, when not nil, replaces the external ids; nil members are
	// removed.
	ExternalIDs      *schematype.ExternalIDs
	FirstName        Field[string]
	LastName         Field[string]
	DisplayName      Field[string]
	Status           *customerprofile.Status
	LifecycleStage   *customerprofile.LifecycleStage
	Tags             *[]string
	Handicap         Field[float64]
	HomeClubID       Field[string]
	MembershipTier   Field[string]
	MembershipStatus Field[string]
	Attributes       Field[map[string]any]
	Source           string
}
