package resolvers

import (
	"github.com/99designs/gqlgen/graphql"

	"github.com/rapportcrm/rapport/graph/model"
	"github.com/rapportcrm/rapport/internal/customer"
)

func field[T any](o graphql.Omittable[*T]) customer.Field[T] {
	v, set := o.ValueOK()
	if !set {
		return customer.Field[T]{}
	}
	return customer.SetTo(v)
}

func int64Field(o graphql.Omittable[*int]) customer.Field[int64] {
	v, set := o.ValueOK()
	if !set {
		return customer.Field[int64]{}
	}
	if v == nil {
		return customer.SetTo[int64](nil)
	}
	n := int64(*v)
	return customer.SetTo(&n)
}

func int64Ptr(v *int) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

func createInput(in model.CreateCustomerInput) customer.CreateInput {
	return customer.CreateInput{
		AuthUserID:         in.AuthUserID,
		Email:              in.Email,
		PhoneNumber:        in.PhoneNumber,
		SclMemberID:        int64Ptr(in.SclMemberID),
		TeetimePlayerID:    in.TeetimePlayerID,
		MessagingContactID: in.MessagingContactID,
		ExternalIDs:        in.ExternalIds,
		FirstName:          in.FirstName,
		LastName:           in.LastName,
		DisplayName:        in.DisplayName,
		Status:             in.Status,
		LifecycleStage:     in.LifecycleStage,
		Tags:               in.Tags,
		Handicap:           in.Handicap,
		HomeClubID:         in.HomeClubID,
		MembershipTier:     in.MembershipTier,
		MembershipStatus:   in.MembershipStatus,
		Attributes:         in.Attributes,
		Source:             "api",
	}
}

func updateInput(in model.UpdateCustomerInput) customer.UpdateInput {
	u := customer.UpdateInput{
		AuthUserID:         field(in.AuthUserID),
		Email:              field(in.Email),
		PhoneNumber:        field(in.PhoneNumber),
		SclMemberID:        int64Field(in.SclMemberID),
		TeetimePlayerID:    field(in.TeetimePlayerID),
		MessagingContactID: field(in.MessagingContactID),
		ExternalIDs:        in.ExternalIds,
		FirstName:          field(in.FirstName),
		LastName:           field(in.LastName),
		DisplayName:        field(in.DisplayName),
		Status:             in.Status,
		LifecycleStage:     in.LifecycleStage,
		Handicap:           field(in.Handicap),
		HomeClubID:         field(in.HomeClubID),
		MembershipTier:     field(in.MembershipTier),
		MembershipStatus:   field(in.MembershipStatus),
		Source:             "api",
	}
	if in.Tags != nil {
		tags := in.Tags
		u.Tags = &tags
	}
	if v, set := in.Attributes.ValueOK(); set {
		if v == nil {
			u.Attributes = customer.SetTo[map[string]any](nil)
		} else {
			u.Attributes = customer.SetTo(&v)
		}
	}
	return u
}
