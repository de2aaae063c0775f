package resolvers

import (
	"context"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	st "github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/graph/model"
	"github.com/rapportcrm/rapport/internal/segment"
)

// membershipChange shapes a segment change for the API.
func (r *Resolver) membershipChange(ctx context.Context, ch segment.Change) (*model.SegmentMembershipChange, error) {
	seg, err := r.client.Segment.Get(ctx, ch.SegmentID)
	if err != nil {
		return nil, err
	}
	return liveChange(seg, ch.Live()), nil
}

func liveChange(seg *ent.Segment, l segment.LiveChange) *model.SegmentMembershipChange {
	return &model.SegmentMembershipChange{Segment: seg, AddedIDs: l.Added, RemovedIDs: l.Removed,
		AddedCount: l.AddedCount, RemovedCount: l.RemovedCount, MemberCount: l.MemberCount}
}

// membersInput turns the GraphQL input into the domain's, with a search
// applied through the same predicate as customers(search).
func (r *Resolver) membersInput(ctx context.Context, in model.SegmentMembersInput) (segment.MembersInput, error) {
	out := segment.MembersInput{SegmentID: in.SegmentID, CustomerIDs: in.CustomerIDs, Emails: in.Emails, CSV: deref(in.CSV)}
	if in.Search != nil && *in.Search != "" {
		p, err := r.customers.SearchPredicate(ctx, *in.Search)
		if err != nil {
			return out, err
		}
		if p != nil {
			out.Match = append(out.Match, func(q *ent.CustomerProfileQuery) { q.Where(p) })
		}
	}
	return out, nil
}

func membersPayload(res segment.MembersResult) *model.SegmentMembersPayload {
	nf := res.NotFound
	if nf == nil {
		nf = []string{}
	}
	return &model.SegmentMembersPayload{Segment: res.Segment, Changed: res.Changed, Unchanged: res.Unchanged, NotFound: nf}
}

func explanation(ex *segment.Explanation) *model.SegmentExplanation {
	out := &model.SegmentExplanation{Customer: ex.Customer, Matches: ex.Matches, Member: ex.Member, Nodes: []*model.SegmentExplanationNode{}}
	for _, n := range ex.Nodes {
		mn := &model.SegmentExplanationNode{Path: n.Path, Expected: n.Expected, Actual: n.Actual, Result: n.Result}
		if n.Combinator != "" {
			c := n.Combinator
			mn.Combinator = &c
		} else {
			f, op := n.Field, n.Operator
			mn.Field, mn.Operator = &f, &op
		}
		out.Nodes = append(out.Nodes, mn)
	}
	return out
}

func segmentFields() []*model.SegmentField {
	var out []*model.SegmentField
	for _, f := range segment.Fields() {
		out = append(out, &model.SegmentField{Name: f.Name, Type: model.SegmentFieldType(f.Type), Operators: f.Operators(),
			Values: f.Values, Description: f.Description})
	}
	return out
}

func combinatorOr(c *st.Combinator) st.Combinator {
	if c == nil {
		return st.And
	}
	return *c
}

func uuidOr(p *uuid.UUID) uuid.UUID {
	if p == nil {
		return uuid.Nil
	}
	return *p
}
