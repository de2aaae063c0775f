package customer

import (
	"encoding/json"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/identity"
)

const (
	maxTags          = 100
	maxTagLen        = 64
	maxAttributesLen = 16 << 10
	minHandicap      = -10
	maxHandicap      = 54
)

// normalized holds validated, normalized values of an input.
type normalized struct {
	authUserID, email, phone            *string
	sclMemberID                         *int64
	teetimePlayerID, messagingContactID *string
	externalIDs                         schematype.ExternalIDs
	firstName, lastName, displayName    *string
	homeClubID, membershipTier          *string
	membershipStatus                    *string
	tags                                []string
}

func normalizeCreate(in CreateInput, region string) (*normalized, error) {
	v := &normalized{}
	var err error
	if v.email, err = normEmail(in.Email, "input.email"); err != nil {
		return nil, err
	}
	if v.phone, err = normPhone(in.PhoneNumber, region, "input.phoneNumber"); err != nil {
		return nil, err
	}
	if in.SclMemberID != nil && *in.SclMemberID <= 0 {
		return nil, apperr.InvalidField("input.sclMemberID", "must be a positive number")
	}
	v.sclMemberID = in.SclMemberID
	v.authUserID = normID(in.AuthUserID)
	v.teetimePlayerID = normID(in.TeetimePlayerID)
	v.messagingContactID = normID(in.MessagingContactID)
	if in.ExternalIDs != nil {
		v.externalIDs = normExternal(*in.ExternalIDs)
	}
	for _, f := range []struct {
		dst   **string
		src   *string
		name  string
		limit int
	}{
		{&v.firstName, in.FirstName, "input.firstName", 200},
		{&v.lastName, in.LastName, "input.lastName", 200},
		{&v.displayName, in.DisplayName, "input.displayName", 400},
		{&v.homeClubID, in.HomeClubID, "input.homeClubID", 255},
		{&v.membershipTier, in.MembershipTier, "input.membershipTier", 100},
		{&v.membershipStatus, in.MembershipStatus, "input.membershipStatus", 100},
	} {
		if *f.dst, err = normText(f.src, f.name, f.limit); err != nil {
			return nil, err
		}
	}
	if v.displayName == nil {
		v.displayName = defaultDisplayName(v.firstName, v.lastName)
	}
	if err := checkHandicap(in.Handicap, "input.handicap"); err != nil {
		return nil, err
	}
	if err := checkAttributes(in.Attributes, "input.attributes"); err != nil {
		return nil, err
	}
	if v.tags, err = normalizeTags(in.Tags, "input.tags"); err != nil {
		return nil, err
	}
	if len(v.tags) > maxTags {
		return nil, apperr.InvalidField("input.tags", "a customer can carry at most %d tags", maxTags)
	}
	return v, nil
}

// applyUpdate validates in, sets the changes on u and returns the profile as
// it will be after the update.
func applyUpdate(u *ent.CustomerProfileUpdateOne, cur *ent.CustomerProfile, in UpdateInput, region string) (*ent.CustomerProfile, error) {
	next := *cur
	var err error
	if in.AuthUserID.Set {
		next.AuthUserID = normID(in.AuthUserID.Value)
		setOrClear(next.AuthUserID, u.SetAuthUserID, u.ClearAuthUserID)
	}
	if in.Email.Set {
		if next.Email, err = normEmail(in.Email.Value, "input.email"); err != nil {
			return nil, err
		}
		setOrClear(next.Email, u.SetEmail, u.ClearEmail)
	}
	if in.PhoneNumber.Set {
		if next.PhoneNumber, err = normPhone(in.PhoneNumber.Value, region, "input.phoneNumber"); err != nil {
			return nil, err
		}
		setOrClear(next.PhoneNumber, u.SetPhoneNumber, u.ClearPhoneNumber)
	}
	if in.SclMemberID.Set {
		if in.SclMemberID.Value != nil && *in.SclMemberID.Value <= 0 {
			return nil, apperr.InvalidField("input.sclMemberID", "must be a positive number")
		}
		next.SclMemberID = in.SclMemberID.Value
		setOrClear(next.SclMemberID, u.SetSclMemberID, u.ClearSclMemberID)
	}
	if in.TeetimePlayerID.Set {
		next.TeetimePlayerID = normID(in.TeetimePlayerID.Value)
		setOrClear(next.TeetimePlayerID, u.SetTeetimePlayerID, u.ClearTeetimePlayerID)
	}
	if in.MessagingContactID.Set {
		next.MessagingContactID = normID(in.MessagingContactID.Value)
		setOrClear(next.MessagingContactID, u.SetMessagingContactID, u.ClearMessagingContactID)
	}
	if in.ExternalIDs != nil {
		next.ExternalIds = normExternal(*in.ExternalIDs)
		u.SetExternalIds(next.ExternalIds)
	}
	for _, f := range []struct {
		in    Field[string]
		dst   **string
		set   func(string) *ent.CustomerProfileUpdateOne
		clear func() *ent.CustomerProfileUpdateOne
		name  string
		limit int
	}{
		{in.FirstName, &next.FirstName, u.SetFirstName, u.ClearFirstName, "input.firstName", 200},
		{in.LastName, &next.LastName, u.SetLastName, u.ClearLastName, "input.lastName", 200},
		{in.DisplayName, &next.DisplayName, u.SetDisplayName, u.ClearDisplayName, "input.displayName", 400},
		{in.HomeClubID, &next.HomeClubID, u.SetHomeClubID, u.ClearHomeClubID, "input.homeClubID", 255},
		{in.MembershipTier, &next.MembershipTier, u.SetMembershipTier, u.ClearMembershipTier, "input.membershipTier", 100},
		{in.MembershipStatus, &next.MembershipStatus, u.SetMembershipStatus, u.ClearMembershipStatus, "input.membershipStatus", 100},
	} {
		if !f.in.Set {
			continue
		}
		if *f.dst, err = normText(f.in.Value, f.name, f.limit); err != nil {
			return nil, err
		}
		setOrClear(*f.dst, f.set, f.clear)
	}
	if in.Status != nil {
		next.Status = *in.Status
		u.SetStatus(*in.Status)
	}
	if in.LifecycleStage != nil {
		next.LifecycleStage = *in.LifecycleStage
		u.SetLifecycleStage(*in.LifecycleStage)
	}
	if in.Tags != nil {
		if next.Tags, err = normalizeTags(*in.Tags, "input.tags"); err != nil {
			return nil, err
		}
		if len(next.Tags) > maxTags {
			return nil, apperr.InvalidField("input.tags", "a customer can carry at most %d tags", maxTags)
		}
		u.SetTags(next.Tags)
	}
	if in.Handicap.Set {
		if err := checkHandicap(in.Handicap.Value, "input.handicap"); err != nil {
			return nil, err
		}
		next.Handicap = in.Handicap.Value
		setOrClear(next.Handicap, u.SetHandicap, u.ClearHandicap)
	}
	if in.Attributes.Set {
		if in.Attributes.Value == nil {
			next.Attributes = nil
			u.ClearAttributes()
		} else {
			if err := checkAttributes(*in.Attributes.Value, "input.attributes"); err != nil {
				return nil, err
			}
			next.Attributes = *in.Attributes.Value
			u.SetAttributes(next.Attributes)
		}
	}
	return &next, nil
}

