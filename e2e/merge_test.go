package e2e

import (
	"encoding/json"
	"testing"

	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/testenv"
)

const profileQuery = `query($id: ID!) { customer(id: $id) { id email phoneNumber firstName lastName tags
  sclMemberID teetimePlayerID lifetimeValue aliases { id kind value primary }
  notes { totalCount edges { node { id body } } }
  timeline(first: 100) { totalCount edges { node { id type } } } } }`

// TestMergeUnmergeOverGraphQL merges a TeeTime guest into a member, checks
// the survivor, then unmerges and gets both profiles back as they were.
func TestMergeUnmergeOverGraphQL(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-merge", auth.RoleAdmin)
		member := s.token("club-merge", auth.RoleMember)
		_, res := s.postEvents(admin, []any{
			evt("m-1", "member.created", "scl", "club-merge", map[string]any{"sclMemberId": 42, "email": "sam@club.co.za", "firstName": "Sam"}),
			evt("pay", "payment.received", "scl", "club-merge", map[string]any{"sclMemberId": 42, "paymentId": "p1", "amountCents": 1000, "currency": "ZAR"}),
			evt("p-1", "player.created", "teetime", "club-merge", map[string]any{"teetimePlayerId": "tp-9", "phoneNumber": "0825550777", "lastName": "Stone"}),
			evt("b-1", "teetime.booked", "teetime", "club-merge", map[string]any{"teetimePlayerId": "tp-9", "bookingId": "b1", "teeTime": "2026-12-01T07:00:00Z"}),
		})
		survivor, guest := str(res["results"], 0, "customerId"), str(res["results"], 2, "customerId")
		s.ok(admin, `mutation($id: ID!) { addCustomerNote(input: {customerID: $id, body: "prefers early tee times"}) { id } addCustomerTags(id: $id, tags: ["guest"]) { id } }`, map[string]any{"id": guest})
		before := map[string]string{}
		for _, id := range []string{survivor, guest} {
			b, _ := json.Marshal(s.ok(admin, profileQuery, map[string]any{"id": id}))
			before[id] = string(b)
		}

		if r := s.do(member, `mutation($s: ID!, $m: [ID!]!) { mergeCustomers(survivorID: $s, mergedIDs: $m) { survivor { id } } }`,
			map[string]any{"s": survivor, "m": []string{guest}}); r.code() != "FORBIDDEN" {
			t.Errorf("member merged: %v", r.code())
		}
		if r := s.do(admin, `mutation($s: ID!, $m: [ID!]!) { mergeCustomers(survivorID: $s, mergedIDs: $m) { survivor { id } } }`,
			map[string]any{"s": survivor, "m": []string{survivor}}); r.code() != "INVALID" {
			t.Errorf("self-merge: %v", r.code())
		}
		d := s.ok(admin, `mutation($s: ID!, $m: [ID!]!) { mergeCustomers(survivorID: $s, mergedIDs: $m) {
  survivor { id lastName phoneNumber teetimePlayerID tags notes { totalCount } timeline { totalCount } }
  mergeRecord { id status mergedIDs survivor { id } } } }`, map[string]any{"s": survivor, "m": []string{guest}})
		sv := get(d, "mergeCustomers", "survivor")
		if str(sv, "lastName") != "Stone" || str(sv, "teetimePlayerID") != "tp-9" || str(sv, "notes", "totalCount") != "1" ||
			str(sv, "timeline", "totalCount") != "5" || str(sv, "tags", 0) != "guest" {
			t.Errorf("survivor after merge: %v", sv)
		}
		rec := str(d, "mergeCustomers", "mergeRecord", "id")
		if g := s.ok(admin, `query($id: ID!) { customer(id: $id) { id } }`, map[string]any{"id": guest}); get(g, "customer") != nil {
			t.Errorf("merged profile still readable")
		}
		r := s.ok(admin, `{ resolveCustomer(phone: "0825550777") { customer { id } } }`, nil)
		if str(r, "resolveCustomer", "customer", "id") != survivor {
			t.Errorf("guest's phone does not resolve to the survivor: %v", r)
		}
		if n := str(s.ok(admin, `{ mergeRecords { totalCount } }`, nil), "mergeRecords", "totalCount"); n != "1" {
			t.Errorf("merge records: %s", n)
		}

		u := s.ok(admin, `mutation($id: ID!) { unmergeCustomer(mergeRecordID: $id) { mergeRecord { status } restored { id } survivor { id } } }`, map[string]any{"id": rec})
		if str(u, "unmergeCustomer", "mergeRecord", "status") != "UNMERGED" || str(u, "unmergeCustomer", "restored", 0, "id") != guest {
			t.Fatalf("unmerge: %v", u)
		}
		for _, id := range []string{survivor, guest} {
			b, _ := json.Marshal(s.ok(admin, profileQuery, map[string]any{"id": id}))
			if string(b) != before[id] {
				t.Errorf("profile %s not restored exactly:\nbefore %s\nafter  %s", id, before[id], b)
			}
		}
		if r := s.do(admin, `mutation($id: ID!) { unmergeCustomer(mergeRecordID: $id) { mergeRecord { status } } }`, map[string]any{"id": rec}); r.code() != "CONFLICT" {
			t.Errorf("second unmerge: %v", r.code())
		}
	})
}
