package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// activeGolferSegment is the spec's §8 example, verbatim in its JSON shape
// (lower-case operators), as a client would send it as a variable.
const activeGolferSegment = `{
  "name": "Active Golfers - Low Handicap",
  "rules": [
    { "field": "membershipStatus", "operator": "eq", "value": "ACTIVE" },
    { "field": "membershipTier", "operator": "in", "value": ["Gold", "Platinum"] },
    { "field": "handicap", "operator": "lt", "value": 15 },
    { "field": "bookingCount30d", "operator": "gte", "value": 2 },
    { "field": "engagementScore", "operator": "gte", "value": 50 },
    { "field": "emailOptIn", "operator": "eq", "value": true }
  ],
  "combinator": "AND"
}`

const segmentFieldsFragment = `id name type memberCount combinator definition
  rules { field operator value combinator rules { field operator value } }`

// TestSegmentsOverGraphQL creates the spec's example segment from its JSON,
// reads it back in the same shape, previews, explains, rejects bad rules
// with the failing path, keeps other organizations out, and sees a dynamic
// segment follow ingested events in real time.
func TestSegmentsOverGraphQL(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-seg", auth.RoleAdmin)
		var input map[string]any
		if err := json.Unmarshal([]byte(activeGolferSegment), &input); err != nil {
			t.Fatal(err)
		}
		d := s.ok(admin, `mutation($in: CreateSegmentInput!) { createSegment(input: $in) { `+segmentFieldsFragment+` } }`, map[string]any{"in": input})
		seg := get(d, "createSegment").(map[string]any)
		if seg["type"] != "DYNAMIC" || seg["combinator"] != "AND" {
			t.Fatalf("created %v", seg)
		}
		// Saved rules come back in the shape they were written.
		back, _ := json.Marshal(map[string]any{"name": seg["name"], "rules": seg["rules"], "combinator": seg["combinator"]})
		var want, got any
		_ = json.Unmarshal([]byte(activeGolferSegment), &want)
		_ = json.Unmarshal(back, &got)
		if fmt.Sprint(normalize(got)) != fmt.Sprint(normalize(want)) {
			t.Fatalf("rules read back as\n%s\nwant\n%s", back, activeGolferSegment)
		}
		if def := get(seg, "definition").(map[string]any); def["name"] != input["name"] || len(def["rules"].([]any)) != 6 {
			t.Fatalf("definition %v", def)
		}

		// A bad value names the failing condition.
		bad := s.do(admin, `query { previewSegment(rules: [{field: "handicap", operator: lt, value: 15}, {field: "handicap", operator: lt, value: "low"}]) { count } }`, nil)
		if bad.code() != "INVALID" || !strings.Contains(bad.Errors[0].Message, "rules[1].value: expected a number") {
			t.Fatalf("invalid rule: %+v", bad.Errors)
		}
		bad = s.do(admin, `mutation { createSegment(input: {name: "x", rules: [{field: "shoeSize", operator: eq, value: 9}]}) { id } }`, nil)
		if bad.code() != "INVALID" || !strings.Contains(bad.Errors[0].Message, "input.rules[0].field") {
			t.Fatalf("unknown field: %+v", bad.Errors)
		}

		// People arrive as events: Gold members, one of whom books.
		key := admin // a token with crm:admin may post events
		for i, email := range []string{"a@club.test", "b@club.test"} {
			st, res := s.postEvents(key, evt(fmt.Sprintf("m-%d", i), "member.created", "scl", "club-seg", map[string]any{
				"sclMemberId": 100 + i, "email": email, "firstName": "Member", "lastName": fmt.Sprint(i),
				"membershipTier": "Gold", "membershipStatus": "ACTIVE"}))
			if st != 200 {
				t.Fatalf("post member: %d %v", st, res)
			}
		}
		d = s.ok(admin, `mutation($in: CreateSegmentInput!) { createSegment(input: $in) { id memberCount } }`, map[string]any{"in": map[string]any{
			"name": "Gold bookers", "combinator": "AND", "rules": []any{
				map[string]any{"field": "membershipTier", "operator": "eq", "value": "Gold"},
				map[string]any{"field": "activity.TEETIME_BOOKED.count.30d", "operator": "gte", "value": 1}}}})
		bookers := str(d, "createSegment", "id")
		if str(d, "createSegment", "memberCount") != "0" {
			t.Fatalf("bookers before any booking: %v", d)
		}
		d = s.ok(admin, `query { previewSegment(rules: [{field: "membershipTier", operator: eq, value: "Gold"}]) { count members { email } } }`, nil)
		if str(d, "previewSegment", "count") != "2" {
			t.Fatalf("preview %v", d)
		}
		start := time.Now()
		s.postEvents(key, evt("b-1", "teetime.booked", "teetime", "club-seg", map[string]any{
			"teetimePlayerId": "P-1", "email": "a@club.test", "bookingId": "B-1", "teeTime": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}))
		var members map[string]any
		for {
			members = s.ok(admin, `query($id: ID!) { segment(id: $id) { memberCount members(first: 10) { edges { node { id email } } } } }`, map[string]any{"id": bookers})
			if str(members, "segment", "memberCount") == "1" {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("the booking did not reach the segment within 5s: %v", members)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("event to segment membership: %s", time.Since(start).Round(time.Millisecond))
		edges := get(members, "segment", "members", "edges").([]any)
		if len(edges) != 1 || str(edges[0], "node", "email") != "a@club.test" {
			t.Fatalf("members %v", members)
		}
		member := str(edges[0], "node", "id")
		d = s.ok(admin, `query($s: ID!, $c: ID!) { segment(id: $s) { explain(customerID: $c) { matches member nodes { path field operator expected actual result } } }
  customer(id: $c) { segments { id name } } }`, map[string]any{"s": bookers, "c": member})
		ex := get(d, "segment", "explain").(map[string]any)
		nodes := ex["nodes"].([]any)
		if ex["matches"] != true || ex["member"] != true || len(nodes) != 3 || str(nodes[2], "actual") != "1" || str(nodes[1], "actual") != "Gold" {
			t.Fatalf("explain %v", ex)
		}
		if segs := get(d, "customer", "segments").([]any); len(segs) != 1 || str(segs[0], "id") != bookers {
			t.Fatalf("customer.segments %v", segs)
		}

		// Other organizations and lesser roles.
		other := s.token("club-other", auth.RoleAdmin)
		if d := s.ok(other, `query($id: ID!) { segment(id: $id) { id } }`, map[string]any{"id": bookers}); get(d, "segment") != nil {
			t.Fatalf("another organization sees the segment: %v", d)
		}
		if r := s.do(other, `mutation($id: ID!) { refreshSegment(id: $id) { memberCount } }`, map[string]any{"id": bookers}); r.code() != "NOT_FOUND" {
			t.Fatalf("refresh from another organization: %+v", r.Errors)
		}
		viewer := s.token("club-seg", auth.RoleViewer)
		if r := s.do(viewer, `mutation { createSegment(input: {name: "v"}) { id } }`, nil); r.code() != "FORBIDDEN" {
			t.Fatalf("viewer creates a segment: %+v", r.Errors)
		}
		if d := s.ok(viewer, `query { segments(first: 10) { totalCount edges { node { name } } } segmentFields { name type operators } }`, nil); str(d, "segments", "totalCount") != "2" {
			t.Fatalf("segments %v", d)
		}

		// Refresh and sync.
		d = s.ok(admin, `mutation($id: ID!) { refreshSegment(id: $id) { addedCount removedCount memberCount } syncSegmentToMessaging(id: $id) { contacts skipped } }`, map[string]any{"id": bookers})
		if str(d, "refreshSegment", "addedCount") != "0" || str(d, "syncSegmentToMessaging", "skipped") != "1" {
			t.Fatalf("refresh and sync %v", d)
		}
	})
}

