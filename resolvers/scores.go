package resolvers

import (
	"github.com/rapportcrm/rapport/ent"
	st "github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/graph/model"
	"github.com/rapportcrm/rapport/internal/scoring"
)

// customerScores shapes a profile's stored scores for the API.
func customerScores(p *ent.CustomerProfile) *model.CustomerScores {
	comps := p.ScoreComponents
	if comps.Engagement == nil {
		comps.Engagement = []st.ScoreComponent{}
	}
	if comps.ChurnRisk == nil {
		comps.ChurnRisk = []st.ScoreComponent{}
	}
	if comps.Health == nil {
		comps.Health = []st.ScoreComponent{}
	}
	actions := []string{}
	if p.HealthBand != nil {
		actions = scoring.RecommendedActions(p.HealthBand.String())
	}
	return &model.CustomerScores{Engagement: p.EngagementScore, ChurnRisk: p.ChurnRiskScore, ChurnRiskTrend: p.ChurnRiskTrend,
		Health: p.HealthScore, Band: p.HealthBand, RecommendedActions: actions, Components: &comps, ComputedAt: p.ScoresComputedAt}
}
