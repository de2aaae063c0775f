package segment

import (
	st "github.com/rapportcrm/rapport/ent/schematype"
)

// ModelLikelyToChurn30D is the smart model "likely to churn in 30 days".
const ModelLikelyToChurn30D = "LIKELY_TO_CHURN_30D"

// ModelRules returns the rule tree a smart model selects members with. The
// models are rules over the scores the scoring engine keeps (so explain
// shows exactly why a profile is in), not opaque predictions.
//
// LIKELY_TO_CHURN_30D: active profiles whose churn risk is high (80+), or
// elevated (60+) and rising since its weekly baseline, or moderate (50+) and
// rising fast (15+ points in a week). Churn risk weighs the spec's five
// factors (activity decline, payment issues, engagement drop, tier
// downgrade, complaints); its trend is what turns a moderate score into a
// 30-day warning.
func ModelRules(model string) *st.Rule {
	switch model {
	case ModelLikelyToChurn30D:
		cond := func(field string, op st.Operator, v any) *st.Rule {
			return &st.Rule{Field: field, Operator: op, Value: v}
		}
		return &st.Rule{Combinator: st.And, Rules: []*st.Rule{
			cond("status", st.OpEq, "ACTIVE"),
			{Combinator: st.Or, Rules: []*st.Rule{
				cond("churnRiskScore", st.OpGte, float64(80)),
				{Combinator: st.And, Rules: []*st.Rule{cond("churnRiskScore", st.OpGte, float64(60)), cond("churnRiskTrend", st.OpGt, float64(0))}},
				{Combinator: st.And, Rules: []*st.Rule{cond("churnRiskScore", st.OpGte, float64(50)), cond("churnRiskTrend", st.OpGte, float64(15))}},
			}},
		}}
	}
	return nil
}