// normalize makes JSON numbers comparable whatever their decoding.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if e != nil {
				out[k] = normalize(e)
			}
		}
		return out
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	}
	return v
}

// TestSegmentMembershipSubscription sees membership changes made by tag
// edits arrive over a websocket.
func TestSegmentMembershipSubscription(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-segsub", auth.RoleAdmin)
		d := s.ok(admin, createCustomer, map[string]any{"in": map[string]any{"email": "hot@club.test"}})
		cust := str(d, "createCustomer", "id")
		d = s.ok(admin, `mutation { createSegment(input: {name: "Hot", rules: [{field: "tags", operator: contains, value: "hot"}]}) { id } }`, nil)
		seg := str(d, "createSegment", "id")

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.CloseNow()
		_ = wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + admin}})
		var ack map[string]any
		if err := wsjson.Read(ctx, conn, &ack); err != nil || ack["type"] != "connection_ack" {
			t.Fatalf("ack %v %v", ack, err)
		}
		_ = wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
			"query":     `subscription($id: ID!) { segmentMembershipChanged(segmentID: $id) { segment { id name } addedIDs removedIDs addedCount memberCount } }`,
			"variables": map[string]any{"id": seg}}})
		got := make(chan map[string]any, 1)
		go func() {
			for {
				var m map[string]any
				if err := wsjson.Read(ctx, conn, &m); err != nil {
					return
				}
				if m["type"] == "next" {
					got <- m
					return
				}
			}
		}()
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		hot := false
		for {
			select {
			case m := <-got:
				b, _ := json.Marshal(m["payload"])
				if !strings.Contains(string(b), cust) || !strings.Contains(string(b), `"name":"Hot"`) {
					t.Fatalf("unexpected change %s", b)
				}
				return
			case <-tick.C:
				op := "addCustomerTags"
				if hot {
					op = "removeCustomerTags"
				}
				hot = !hot
				s.ok(admin, `mutation($id: ID!) { `+op+`(id: $id, tags: ["hot"]) { id } }`, map[string]any{"id": cust})
			case <-ctx.Done():
				t.Fatal("no membership change within 10s")
			}
		}
	})
}
