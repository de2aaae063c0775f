package resolvers

import (
	"context"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/predicate"
	"github.com/rapportcrm/rapport/internal/audit"
)

func customerIDIs(id uuid.UUID) predicate.CustomerProfile { return customerprofile.ID(id) }

// actorID is who is acting, for authorship of notes.
func actorID(ctx context.Context) string { return audit.ActorFrom(ctx).ID }

// withoutPageInfoCount hides a connection's pageInfo selection from ent's
// paginator unless totalCount is selected too. entgql counts every matching
// row whenever pageInfo is asked for, yet hasNextPage and hasPreviousPage
// come from the one extra row a page fetches; the count made a timeline page
// of a 10,000-entry customer three times slower and a customers page of a
// large club count the whole club.
func withoutPageInfoCount(ctx context.Context) context.Context {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return ctx
	}
	var pageInfo, total bool
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, nil) {
		switch f.Alias {
		case "pageInfo":
			pageInfo = true
		case "totalCount":
			total = true
		}
	}
	if !pageInfo || total {
		return ctx
	}
	hidden := *fc
	hidden.Field.Selections = make(ast.SelectionSet, 0, len(fc.Field.Selections))
	for _, s := range fc.Field.Selections {
		if f, ok := s.(*ast.Field); ok && f.Alias == "pageInfo" {
			continue
		}
		hidden.Field.Selections = append(hidden.Field.Selections, s)
	}
	return graphql.WithFieldContext(ctx, &hidden)
}
