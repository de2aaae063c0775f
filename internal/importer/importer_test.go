package importer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/importer"
	"github.com/rapportcrm/rapport/internal/ingest"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

type fixture struct {
	db  *database.DB
	org *ent.Organization
	p   *ingest.Pipeline
	ctx context.Context // tenant-scoped
}

func setup(t *testing.T, tg testenv.Target) *fixture {
	t.Helper()
	ctx := context.Background()
	db := testenv.Open(t, tg)
	org, err := organization.Ensure(ctx, db.Client, "fairway", "Fairway Hills")
	if err != nil {
		t.Fatal(err)
	}
	p := ingest.New(ingest.Config{Client: db.Client, Dialect: db.Dialect, Orgs: organization.NewResolver(db.Client)})
	return &fixture{db: db, org: org, p: p, ctx: tenancy.WithTenant(ctx, org.ID)}
}

// event sends one live event, to have profiles the import can match.
func (f *fixture) event(t *testing.T, id, typ, source string, data map[string]any) ingest.Result {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"id": id, "type": typ, "source": source, "tenant": "fairway",
		"occurredAt": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339), "data": data})
	r := f.p.Process(context.Background(), [][]byte{raw})[0]
	if r.Status != ingest.Processed {
		t.Fatalf("event %s: %+v", id, r)
	}
	return r
}

