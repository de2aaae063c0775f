package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/testenv"
)

const scoresQuery = `query($id: ID!) { customer(id: $id) { engagementScore churnRiskScore healthScore healthBand
  scores { engagement churnRisk churnRiskTrend health band recommendedActions computedAt
    components { engagement { name weight value points raw } churnRisk { name weight value points } health { name weight value points } } } } }`

// TestScoresFollowEventsAndRecompute sees an ingested person scored within
// seconds, with the components that explain the scores, and a manual full
// recompute recorded as a score run.
func TestScoresFollowEventsAndRecompute(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-score", auth.RoleAdmin)
		events := []any{evt("m-1", "member.created", "scl", "club-score", map[string]any{"sclMemberId": 7, "email": "score@club.test",
			"membershipTier": "Gold", "membershipStatus": "ACTIVE"})}
		for i := range 6 {
			events = append(events, evt(fmt.Sprintf("b-%d", i), "teetime.booked", "teetime", "club-score", map[string]any{
				"teetimePlayerId": "P-7", "email": "score@club.test", "bookingId": fmt.Sprint(i),
				"teeTime": time.Now().Add(time.Duration(i+1) * 24 * time.Hour).UTC().Format(time.RFC3339)}))
		}
		events = append(events, evt("pay", "payment.received", "scl", "club-score", map[string]any{"sclMemberId": 7, "paymentId": "p1", "amountCents": 150000, "currency": "ZAR"}))
		_, res := s.postEvents(admin, events)
		id := str(res["results"].([]any)[0], "customerId")
		deadline := time.Now().Add(5 * time.Second)
		var d map[string]any
		for {
			d = s.ok(admin, scoresQuery, map[string]any{"id": id})
			if get(d, "customer", "scores", "computedAt") != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not scored within 5s of its events: %v", d)
			}
			time.Sleep(50 * time.Millisecond)
		}
		sc := get(d, "customer", "scores").(map[string]any)
		if sc["engagement"] == nil || sc["health"] == nil || sc["band"] == nil || len(sc["recommendedActions"].([]any)) == 0 {
			t.Fatalf("scores %v", sc)
		}
		if n := len(get(sc, "components", "engagement").([]any)); n != 5 {
			t.Fatalf("engagement components %d: %v", n, sc)
		}
		if n := len(get(sc, "components", "churnRisk").([]any)); n != 5 {
			t.Fatalf("churn components %d", n)
		}
		if fmt.Sprint(get(d, "customer", "engagementScore")) != fmt.Sprint(sc["engagement"]) {
			t.Fatalf("profile and scores disagree: %v", d)
		}
		d = s.ok(admin, `mutation { recomputeScores { profiles changed run { id profiles trigger } } }`, nil)
		if str(d, "recomputeScores", "profiles") != "1" || str(d, "recomputeScores", "run", "trigger") != "MANUAL" {
			t.Fatalf("recompute %v", d)
		}
		d = s.ok(admin, `mutation($id: ID!) { recomputeScores(customerID: $id) { profiles customer { id scores { engagement } } } }`, map[string]any{"id": id})
		if str(d, "recomputeScores", "customer", "id") != id {
			t.Fatalf("recompute one %v", d)
		}
		d = s.ok(admin, `query { scoreRuns(first: 5) { totalCount edges { node { trigger profiles ltvReferenceCents } } } }`, nil)
		if str(d, "scoreRuns", "totalCount") != "1" {
			t.Fatalf("score runs %v", d)
		}
		viewer := s.token("club-score", auth.RoleViewer)
		if r := s.do(viewer, `mutation { recomputeScores { profiles } }`, nil); r.code() != "FORBIDDEN" {
			t.Fatalf("viewer recomputes: %+v", r.Errors)
		}
	})
}
