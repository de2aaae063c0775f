// Package scalar holds the GraphQL marshalers of the graph's custom scalars.
package scalar

import (
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/internal/apperr"
)

// MarshalUUID writes a UUID as a GraphQL ID string.
func MarshalUUID(u uuid.UUID) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(u.String()))
	})
}

// UnmarshalUUID reads a GraphQL ID string into a UUID.
func UnmarshalUUID(v any) (uuid.UUID, error) {
	s, ok := v.(string)
	if !ok {
		return uuid.Nil, apperr.New(apperr.Invalid, "expected an id string, got %T", v)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, apperr.New(apperr.Invalid, "%q is not a valid id", s)
	}
	return u, nil
}