// run imports text and records each line's result.
func (f *fixture) run(t *testing.T, text string, format importer.Format, opts importer.Options) (*importer.Summary, map[int]importer.RowResult) {
	t.Helper()
	r, err := importer.NewReader(strings.NewReader(text), format)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Tenant == "" {
		opts.Tenant = "fairway"
	}
	if opts.SourceName == "" {
		opts.SourceName = "members.csv"
	}
	opts.RetryBackoff = time.Millisecond
	byLine := map[int]importer.RowResult{}
	var mu sync.Mutex
	opts.OnResult = func(r importer.RowResult) {
		mu.Lock()
		defer mu.Unlock()
		byLine[r.Line] = r
	}
	sum, err := importer.Run(context.Background(), f.p, r, opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return sum, byLine
}

func (f *fixture) profile(t *testing.T, id any) *ent.CustomerProfile {
	t.Helper()
	q := f.db.Client.CustomerProfile.Query()
	switch v := id.(type) {
	case int64:
		q.Where(customerprofile.SclMemberID(v))
	case string:
		q.Where(customerprofile.Email(v))
	}
	p, err := q.Only(f.ctx)
	if err != nil {
		t.Fatalf("profile %v: %v", id, err)
	}
	return p
}

func (f *fixture) counts(t *testing.T) [4]int {
	c := f.db.Client
	return [4]int{c.CustomerProfile.Query().CountX(f.ctx), c.IdentityAlias.Query().CountX(f.ctx),
		c.Activity.Query().CountX(f.ctx), c.SyncLog.Query().CountX(f.ctx)}
}

// mixed is a legacy export with a bit of everything; line numbers matter.
const mixed = `Member ID,First Name,Surname,E-mail,Mobile,Tier,HCP,Tags,Home Club,Date Joined,ZA ID
1001,Ann,Smith,ANN.SMITH@fairway.golf,,Gold,12.4,vip;seniors,club-1,2019-03-01,za-1
1002,Bob,Jones,bob@jones.golf,082 555 0102,Silver,+1.2,"a, b|c",club-1,2020-01-01,za-2
1003,Cat,Lee,not-an-email,,,,,,,
abc,Dan,Ray,dan@ray.golf,,,,,,,
1005,Eve,Ng,n/a,000000,,,,,,za-5
N/A,Fay,Oh,noemail@example.com,unknown,,,,,,
1007,Gus,Poe,gus@poe.golf,,,"12,5",,,,
,Hal,Ito,hal@ito.golf,,,low,,,,
1009,Ivy,Day,ivy@day.golf,0825550199,,,,,,
1010,Jon
1002,Bob,Jones,bob@jones.golf,082 555 0102,Silver,+1.2,"a, b|c",club-1,2020-01-01,za-2
1011,Kim,Wu,kim@wu.golf,+27 82 555 0101,Bronze,20,,,,
`

func TestImportMixedCSV(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		// Ann and Ivy exist (from TeeTime, by e-mail); another profile owns
		// the phone Ivy's row carries, which must be flagged, not merged.
		ann := f.event(t, "p-1", "player.created", "teetime", map[string]any{"teetimePlayerId": "tt-1", "email": "ann.smith@fairway.golf", "firstName": "Ann"})
		ivy := f.event(t, "p-2", "player.created", "teetime", map[string]any{"teetimePlayerId": "tt-2", "email": "ivy@day.golf"})
		other := f.event(t, "p-3", "player.created", "teetime", map[string]any{"teetimePlayerId": "tt-3", "phoneNumber": "+27825550199"})

		// A dry run says what the import will do and writes nothing, not
		// even the rejections.
		before := f.counts(t)
		dry, dryLines := f.run(t, mixed, importer.CSV, importer.Options{System: "MCA v1 ZA", BatchSize: 3, Workers: 3, DryRun: true})
		if !dry.DryRun || dry.Rows != 12 || dry.Created != 4 || dry.Linked != 2 || dry.Flagged != 1 || dry.Duplicates != 1 || dry.Rejected != 5 || dry.Failed != 0 {
			t.Errorf("dry-run summary %+v", dry)
		}
		if after := f.counts(t); after != before {
			t.Errorf("the dry run wrote: profiles/keys/activities/sync log %v → %v", before, after)
		}
		if r := dryLines[2]; r.Status != ingest.Processed || r.Created || *r.CustomerID != *ann.CustomerID {
			t.Errorf("dry run, line 2 (Ann): %+v", r)
		}
		var out strings.Builder
		dry.Print(&out)
		if !strings.Contains(out.String(), "would be linked to existing   2\n") {
			t.Errorf("dry-run summary printed:\n%s", out.String())
		}

		// Small batches and several workers, so the file spans batches.
		sum, lines := f.run(t, mixed, importer.CSV, importer.Options{System: "MCA v1 ZA", BatchSize: 3, Workers: 3})
		t.Logf("summary %+v", sum)
		if sum.Rows != 12 || sum.Created != 4 || sum.Linked != 2 || sum.Flagged != 1 || sum.Duplicates != 1 || sum.Rejected != 5 || sum.Failed != 0 {
			t.Errorf("summary %+v", sum)
		}
		var problems []string
		for _, p := range sum.Problems {
			problems = append(problems, p.String())
		}
		want := []string{
			`line 4: column E-mail: "not-an-email" is not a valid e-mail address`,
			`line 5: column Member ID: "abc" is not an integer member id`,
			`line 7: data: no usable identity key`,
			`line 9: column HCP: "low" is not a handicap (a number)`,
			`line 11: has 2 fields, the header has 11`,
		}
		if len(problems) != len(want) {
			t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
		}
		for i := range want {
			if !strings.HasPrefix(problems[i], want[i]) {
				t.Errorf("problem %d: %q, want %q…", i, problems[i], want[i])
			}
		}
		if r := lines[2]; r.Status != ingest.Processed || r.Created || *r.CustomerID != *ann.CustomerID {
			t.Errorf("line 2 (Ann) did not link to the existing profile: %+v", r)
		}
		if r := lines[10]; r.Status != ingest.Processed || r.Flagged != 1 || *r.CustomerID != *ivy.CustomerID {
			t.Errorf("line 10 (Ivy, phone of another profile) was not flagged: %+v", r)
		}
		// Line 12 repeats line 3: same id, so it is the duplicate.
		if a, b := lines[3], lines[12]; a.ID != b.ID || a.Status != ingest.Processed || b.Status != ingest.Duplicate {
			t.Errorf("line 12 repeats line 3: %+v / %+v", a, b)
		}

		p := f.profile(t, "ann.smith@fairway.golf")
		if p.ID != *ann.CustomerID || *p.SclMemberID != 1001 || *p.TeetimePlayerID != "tt-1" || *p.ExternalIds.McaV1ZaID != "za-1" ||
			*p.LastName != "Smith" || *p.MembershipTier != "Gold" || *p.Handicap != 12.4 || *p.HomeClubID != "club-1" ||
			!slices.Equal(p.Tags, []string{"seniors", "vip"}) || p.Attributes["Date Joined"] != "2019-03-01" || len(p.Attributes) != 1 {
			t.Errorf("Ann: %+v", p)
		}
		bob := f.profile(t, int64(1002))
		if *bob.Email != "bob@jones.golf" || *bob.PhoneNumber != "+27825550102" || *bob.Handicap != -1.2 || !slices.Equal(bob.Tags, []string{"a", "b", "c"}) || *bob.DisplayName != "Bob Jones" {
			t.Errorf("Bob: %+v", bob)
		}
		eve := f.profile(t, int64(1005))
		if eve.Email != nil || eve.PhoneNumber != nil || *eve.ExternalIds.McaV1ZaID != "za-5" {
			t.Errorf("Eve's placeholders became keys: %+v", eve)
		}
		if gus := f.profile(t, int64(1007)); *gus.Handicap != 12.5 {
			t.Errorf("Gus's handicap %v", *gus.Handicap)
		}
		if p := f.profile(t, int64(1009)); p.ID != *ivy.CustomerID || p.ID == *other.CustomerID {
			t.Errorf("Ivy's row merged into the phone's owner")
		}
		act := f.db.Client.Activity.Query().Where(activity.CustomerID(*ann.CustomerID), activity.TypeEQ(activity.TypePROFILE_IMPORTED)).OnlyX(f.ctx)
		if act.Title != "Imported from MCA v1 ZA" || act.SourceService != "import" {
			t.Errorf("activity %+v", act)
		}

		// Running the file again changes nothing: what reached the pipeline
		// is a duplicate; what could not be converted is rejected again.
		before = f.counts(t)
		again, _ := f.run(t, mixed, importer.CSV, importer.Options{System: "MCA v1 ZA", BatchSize: 3, Workers: 3})
		if again.Rows != 12 || again.Created+again.Linked != 0 || again.Duplicates != 9 || again.Rejected != 3 {
			t.Errorf("re-run summary %+v", again)
		}
		if after := f.counts(t); after != before {
			t.Errorf("re-run changed the data: profiles/keys/activities/sync log %v → %v", before, after)
		}
	})
}

