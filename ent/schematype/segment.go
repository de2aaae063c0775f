package schematype

import (
	"fmt"
	"io"
	"strconv"
)

// Rule is one node of a segment's rule tree, in the spec's JSON shape: a
// condition {field, operator, value} or a group {combinator, rules}. The
// same type is stored, accepted from GraphQL and returned to it, so a saved
// segment reads back exactly as it was written.
type Rule struct {
	// Field names a registered field (membershipTier, attributes.locker,
	// activity.TEETIME_BOOKED.count.30d, ...); set on conditions.
	Field string `json:"field,omitempty"`
	// Operator is the condition's comparison; set on conditions.
	Operator Operator `json:"operator,omitempty"`
	// Value is what the field is compared with: a string, number, boolean,
	// list or, for within_last, a duration such as "30d".
	Value any `json:"value,omitempty"`
	// Combinator joins the rules of a group.
	Combinator Combinator `json:"combinator,omitempty"`
	// Rules are the group's members.
	Rules []*Rule `json:"rules,omitempty"`
}

// IsGroup reports whether the rule is a group rather than a condition.
func (r *Rule) IsGroup() bool { return r.Combinator != "" || r.Rules != nil }

// Operator is a condition's comparison, lower-case as in the spec's JSON.
type Operator string

// The operators of segment conditions.
const (
	OpEq            Operator = "eq"
	OpNeq           Operator = "neq"
	OpIn            Operator = "in"
	OpNin           Operator = "nin"
	OpLt            Operator = "lt"
	OpLte           Operator = "lte"
	OpGt            Operator = "gt"
	OpGte           Operator = "gte"
	OpBetween       Operator = "between"
	OpContains      Operator = "contains"
	OpExists        Operator = "exists"
	OpWithinLast    Operator = "within_last"
	OpNotWithinLast Operator = "not_within_last"
)

// Operators lists every operator in documentation order.
var Operators = []Operator{OpEq, OpNeq, OpIn, OpNin, OpLt, OpLte, OpGt, OpGte, OpBetween, OpContains, OpExists, OpWithinLast, OpNotWithinLast}

// UnmarshalGQL reads the GraphQL enum value.
func (o *Operator) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("operator must be a string")
	}
	for _, op := range Operators {
		if string(op) == s {
			*o = op
			return nil
		}
	}
	return fmt.Errorf("%q is not an operator", s)
}

// MarshalGQL writes the GraphQL enum value; a group has none (null).
func (o Operator) MarshalGQL(w io.Writer) { writeEnum(w, string(o)) }

func writeEnum(w io.Writer, s string) {
	if s == "" {
		io.WriteString(w, "null")
		return
	}
	io.WriteString(w, strconv.Quote(s))
}

// Combinator joins the rules of a group.
type Combinator string

// The combinators of rule groups. NOT negates the AND of its rules.
const (
	And Combinator = "AND"
	Or  Combinator = "OR"
	Not Combinator = "NOT"
)

// UnmarshalGQL reads the GraphQL enum value.
func (c *Combinator) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("combinator must be a string")
	}
	switch Combinator(s) {
	case And, Or, Not:
		*c = Combinator(s)
		return nil
	}
	return fmt.Errorf("%q is not a combinator (AND, OR, NOT)", s)
}

// MarshalGQL writes the GraphQL enum value; a condition has none (null).
func (c Combinator) MarshalGQL(w io.Writer) { writeEnum(w, string(c)) }
