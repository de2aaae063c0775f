package graph

import (
	"context"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/apperr"
)

// Page sizes of every connection.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// PageSize applies the default and the cap to first/last. A negative size
// is INVALID.
func PageSize(first, last *int) (*int, *int, error) {
	capped := func(p *int, name string) (*int, error) {
		if p == nil {
			return nil, nil
		}
		if *p < 0 {
			return nil, apperr.InvalidField(name, "must not be negative")
		}
		v := min(*p, MaxPageSize)
		return &v, nil
	}
	f, err := capped(first, "first")
	if err != nil {
		return nil, nil, err
	}
	l, err := capped(last, "last")
	if err != nil {
		return nil, nil, err
	}
	if f == nil && l == nil {
		d := DefaultPageSize
		f = &d
	}
	return f, l, nil
}

func pageCost(child int, first, last *int) int {
	f, l, err := PageSize(first, last)
	if err != nil {
		return child
	}
	n := DefaultPageSize
	if f != nil {
		n = *f
	} else if l != nil {
		n = *l
	}
	return 1 + child*max(n, 1)
}

// complexity makes connections cost their page size times their selection,
// so a query asking for 500 customers with 500 notes each is refused before
// it runs.
func complexity() ComplexityRoot {
	var c ComplexityRoot
	c.Query.Customers = func(child int, _ *entgql.Cursor[uuid.UUID], first *int, _ *entgql.Cursor[uuid.UUID], last *int, _ *ent.CustomerWhereInput, _ []*ent.CustomerOrder, _ *string) int {
		return pageCost(child, first, last)
	}
	c.Customer.Notes = func(child int, _ *entgql.Cursor[uuid.UUID], first *int, _ *entgql.Cursor[uuid.UUID], last *int, _ []*ent.CustomerNoteOrder) int {
		return pageCost(child, first, last)
	}
	c.Query.AuditLog = func(child int, _ *uuid.UUID, first *int, _ *entgql.Cursor[uuid.UUID]) int {
		return pageCost(child, first, nil)
	}
	c.Query.Nodes = func(child int, ids []uuid.UUID) int {
		return 1 + child*max(len(ids), 1)
	}
	return c
}

// depthLimit refuses operations nested deeper than max fields, before any
// resolver runs. Introspection fields are not counted: GraphiQL's own
// schema query is deep by nature.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, 0, map[string]bool{}); depth > d.max {
		err := gqlerror.Errorf("operation is nested %d levels deep; the limit is %d", depth, d.max)
		err.Extensions = map[string]any{"code": string(apperr.Invalid)}
		return err
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, depth int, visiting map[string]bool) int {
	deepest := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.Name) > 1 && s.Name[:2] == "__" {
				continue
			}
			d = selectionDepth(s.SelectionSet, depth+1, visiting)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depth, visiting)
		case *ast.FragmentSpread:
			if s.Definition == nil || visiting[s.Name] {
				continue
			}
			visiting[s.Name] = true
			d = selectionDepth(s.Definition.SelectionSet, depth, visiting)
			delete(visiting, s.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}