func TestImportNDJSON(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		in := `{"uk_ref": "UK-1", "email": "al@uk.golf", "first_name": "Al", "handicap": 7.5, "tags": ["uk", "legacy"], "vip": true, "visits": 12, "prefs": {"news": false}}
{"uk_ref": 2, "phone": "+44 7911 123456", "membership_number": 2002, "status": "ACTIVE", "notes": null}
{"uk_ref": "UK-3", "email": "al@uk.golf", "surname": "Smith"}
{"uk_ref": "UK-4", "membership_number": "x2"}
`
		opts := importer.Options{SourceName: "mca-uk", System: "MCA v1 UK", IDColumn: "uk_ref", ExternalIDKind: "mcaV1UkId"}
		sum, lines := f.run(t, in, importer.NDJSON, opts)
		if sum.Rows != 4 || sum.Created != 2 || sum.Linked != 1 || sum.Rejected != 1 || lines[4].Column != "membership_number" {
			t.Errorf("summary %+v, line 4 %+v", sum, lines[4])
		}
		if lines[1].ID != "mca-uk:UK-1" || lines[2].ID != "mca-uk:2" {
			t.Errorf("ids %q %q", lines[1].ID, lines[2].ID)
		}
		al := f.profile(t, "al@uk.golf")
		if *al.ExternalIds.McaV1UkID != "UK-1" || *al.Handicap != 7.5 || *al.LastName != "Smith" || !slices.Equal(al.Tags, []string{"legacy", "uk"}) {
			t.Errorf("Al: %+v", al)
		}
		if al.Attributes["vip"] != true || al.Attributes["visits"] != float64(12) || al.Attributes["prefs"].(map[string]any)["news"] != false {
			t.Errorf("Al's attributes lost their types: %#v", al.Attributes)
		}
		p2 := f.profile(t, int64(2002))
		if *p2.PhoneNumber != "+447911123456" || *p2.ExternalIds.McaV1UkID != "2" || *p2.MembershipStatus != "ACTIVE" || len(p2.Attributes) != 0 {
			t.Errorf("row 2: %+v", p2)
		}
		again, _ := f.run(t, in, importer.NDJSON, opts)
		if again.Duplicates != 3 || again.Rejected != 1 {
			t.Errorf("re-run %+v", again)
		}
	})
}

