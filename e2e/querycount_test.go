package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestListingCostsConstantQueries pins the N+1 behaviour: listing customers
// with their notes costs the same number of SQL statements for 5 customers
// as for 50.
func TestListingCostsConstantQueries(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-q", auth.RoleAdmin)
		for i := range 60 {
			d := s.ok(admin, createCustomer, map[string]any{"in": map[string]any{"email": fmt.Sprintf("m%d@club.co.za", i), "lastName": fmt.Sprintf("Member %02d", i)}})
			id := str(d, "createCustomer", "id")
			for j := range 2 {
				s.ok(admin, `mutation($id: ID!, $b: String!) { addCustomerNote(input: {customerID: $id, body: $b}) { id } }`, map[string]any{"id": id, "b": fmt.Sprintf("note %d", j)})
			}
		}
		const q = `query($n: Int!) { customers(first: $n) { totalCount edges { node { id email notes(first: 5) { totalCount edges { node { body authorID } } } } } } }`
		count := func(n int) int64 {
			s.ok(admin, q, map[string]any{"n": n}) // warm caches (organization lookup, query parsing)
			// The follow-up of the customers and notes just written runs in
			// the background on the same client; let it finish, so only the
			// listing is counted.
			if err := s.app.Followup.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			before := s.queries.Load()
			d := s.ok(admin, q, map[string]any{"n": n})
			if got := len(get(d, "customers", "edges").([]any)); got != n {
				t.Fatalf("listed %d customers, want %d", got, n)
			}
			if str(d, "customers", "edges", n-1, "node", "notes", "totalCount") != "2" {
				t.Fatalf("notes not loaded: %v", get(d, "customers", "edges", n-1))
			}
			return s.queries.Load() - before
		}
		small, large := count(5), count(50)
		t.Logf("SQL statements: %d for 5 customers, %d for 50", small, large)
		if small != large {
			t.Fatalf("listing 50 customers with notes cost %d statements, 5 cost %d: N+1", large, small)
		}
		if large > 6 {
			t.Fatalf("listing cost %d statements; expected at most 6", large)
		}
	})
}
