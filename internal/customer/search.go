package customer

import (
	"context"
	"strings"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqljson"

	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/predicate"
	"github.com/rapportcrm/rapport/internal/identity"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// SearchPredicate turns a free-text search into a filter. An e-mail address
// or a phone number is matched exactly, after normalization, against every
// identity key of every profile (so an additional address finds its person);
// anything else must appear, word by word, in the names, e-mail or phone.
func (s *Service) SearchPredicate(ctx context.Context, term string) (predicate.CustomerProfile, error) {
	term = strings.TrimSpace(term)
	if term == "" {
		return nil, nil
	}
	if strings.Contains(term, "@") && !strings.ContainsAny(term, " \t") {
		if e, err := identity.NormalizeEmail(term); err == nil && e != "" {
			return hasKey(ctx, identityalias.KindEMAIL, e), nil
		}
	}
	if looksLikePhone(term) {
		region, err := s.phoneRegion(ctx)
		if err != nil {
			return nil, err
		}
		if p, err := identity.NormalizePhone(term, region); err == nil && p != "" {
			return hasKey(ctx, identityalias.KindPHONE, p), nil
		}
	}
	var ps []predicate.CustomerProfile
	for _, word := range strings.Fields(strings.ToLower(term)) {
		ps = append(ps, customerprofile.SearchTextContains(word))
	}
	return customerprofile.And(ps...), nil
}

// hasKey matches profiles owning the identity key. The subquery names the
// tenant itself so the (tenant, kind, value) unique index serves it.
func hasKey(ctx context.Context, kind identityalias.Kind, value string) predicate.CustomerProfile {
	tid, _ := tenancy.FromContext(ctx)
	return func(s *sql.Selector) {
		t := sql.Table(identityalias.Table)
		sub := sql.Select(t.C(identityalias.FieldCustomerID)).From(t).Where(sql.And(
			sql.EQ(t.C(identityalias.FieldTenantID), tid),
			sql.EQ(t.C(identityalias.FieldKind), kind),
			sql.EQ(t.C(identityalias.FieldValue), value),
		))
		s.Where(sql.In(s.C(customerprofile.FieldID), sub))
	}
}

func looksLikePhone(s string) bool {
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return false
		}
	}
	return digits >= 7
}

// HasAllTags matches profiles carrying every tag.
func HasAllTags(tags []string) predicate.CustomerProfile {
	var ps []predicate.CustomerProfile
	for _, t := range tags {
		t := strings.ToLower(strings.TrimSpace(t))
		ps = append(ps, func(s *sql.Selector) {
			s.Where(sqljson.ValueContains(customerprofile.FieldTags, t))
		})
	}
	return customerprofile.And(ps...)
}

// HasAnyTag matches profiles carrying at least one of the tags.
func HasAnyTag(tags []string) predicate.CustomerProfile {
	var ps []predicate.CustomerProfile
	for _, t := range tags {
		t := strings.ToLower(strings.TrimSpace(t))
		ps = append(ps, func(s *sql.Selector) {
			s.Where(sqljson.ValueContains(customerprofile.FieldTags, t))
		})
	}
	return customerprofile.Or(ps...)
}