func TestImportMapOverrides(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		in := "Ref,Contact,Cell,Notes,Junk,Kind,Extra\nG-1,zed@club.golf,0825550111,likes mornings,xx,Platinum,dropped\n"
		opts := importer.Options{IgnoreUnmapped: true, Map: map[string]string{
			"Ref": "externalIds.golfRsaId", "contact": "email", "Cell": "-", "Notes": "attributes.note", "kind": "membershipTier",
		}}
		sum, _ := f.run(t, in, importer.CSV, opts)
		if sum.Created != 1 || sum.Rejected != 0 {
			t.Fatalf("summary %+v %v", sum, sum.Problems)
		}
		p := f.profile(t, "zed@club.golf")
		if *p.ExternalIds.GolfRsaID != "G-1" || p.PhoneNumber != nil || *p.MembershipTier != "Platinum" ||
			p.Attributes["note"] != "likes mornings" || len(p.Attributes) != 1 {
			t.Errorf("profile %+v attributes %v", p, p.Attributes)
		}
		// A --map column missing from the header is a mistake worth stopping for.
		r, _ := importer.NewReader(strings.NewReader(in), importer.CSV)
		_, err := importer.Run(context.Background(), f.p, r, importer.Options{Tenant: "fairway", SourceName: "x", Map: map[string]string{"Mobiel": "phoneNumber"}})
		if err == nil || !strings.Contains(err.Error(), "Mobiel") {
			t.Errorf("unknown --map column: %v", err)
		}
	})
}

// TestImportThroughput measures (does not assert) an import of generated
// rows on PostgreSQL.
func TestImportThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		if tg.Name != "postgres" {
			t.Skip("measured on PostgreSQL only")
		}
		f := setup(t, tg)
		const n = 20000
		var b strings.Builder
		b.WriteString("member_id,first_name,last_name,email,mobile,tier,handicap,tags,home_club,joined\n")
		for i := range n {
			fmt.Fprintf(&b, "%d,First%d,Last%d,person%d@example-club.golf,+2783%07d,Gold,%.1f,za;legacy,club-%d,2019-01-01\n",
				100000+i, i, i%500, i, i, float64(i%360)/10, i%20)
		}
		start := time.Now()
		sum, _ := f.run(t, b.String(), importer.CSV, importer.Options{System: "MCA v1 ZA"})
		el := time.Since(start)
		t.Logf("%d rows in %s (%.0f rows/s): %+v", sum.Rows, el.Round(time.Millisecond), float64(sum.Rows)/el.Seconds(), *sum)
		if sum.Created != n {
			t.Errorf("created %d of %d (%v)", sum.Created, n, sum.Problems[:min(5, len(sum.Problems))])
		}
	})
}

// repeated lists people several times, under different member numbers and
// with the phone in local and international form, spread over batches.
const repeated = `Member ID,First Name,Surname,E-mail,Mobile
2001,Ann,Smith,ann@smith.golf,082 555 0001
2002,Bob,Jones,bob@jones.golf,
2003,Cat,Lee,cat@lee.golf,
2101,Ann,Smith,ANN@smith.golf,
2004,Dan,Ray,dan@ray.golf,
2201,Ann,Smith,,+27 82 555 0001
2102,Bob,Jones,bob@jones.golf,
2005,Eve,Ng,eve@ng.golf,
`

// TestPeopleListedSeveralTimesBecomeOneProfile checks that the repeats of a
// person link to the profile the first row made, across batches and
// workers, with nothing failed or retried into a second profile.
func TestPeopleListedSeveralTimesBecomeOneProfile(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		f := setup(t, tg)
		sum, lines := f.run(t, repeated, importer.CSV, importer.Options{BatchSize: 2, Workers: 4})
		if sum.Rows != 8 || sum.Created != 5 || sum.Linked != 3 || sum.Failed != 0 || sum.Rejected != 0 {
			t.Fatalf("summary %+v", sum)
		}
		ann := *lines[2].CustomerID
		for _, line := range []int{5, 7} {
			if r := lines[line]; r.CustomerID == nil || *r.CustomerID != ann || r.Created {
				t.Errorf("line %d: %+v, want linked to Ann's profile %s", line, r, ann)
			}
		}
		if r := lines[8]; r.CustomerID == nil || *r.CustomerID != *lines[3].CustomerID {
			t.Errorf("line 8: %+v, want Bob's profile", r)
		}
		if n := f.db.Client.CustomerProfile.Query().CountX(f.ctx); n != 5 {
			t.Errorf("%d profiles, want 5", n)
		}
	})
}
