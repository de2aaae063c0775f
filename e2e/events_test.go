package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// postEvents sends a body to /events and decodes the response.
func (s *server) postEvents(token string, body any) (int, map[string]any) {
	s.t.Helper()
	return s.postEventsTo("/events", token, body)
}

// postEventsTo is postEvents to path (with a query, say).
func (s *server) postEventsTo(path, token string, body any) (int, map[string]any) {
	s.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func evt(id, typ, source, tenant string, data map[string]any) map[string]any {
	return map[string]any{"id": id, "type": typ, "source": source, "tenant": tenant,
		"occurredAt": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano), "data": data}
}

const timelineQuery = `query($id: ID!, $first: Int, $after: Cursor, $cats: [ActivityCategory!]) {
  customer(id: $id) { id email lifetimeValue bookingCount30d activityCount30d lastActivityAt handicap membershipTier
    timeline(first: $first, after: $after, categories: $cats) { totalCount edges { cursor node { id type category title channel sourceService occurredAt } } pageInfo { hasNextPage endCursor } } } }`

// TestEventIntakeTimelineAndResolution posts events with an API key, reads
// the profile and timeline they produced, pages the timeline, resolves the
// person by e-mail and phone, and sees a conflicting event flagged.
func TestEventIntakeTimelineAndResolution(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-ev", auth.RoleAdmin)
		viewer := s.token("club-ev", auth.RoleViewer)

		// API keys: created once, shown once, listed without the secret.
		d := s.ok(admin, `mutation { createApiKey(input: {name: "SCL prod"}) { key apiKey { id name prefix role } } }`, nil)
		key := str(d, "createApiKey", "key")
		if !strings.HasPrefix(key, "rpk_") || str(d, "createApiKey", "apiKey", "role") != "admin" {
			t.Fatalf("api key: %v", d)
		}
		if r := s.do(viewer, `mutation { createApiKey(input: {name: "x"}) { key } }`, nil); r.code() != "FORBIDDEN" {
			t.Errorf("viewer created a key: %v", r.code())
		}

		// A viewer token may not post events; no token is 401.
		if st, _ := s.postEvents(viewer, evt("x", "member.created", "scl", "club-ev", map[string]any{"sclMemberId": 1})); st != http.StatusForbidden {
			t.Errorf("viewer posted events: %d", st)
		}
		if st, _ := s.postEvents("", evt("x", "member.created", "scl", "club-ev", map[string]any{"sclMemberId": 1})); st != http.StatusUnauthorized {
			t.Errorf("anonymous posted events: %d", st)
		}

		events := []any{
			evt("m-1", "member.created", "scl", "club-ev", map[string]any{"sclMemberId": 501, "email": "Pat.Lee@Club.co.za", "firstName": "Pat", "lastName": "Lee", "membershipTier": "Silver"}),
			evt("p-1", "player.created", "teetime", "", map[string]any{"teetimePlayerId": "tp-1", "email": "pat.lee@club.co.za", "phoneNumber": "0825550123", "handicap": 18.2}),
			evt("t-1", "tier.changed", "scl", "club-ev", map[string]any{"sclMemberId": 501, "fromTier": "Silver", "toTier": "Gold"}),
			evt("pay-1", "payment.received", "scl", "club-ev", map[string]any{"sclMemberId": 501, "paymentId": "inv-9", "amountCents": 250000, "currency": "ZAR"}),
			evt("other", "member.created", "scl", "another-club", map[string]any{"sclMemberId": 9}),
			evt("bad", "member.created", "scl", "club-ev", map[string]any{"sclMemberId": 7, "email": "nope"}),
		}
		for i := range 12 {
			events = append(events, evt(fmt.Sprintf("b-%d", i), "teetime.booked", "teetime", "club-ev", map[string]any{
				"teetimePlayerId": "tp-1", "bookingId": fmt.Sprintf("bk-%d", i), "teeTime": time.Now().Add(time.Duration(i+1) * 24 * time.Hour).Format(time.RFC3339), "courseName": "Championship"}))
		}
		// A dry run answers as the post will and writes nothing: the real
		// post below still creates and processes everything.
		st, dry := s.postEventsTo("/events?dryRun=true", key, events)
		if st != http.StatusOK || dry["dryRun"] != true {
			t.Fatalf("dry run: %d %v", st, dry)
		}
		dr := dry["results"].([]any)
		if str(dr[0], "status") != "processed" || str(dr[0], "created") != "true" || str(dr[0], "customerId") != "<nil>" ||
			str(dr[0], "activityId") != "<nil>" || str(dr[1], "status") != "processed" || str(dr[4], "status") != "rejected" ||
			!strings.Contains(str(dr[5], "reason"), "e-mail") {
			t.Errorf("dry-run results: %v", dr)
		}
		if st, res := s.postEventsTo("/events?dryRun=maybe", key, events[:1]); st != http.StatusBadRequest {
			t.Errorf("dryRun=maybe: %d %v", st, res)
		}
		st, res := s.postEvents(key, events)
		if st != http.StatusOK {
			t.Fatalf("post events: %d %v", st, res)
		}
		results := res["results"].([]any)
		statusOf := func(i int) string { return str(results[i], "status") }
		if statusOf(0) != "processed" || statusOf(1) != "processed" || statusOf(4) != "rejected" || statusOf(5) != "rejected" {
			t.Fatalf("results: %v", results)
		}
		if !strings.Contains(str(results[4], "reason"), "caller's organization") || !strings.Contains(str(results[5], "reason"), "e-mail") {
			t.Errorf("reasons: %v / %v", results[4], results[5])
		}
		id := str(results[0], "customerId")
		if str(results[0], "activityId") == "<nil>" {
			t.Errorf("no timeline entry id: %v", results[0])
		}
		if str(results[1], "customerId") != id {
			t.Fatalf("player not linked to member: %v", results[1])
		}
		// Posting again is harmless.
		_, again := s.postEvents(key, events[:4])
		for _, r := range again["results"].([]any) {
			if str(r, "status") != "duplicate" {
				t.Errorf("redelivery: %v", r)
			}
		}

		c := s.ok(viewer, timelineQuery, map[string]any{"id": id, "first": 5})
		cust := get(c, "customer")
		if str(cust, "lifetimeValue") != "250000" || str(cust, "bookingCount30d") != "12" || str(cust, "activityCount30d") != "16" ||
			str(cust, "membershipTier") != "Gold" || str(cust, "handicap") != "18.2" {
			t.Errorf("profile: %v", cust)
		}
		tl := get(cust, "timeline")
		if str(tl, "totalCount") != "16" || len(get(tl, "edges").([]any)) != 5 || str(tl, "pageInfo", "hasNextPage") != "true" {
			t.Fatalf("timeline page 1: %v", tl)
		}
		// Page through: newest first, no repeats.
		seen := map[string]bool{}
		var last time.Time
		after := any(nil)
		for page := 0; page < 10; page++ {
			c := s.ok(viewer, timelineQuery, map[string]any{"id": id, "first": 5, "after": after})
			tl := get(c, "customer", "timeline")
			for _, e := range get(tl, "edges").([]any) {
				nid := str(e, "node", "id")
				if seen[nid] {
					t.Fatalf("entry %s repeated", nid)
				}
				seen[nid] = true
				at, _ := time.Parse(time.RFC3339Nano, str(e, "node", "occurredAt"))
				if !last.IsZero() && at.After(last) {
					t.Errorf("not newest first")
				}
				last = at
			}
			if str(tl, "pageInfo", "hasNextPage") != "true" {
				break
			}
			after = str(tl, "pageInfo", "endCursor")
		}
		if len(seen) != 16 {
			t.Errorf("paged %d entries, want 16", len(seen))
		}
		fin := s.ok(viewer, timelineQuery, map[string]any{"id": id, "first": 50, "cats": []string{"FINANCIAL"}})
		if n := str(get(fin, "customer", "timeline"), "totalCount"); n != "1" {
			t.Errorf("financial entries: %s", n)
		}

		// Staff log a call.
		d = s.ok(admin, `mutation($in: AddActivityInput!) { addActivity(input: $in) { id type category direction title staffID } }`,
			map[string]any{"in": map[string]any{"customerID": id, "type": "CALL", "direction": "OUTBOUND", "subject": "Renewal chat", "channel": "phone"}})
		if str(d, "addActivity", "category") != "COMMUNICATION" || str(d, "addActivity", "staffID") != "user-admin-club-ev" {
			t.Errorf("addActivity: %v", d)
		}
		if r := s.do(admin, `mutation($in: AddActivityInput!) { addActivity(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"customerID": id, "type": "TEETIME_BOOKED", "subject": "x"}}); r.code() != "INVALID" {
			t.Errorf("staff logged a system type: %v", r.code())
		}

		// resolveCustomer: read-only, strongest key wins.
		q := `query($e: String, $p: String) { resolveCustomer(email: $e, phone: $p) { customer { id } matchedBy confidence conflicts { id } } }`
		r := s.ok(viewer, q, map[string]any{"e": " PAT.LEE@club.co.za", "p": "+27 82 555 0123"})
		if str(r, "resolveCustomer", "customer", "id") != id || str(r, "resolveCustomer", "matchedBy") != "EMAIL_AND_PHONE" || str(r, "resolveCustomer", "confidence") != "99" {
			t.Errorf("resolve: %v", r)
		}
		r = s.ok(viewer, q, map[string]any{"p": "082 555 0123"})
		if str(r, "resolveCustomer", "matchedBy") != "PHONE" || str(r, "resolveCustomer", "confidence") != "85" {
			t.Errorf("resolve by phone: %v", r)
		}
		r = s.ok(viewer, q, map[string]any{"e": "nobody@club.co.za"})
		if get(r, "resolveCustomer", "customer") != nil || str(r, "resolveCustomer", "confidence") != "0" {
			t.Errorf("resolve unknown: %v", r)
		}
		if rr := s.do(viewer, q, map[string]any{"e": "not-an-email"}); rr.code() != "INVALID" {
			t.Errorf("bad e-mail: %v", rr.code())
		}

		// A conflicting event is flagged, not merged; staff dismiss it.
		s.postEvents(key, []any{
			evt("p-2", "player.created", "teetime", "club-ev", map[string]any{"teetimePlayerId": "tp-2", "phoneNumber": "0825550999"}),
			evt("c-1", "message.sent", "messaging", "club-ev", map[string]any{"messagingContactId": "mc-1", "email": "pat.lee@club.co.za", "phoneNumber": "0825550999", "messageId": "m-1", "channel": "SMS"}),
		})
		dc := s.ok(viewer, `{ duplicateCandidates { totalCount edges { node { id reason confidence evidence { kind value } customerA { id } customerB { id } } } } }`, nil)
		if str(dc, "duplicateCandidates", "totalCount") != "1" || str(dc, "duplicateCandidates", "edges", 0, "node", "reason") != "CONFLICTING_KEYS" {
			t.Fatalf("candidates: %v", dc)
		}
		cid := str(dc, "duplicateCandidates", "edges", 0, "node", "id")
		d = s.ok(admin, `mutation($id: ID!) { dismissDuplicateCandidate(id: $id) { status resolvedBy } }`, map[string]any{"id": cid})
		if str(d, "dismissDuplicateCandidate", "status") != "DISMISSED" {
			t.Errorf("dismiss: %v", d)
		}

		// The sync log shows what was processed and rejected.
		sl := s.ok(admin, `{ syncLog(status: REJECTED) { totalCount edges { node { eventID reason } } } }`, nil)
		if str(sl, "syncLog", "totalCount") != "1" {
			t.Errorf("sync log: %v", sl)
		}
		// Another tenant sees none of it.
		otherTok := s.token("another-club", auth.RoleAdmin)
		o := s.ok(otherTok, `query($id: ID!) { customer(id: $id) { id } node(id: $id) { id } duplicateCandidates { totalCount } }`, map[string]any{"id": id})
		if get(o, "customer") != nil || get(o, "node") != nil || str(o, "duplicateCandidates", "totalCount") != "0" {
			t.Errorf("tenant leak: %v", o)
		}

		// Revoked keys stop working.
		kid := str(s.ok(admin, `{ apiKeys { id revokedAt } }`, nil), "apiKeys", 0, "id")
		s.ok(admin, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, map[string]any{"id": kid})
		if st, _ := s.postEvents(key, evt("late", "member.created", "scl", "club-ev", map[string]any{"sclMemberId": 2})); st != http.StatusUnauthorized {
			t.Errorf("revoked key: %d", st)
		}
	})
}

// TestTimelineSubscription receives an entry ingested over HTTP on a
// websocket subscription.
func TestTimelineSubscription(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-tl", auth.RoleAdmin)
		_, res := s.postEvents(admin, evt("m-1", "member.created", "scl", "club-tl", map[string]any{"sclMemberId": 1, "email": "sub@club.co.za"}))
		id := str(res["results"], 0, "customerId")

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		_ = wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + admin}})
		readType(t, ctx, conn, "connection_ack")
		_ = wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
			"query": `subscription($id: ID!) { timelineUpdated(customerID: $id) { id type title customerID } }`, "variables": map[string]any{"id": id}}})
		// The subscription is registered asynchronously; post until it fires.
		go func() {
			for i := 0; ctx.Err() == nil; i++ {
				s.postEvents(admin, evt(fmt.Sprintf("o-%d", i), "email.opened", "messaging", "club-tl", map[string]any{"messagingContactId": "mc", "email": "sub@club.co.za", "messageId": fmt.Sprint(i)}))
				time.Sleep(100 * time.Millisecond)
			}
		}()
		m := readType(t, ctx, conn, "next")
		if str(m, "payload", "data", "timelineUpdated", "type") != "EMAIL_OPENED" || str(m, "payload", "data", "timelineUpdated", "customerID") != id {
			t.Errorf("event: %v", m)
		}
	})
}

func readType(t *testing.T, ctx context.Context, conn *websocket.Conn, want string) map[string]any {
	t.Helper()
	for {
		var m map[string]any
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		switch m["type"] {
		case want:
			return m
		case "ka", "ping", "pong":
			continue
		default:
			t.Fatalf("waiting for %s, got %v", want, m)
		}
	}
}
