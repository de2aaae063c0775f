package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestPageInfoWithoutCount pages through customers asking for pageInfo but
// not totalCount: pages are right, and no COUNT query runs for them.
func TestPageInfoWithoutCount(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-pages", auth.RoleAdmin)
		for i := range 3 {
			s.ok(admin, createCustomer, map[string]any{"in": map[string]any{"email": fmt.Sprintf("p%d@club.co.za", i)}})
		}
		q := `query($after: Cursor) { customers(first: 2, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`
		// Only the listings are counted, not the background follow-up of
		// the customers just created.
		if err := s.app.Followup.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		before := s.queries.Load()
		d := s.ok(admin, q, nil)
		used := s.queries.Load() - before
		if n := len(get(d, "customers", "edges").([]any)); n != 2 || str(d, "customers", "pageInfo", "hasNextPage") != "true" {
			t.Fatalf("page 1: %v", d)
		}
		d = s.ok(admin, q, map[string]any{"after": str(d, "customers", "pageInfo", "endCursor")})
		if n := len(get(d, "customers", "edges").([]any)); n != 1 || str(d, "customers", "pageInfo", "hasNextPage") != "false" {
			t.Fatalf("page 2: %v", d)
		}
		// With totalCount the count runs: one more statement than without.
		before = s.queries.Load()
		s.ok(admin, `{ customers(first: 2) { totalCount pageInfo { hasNextPage } edges { node { id } } } }`, nil)
		if withCount := s.queries.Load() - before; withCount != used+1 {
			t.Errorf("statements: %d without totalCount, %d with; want one more with", used, withCount)
		}
	})
}