func setOrClear[T any, R any](v *T, set func(T) R, clear func() R) {
	if v == nil {
		clear()
		return
	}
	set(*v)
}

func normEmail(raw *string, field string) (*string, error) {
	if raw == nil {
		return nil, nil
	}
	e, err := identity.NormalizeEmail(*raw)
	if err != nil {
		return nil, apperr.InvalidField(field, "%s", err.Error())
	}
	if e == "" {
		if strings.TrimSpace(*raw) != "" {
			return nil, apperr.InvalidField(field, "%q is a placeholder, not a real address", *raw)
		}
		return nil, nil
	}
	return &e, nil
}

func normPhone(raw *string, region, field string) (*string, error) {
	if raw == nil {
		return nil, nil
	}
	p, err := identity.NormalizePhone(*raw, region)
	if err != nil {
		return nil, apperr.InvalidField(field, "%s", err.Error())
	}
	if p == "" {
		if strings.TrimSpace(*raw) != "" {
			return nil, apperr.InvalidField(field, "%q is a placeholder, not a real number", *raw)
		}
		return nil, nil
	}
	return &p, nil
}

func normID(raw *string) *string {
	if raw == nil {
		return nil
	}
	v := identity.NormalizeID(*raw)
	if v == "" {
		return nil
	}
	return &v
}

func normExternal(e schematype.ExternalIDs) schematype.ExternalIDs {
	return schematype.ExternalIDs{McaV1ZaID: normID(e.McaV1ZaID), McaV1UkID: normID(e.McaV1UkID), GolfRsaID: normID(e.GolfRsaID)}
}

func normText(raw *string, field string, limit int) (*string, error) {
	if raw == nil {
		return nil, nil
	}
	v := strings.TrimSpace(*raw)
	if v == "" {
		return nil, nil
	}
	if utf8.RuneCountInString(v) > limit {
		return nil, apperr.InvalidField(field, "must be at most %d characters", limit)
	}
	return &v, nil
}

func defaultDisplayName(first, last *string) *string {
	n := strings.TrimSpace(deref(first) + " " + deref(last))
	if n == "" {
		return nil
	}
	return &n
}

func checkHandicap(h *float64, field string) error {
	if h == nil {
		return nil
	}
	if math.IsNaN(*h) || *h < minHandicap || *h > maxHandicap {
		return apperr.InvalidField(field, "must be between %d and %d", minHandicap, maxHandicap)
	}
	return nil
}

func checkAttributes(a map[string]any, field string) error {
	if a == nil {
		return nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return apperr.InvalidField(field, "must be a JSON object")
	}
	if len(b) > maxAttributesLen {
		return apperr.InvalidField(field, "must be at most %d bytes of JSON", maxAttributesLen)
	}
	return nil
}

// normalizeTags trims, lower-cases, de-duplicates and sorts tags.
func normalizeTags(tags []string, field string) ([]string, error) {
	seen := map[string]bool{}
	out := make([]string, 0, len(tags))
	for i, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			return nil, apperr.InvalidField(field, "tag %d is empty", i+1)
		}
		if utf8.RuneCountInString(t) > maxTagLen {
			return nil, apperr.InvalidField(field, "tag %q is longer than %d characters", t, maxTagLen)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out, nil
}

func mergeTags(cur, add []string) []string {
	out := append(append([]string{}, cur...), add...)
	n, _ := normalizeTags(out, "tags")
	return n
}
