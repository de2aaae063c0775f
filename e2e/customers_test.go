package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

const createCustomer = `mutation($in: CreateCustomerInput!) {
  createCustomer(input: $in) { id email phoneNumber displayName tags status membershipTier handicap externalIds { golfRsaId } }
}`

func TestCustomerLifecycle(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-a", auth.RoleAdmin)

		d := s.ok(admin, createCustomer, map[string]any{"in": map[string]any{
			"email": "  Jane.Doe@Example.CO.ZA ", "phoneNumber": "082 555 1234",
			"firstName": "Jane", "lastName": "Doe", "tags": []string{"VIP", "vip", " juniors "},
			"membershipTier": "Gold", "handicap": 12.4, "externalIds": map[string]any{"golfRsaId": "GRSA-1"},
		}})
		c := get(d, "createCustomer")
		id := str(c, "id")
		if str(c, "email") != "jane.doe@example.co.za" || str(c, "phoneNumber") != "+27825551234" {
			t.Fatalf("keys not normalized: %v", c)
		}
		if str(c, "displayName") != "Jane Doe" || str(c, "tags") != "[juniors vip]" || str(c, "externalIds", "golfRsaId") != "GRSA-1" {
			t.Fatalf("unexpected profile: %v", c)
		}

		// Read it back by id and through node().
		d = s.ok(admin, `query($id: ID!) { customer(id: $id) { id email } node(id: $id) { id ... on Customer { lastName } } }`, map[string]any{"id": id})
		if str(d, "customer", "email") != "jane.doe@example.co.za" || str(d, "node", "lastName") != "Doe" {
			t.Fatalf("read back: %v", d)
		}

		// Update: change the e-mail, clear the handicap, leave the rest.
		d = s.ok(admin, `mutation($id: ID!) { updateCustomer(id: $id, input: {email: "jane@fairway.co.za", handicap: null, membershipStatus: "ACTIVE"}) { email handicap membershipTier membershipStatus } }`, map[string]any{"id": id})
		u := get(d, "updateCustomer")
		if str(u, "email") != "jane@fairway.co.za" || get(u, "handicap") != nil || str(u, "membershipTier") != "Gold" || str(u, "membershipStatus") != "ACTIVE" {
			t.Fatalf("update: %v", u)
		}
		// The old address is free again; the new one is taken.
		s.ok(admin, createCustomer, map[string]any{"in": map[string]any{"email": "jane.doe@example.co.za", "firstName": "Other"}})
		r := s.do(admin, createCustomer, map[string]any{"in": map[string]any{"email": "JANE@fairway.co.za"}})
		if r.code() != "CONFLICT" || !strings.Contains(r.Errors[0].Message, id) {
			t.Fatalf("duplicate e-mail: want CONFLICT naming %s, got %+v", id, r.Errors)
		}
		r = s.do(admin, createCustomer, map[string]any{"in": map[string]any{"phoneNumber": "+27 82 555 1234"}})
		if r.code() != "CONFLICT" || !strings.Contains(r.Errors[0].Message, id) {
			t.Fatalf("duplicate phone: want CONFLICT naming %s, got %+v", id, r.Errors)
		}

		// Tags.
		d = s.ok(admin, `mutation($id: ID!) { addCustomerTags(id: $id, tags: ["Board", "vip"]) { tags } }`, map[string]any{"id": id})
		if str(d, "addCustomerTags", "tags") != "[board juniors vip]" {
			t.Fatalf("addCustomerTags: %v", d)
		}
		d = s.ok(admin, `mutation($id: ID!) { removeCustomerTags(id: $id, tags: ["juniors", "absent"]) { tags } }`, map[string]any{"id": id})
		if str(d, "removeCustomerTags", "tags") != "[board vip]" {
			t.Fatalf("removeCustomerTags: %v", d)
		}

		// Notes.
		d = s.ok(admin, `mutation($id: ID!) { addCustomerNote(input: {customerID: $id, body: "Prefers early tee times", pinned: true}) { id body pinned authorID } }`, map[string]any{"id": id})
		noteID := str(d, "addCustomerNote", "id")
		s.ok(admin, `mutation($id: ID!) { updateCustomerNote(id: $id, input: {body: "Prefers early Saturday tee times"}) { body } }`, map[string]any{"id": noteID})
		d = s.ok(admin, `query($id: ID!) { customer(id: $id) { notes { totalCount edges { node { body pinned } } } } }`, map[string]any{"id": id})
		if str(d, "customer", "notes", "totalCount") != "1" || str(d, "customer", "notes", "edges", 0, "node", "body") != "Prefers early Saturday tee times" {
			t.Fatalf("notes: %v", d)
		}

		// Lists: filter, search, tag filter, ordering, paging.
		for _, e := range []string{"a@club.co.za", "b@club.co.za", "c@club.co.za"} {
			s.ok(admin, createCustomer, map[string]any{"in": map[string]any{"email": e, "lastName": strings.ToUpper(e[:1]) + "ast", "membershipTier": "Silver"}})
		}
		d = s.ok(admin, `{ customers(where: {membershipTier: "Silver"}, orderBy: [{field: LAST_NAME, direction: DESC}], first: 2) { totalCount edges { node { lastName } } pageInfo { hasNextPage endCursor } } }`, nil)
		if str(d, "customers", "totalCount") != "3" || str(d, "customers", "edges", 0, "node", "lastName") != "Cast" || str(d, "customers", "pageInfo", "hasNextPage") != "true" {
			t.Fatalf("filtered list: %v", d)
		}
		d = s.ok(admin, `query($after: Cursor) { customers(where: {membershipTier: "Silver"}, orderBy: [{field: LAST_NAME, direction: DESC}], first: 2, after: $after) { edges { node { lastName } } pageInfo { hasNextPage } } }`,
			map[string]any{"after": get(d, "customers", "pageInfo", "endCursor")})
		if str(d, "customers", "edges", 0, "node", "lastName") != "Aast" || str(d, "customers", "pageInfo", "hasNextPage") != "false" {
			t.Fatalf("second page: %v", d)
		}
		d = s.ok(admin, `{ customers(search: "JANE@FAIRWAY.CO.ZA") { totalCount edges { node { id } } } }`, nil)
		if str(d, "customers", "totalCount") != "1" || str(d, "customers", "edges", 0, "node", "id") != id {
			t.Fatalf("search by e-mail: %v", d)
		}
		d = s.ok(admin, `{ customers(search: "082 555 1234") { totalCount } }`, nil)
		if str(d, "customers", "totalCount") != "1" {
			t.Fatalf("search by phone: %v", d)
		}
		// Words match names, e-mail and phone: both Jane Doe and the
		// profile holding jane.doe@… match.
		d = s.ok(admin, `{ customers(search: "Jane DO") { totalCount } }`, nil)
		if str(d, "customers", "totalCount") != "2" {
			t.Fatalf("search by words: %v", d)
		}
		d = s.ok(admin, `{ customers(search: "cas") { totalCount edges { node { lastName } } } }`, nil)
		if str(d, "customers", "totalCount") != "1" || str(d, "customers", "edges", 0, "node", "lastName") != "Cast" {
			t.Fatalf("search by name: %v", d)
		}
		d = s.ok(admin, `{ customers(where: {hasTags: ["VIP", "board"]}) { totalCount } }`, nil)
		if str(d, "customers", "totalCount") != "1" {
			t.Fatalf("hasTags: %v", d)
		}
		r = s.do(admin, `{ customers(first: -1) { totalCount } }`, nil)
		if r.code() != "INVALID" {
			t.Fatalf("negative page size: %+v", r.Errors)
		}

		// Audit trail of the profile.
		d = s.ok(admin, `query($id: ID!) { auditLog(entityID: $id) { totalCount edges { node { action actorID changes } } } }`, map[string]any{"id": id})
		if n := str(d, "auditLog", "totalCount"); n == "0" || n == "<nil>" {
			t.Fatalf("no audit entries: %v", d)
		}
		if str(d, "auditLog", "edges", 0, "node", "actorID") != "user-admin-club-a" {
			t.Fatalf("audit actor: %v", d)
		}

		// Delete, with the timeline: nothing of the profile is left.
		s.ok(admin, `mutation($in: AddActivityInput!) { addActivity(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"customerID": id, "type": "CALL", "direction": "OUTBOUND", "subject": "Renewal"}})
		d = s.ok(admin, `mutation($id: ID!) { deleteCustomer(id: $id) { deletedID } }`, map[string]any{"id": id})
		d = s.ok(admin, `query($id: ID!) { customer(id: $id) { id } }`, map[string]any{"id": id})
		if get(d, "customer") != nil {
			t.Fatalf("deleted customer still readable: %v", d)
		}
		left, err := s.app.DB.Client.Activity.Query().Where(activity.CustomerID(uuid.MustParse(id))).Count(tenancy.WithSystem(context.Background()))
		if err != nil || left != 0 {
			t.Fatalf("deleted customer's timeline: %d entries left (%v)", left, err)
		}
		r = s.do(admin, `mutation($id: ID!) { deleteCustomer(id: $id) { deletedID } }`, map[string]any{"id": id})
		if r.code() != "NOT_FOUND" {
			t.Fatalf("second delete: %+v", r.Errors)
		}
		// Its keys are free again.
		s.ok(admin, createCustomer, map[string]any{"in": map[string]any{"email": "jane@fairway.co.za"}})
	})
}

func TestInputValidation(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-v", auth.RoleAdmin)
		for name, tc := range map[string]struct {
			in    map[string]any
			field string
		}{
			"invalid e-mail":   {map[string]any{"email": "not-an-email"}, "input.email"},
			"invalid phone":    {map[string]any{"phoneNumber": "12"}, "input.phoneNumber"},
			"no identity key":  {map[string]any{"firstName": "Nobody"}, "input"},
			"placeholder only": {map[string]any{"email": "test@test.com"}, "input.email"},
			"bad handicap":     {map[string]any{"email": "h@club.co.za", "handicap": 99}, "input.handicap"},
			"empty tag":        {map[string]any{"email": "t@club.co.za", "tags": []string{" "}}, "input.tags"},
		} {
			r := s.do(admin, createCustomer, map[string]any{"in": tc.in})
			if r.code() != "INVALID" || r.Errors[0].Extensions["field"] != tc.field {
				t.Errorf("%s: want INVALID on %s, got %+v", name, tc.field, r.Errors)
			}
		}
		r := s.do(admin, `{ customer(id: "nope") { id } }`, nil)
		if r.code() != "INVALID" {
			t.Errorf("malformed id: want INVALID, got %+v", r.Errors)
		}
		r = s.do(admin, `{ customers { edges { node { nope } } } }`, nil)
		if r.code() != "INVALID" {
			t.Errorf("unknown field: want INVALID, got %+v", r.Errors)
		}
		// Nothing was half-written.
		d := s.ok(admin, `{ customers { totalCount } }`, nil)
		if str(d, "customers", "totalCount") != "0" {
			t.Errorf("rejected input left rows behind: %v", d)
		}
	})
}

func TestAuthorization(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		viewer := s.token("club-z", auth.RoleViewer)
		r := s.do(viewer, createCustomer, map[string]any{"in": map[string]any{"email": "v@club.co.za"}})
		if r.code() != "FORBIDDEN" {
			t.Fatalf("viewer mutation: want FORBIDDEN, got %+v", r.Errors)
		}
		s.ok(viewer, `{ customers { totalCount } viewer { role scopes organization { slug } } }`, nil)

		member := s.token("club-z", auth.RoleTenantUser)
		s.ok(member, createCustomer, map[string]any{"in": map[string]any{"email": "m@club.co.za"}})
		r = s.do(member, `{ auditLog { totalCount } }`, nil)
		if r.code() != "FORBIDDEN" {
			t.Fatalf("tenant_user audit log: want FORBIDDEN, got %+v", r.Errors)
		}

		r = s.do("", `{ customers { totalCount } }`, nil)
		if r.code() != "UNAUTHENTICATED" {
			t.Fatalf("no token: want UNAUTHENTICATED, got %+v", r.Errors)
		}
		r = s.do("not.a.token", `{ customers { totalCount } }`, nil)
		if r.code() != "UNAUTHENTICATED" || r.Status != 401 {
			t.Fatalf("bad token: want 401 UNAUTHENTICATED, got %d %+v", r.Status, r.Errors)
		}
		// Introspection needs no token: playgrounds and code generators use it.
		s.ok("", `{ __schema { queryType { name } } }`, nil)
	})
}

func TestTenantIsolation(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		a := s.token("tenant-a", auth.RoleOwner)
		b := s.token("tenant-b", auth.RoleOwner)
		d := s.ok(a, createCustomer, map[string]any{"in": map[string]any{"email": "secret@a.co.za", "firstName": "Secret"}})
		id := str(d, "createCustomer", "id")
		d = s.ok(a, `mutation($id: ID!) { addCustomerNote(input: {customerID: $id, body: "private"}) { id } }`, map[string]any{"id": id})
		noteID := str(d, "addCustomerNote", "id")

		d = s.ok(b, `query($id: ID!, $n: ID!) { customer(id: $id) { id } node(id: $id) { id } nodes(ids: [$id, $n]) { id } customers(search: "secret") { totalCount } all: customers { totalCount } }`,
			map[string]any{"id": id, "n": noteID})
		if get(d, "customer") != nil || get(d, "node") != nil || str(d, "nodes") != "[<nil> <nil>]" ||
			str(d, "customers", "totalCount") != "0" || str(d, "all", "totalCount") != "0" {
			t.Fatalf("tenant B sees tenant A's data: %v", d)
		}
		// B can reuse the e-mail: keys are unique per tenant.
		s.ok(b, createCustomer, map[string]any{"in": map[string]any{"email": "secret@a.co.za"}})
		for _, m := range []string{
			`mutation($id: ID!) { updateCustomer(id: $id, input: {firstName: "Pwned"}) { id } }`,
			`mutation($id: ID!) { deleteCustomer(id: $id) { deletedID } }`,
			`mutation($id: ID!) { addCustomerTags(id: $id, tags: ["x"]) { id } }`,
			`mutation($id: ID!) { addCustomerNote(input: {customerID: $id, body: "x"}) { id } }`,
		} {
			if r := s.do(b, m, map[string]any{"id": id}); r.code() != "NOT_FOUND" {
				t.Fatalf("cross-tenant mutation %q: want NOT_FOUND, got %+v", m, r.Errors)
			}
		}
		if r := s.do(b, `mutation($id: ID!) { deleteCustomerNote(id: $id) { deletedID } }`, map[string]any{"id": noteID}); r.code() != "NOT_FOUND" {
			t.Fatalf("cross-tenant note delete: %+v", r.Errors)
		}
		d = s.ok(a, `query($id: ID!) { customer(id: $id) { firstName notes { totalCount } } }`, map[string]any{"id": id})
		if str(d, "customer", "firstName") != "Secret" || str(d, "customer", "notes", "totalCount") != "1" {
			t.Fatalf("tenant A's data changed: %v", d)
		}
	})
}
