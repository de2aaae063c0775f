package importer

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestDefaultMapping(t *testing.T) {
	m, err := newMapper(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for col, want := range map[string]string{
		"E-mail": "email", "email_address": "email", "Mobile": "phoneNumber", "phone_number": "phoneNumber",
		"Cell": "phoneNumber", "First Name": "firstName", "given_name": "firstName", "Surname": "lastName",
		"family_name": "lastName", "Member ID": "sclMemberId", "membership_number": "sclMemberId",
		"SCL_Member_Id": "sclMemberId", "Tier": "membershipTier", "membership_status": "membershipStatus",
		"HCP": "handicap", "Tags": "tags", "home_club": "homeClubId", "ZA ID": "externalIds.mcaV1ZaId",
		"mca_v1_uk_id": "externalIds.mcaV1UkId", "Date Joined": "attributes.Date Joined",
	} {
		if got := m.field(col); got != want {
			t.Errorf("%q → %q, want %q", col, got, want)
		}
	}
	m, _ = newMapper(Options{IgnoreUnmapped: true, Map: map[string]string{"Cell": "-", "ref": "golfRsaId", "Notes": "attributes.note", "kind": "MembershipTier"}})
	for col, want := range map[string]string{"cell": "-", "Ref": "externalIds.golfRsaId", "notes": "attributes.note", "Kind": "membershipTier", "Date Joined": "-", "email": "email"} {
		if got := m.field(col); got != want {
			t.Errorf("override %q → %q, want %q", col, got, want)
		}
	}
	if _, err := newMapper(Options{Map: map[string]string{"x": "favouriteColour"}}); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("an unknown field was accepted: %v", err)
	}
	if _, err := newMapper(Options{ExternalIDKind: "mcaV1ZaId"}); err == nil {
		t.Error("--external-id-kind without --id-column was accepted")
	}
}

func TestMapRecord(t *testing.T) {
	m, _ := newMapper(Options{})
	rec := Record{Line: 2,
		Columns: []string{"member_id", "phone", "mobile", "hcp", "tags", "notes", "email"},
		Values:  []any{" 1001 ", "082 555 0101", "083 555 0101", "+2,5", "a; b|c ,d", "", "Ann@X.golf"}}
	mp, err := m.mapRecord(rec, Options{System: "MCA v1 ZA"})
	if err != nil {
		t.Fatal(err)
	}
	d := mp.data
	if *d.SCLMemberID != 1001 || *d.PhoneNumber != "082 555 0101" || *d.Handicap != -2.5 || *d.System != "MCA v1 ZA" || *d.Email != "Ann@X.golf" {
		t.Errorf("mapped %+v", d)
	}
	if strings.Join(d.Tags, "/") != "a/b/c/d" || d.Attributes["mobile"] != "083 555 0101" || len(d.Attributes) != 1 {
		t.Errorf("tags %v attributes %v", d.Tags, d.Attributes)
	}
	if mp.columns["phoneNumber"] != "phone" || mp.key != "" || len(mp.hash) != 64 {
		t.Errorf("columns %v key %q hash %q", mp.columns, mp.key, mp.hash)
	}
	// The hash ignores empty cells and surrounding blanks.
	rec2 := Record{Line: 9, Columns: rec.Columns, Values: []any{"1001", "082 555 0101", "083 555 0101", "+2,5", "a; b|c ,d", " ", "Ann@X.golf"}}
	mp2, _ := m.mapRecord(rec2, Options{})
	if mp2.hash != mp.hash {
		t.Error("the same content hashed differently")
	}
	for _, bad := range []struct{ col, val, want string }{
		{"member_id", "12a", "not an integer"}, {"member_id", "1.5", "not an integer"}, {"hcp", "scratch", "not a handicap"},
	} {
		_, err := m.mapRecord(Record{Columns: []string{bad.col}, Values: []any{bad.val}}, Options{})
		re, ok := err.(*rowError)
		if !ok || re.column != bad.col || !strings.Contains(re.reason, bad.want) {
			t.Errorf("%s=%q: %v", bad.col, bad.val, err)
		}
	}
	// A Latin-1 export is refused row by row, never stored as U+FFFD.
	_, err = m.mapRecord(Record{Columns: []string{"first_name", "email"}, Values: []any{"Ren\xe9", "r@y.golf"}}, Options{})
	if re, ok := err.(*rowError); !ok || re.column != "first_name" || !strings.Contains(re.reason, "not UTF-8") {
		t.Errorf("latin-1: %v", err)
	}
	// A row with an id is known by it, not hashed.
	mp, err = m.mapRecord(Record{Columns: []string{"member_id", "email"}, Values: []any{"7", "x@y.golf"}}, Options{IDColumn: "member_id"})
	if err != nil || mp.key != "7" || mp.hash != "" {
		t.Errorf("keyed row: %v %+v", err, mp)
	}
	// Placeholders in number fields mean "no value".
	mp, err = m.mapRecord(Record{Columns: []string{"member_id", "hcp", "email"}, Values: []any{"N/A", "0", "x@y.golf"}}, Options{})
	if err != nil || mp.data.SCLMemberID != nil || mp.data.Handicap == nil || *mp.data.Handicap != 0 {
		t.Errorf("placeholders: %v %+v", err, mp)
	}
}

func TestNDJSONReader(t *testing.T) {
	in := "\uFEFF{\"id\": 7, \"email\": \"a@b.golf\", \"tags\": [\"x\", \"y\"], \"vip\": true}\n\n" +
		"[1,2]\n{\"id\": \"8\", \"email\": \"c@d.golf\"}\n{\"id\": 9, \"firstName\": \"Ren\xe9\"}"
	r, err := NewReader(strings.NewReader(in), NDJSON)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != 4 || recs[0].Line != 1 || recs[1].Line != 3 || recs[1].Err == nil || recs[2].Line != 4 ||
		recs[3].Err == nil || !strings.Contains(recs[3].Err.Error(), "not UTF-8") {
		t.Fatalf("records %+v", recs)
	}
	if strings.Join(recs[0].Columns, ",") != "id,email,tags,vip" || recs[0].Values[0] != json.Number("7") || recs[0].Values[3] != true {
		t.Errorf("first record %+v", recs[0])
	}
}

func TestCSVReader(t *testing.T) {
	in := "\uFEFFid,name\n1,\"Smith, Ann\"\n2,\"multi\nline\"\n3\n4,Bob\n"
	r, err := NewReader(strings.NewReader(in), CSV)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Header(), "|") != "id|name" {
		t.Fatalf("header %q", r.Header())
	}
	var lines []int
	var errs int
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, rec.Line)
		if rec.Err != nil {
			errs++
		}
	}
	if len(lines) != 4 || lines[0] != 2 || lines[1] != 3 || lines[2] != 5 || lines[3] != 6 || errs != 1 {
		t.Errorf("lines %v, %d errors", lines, errs)
	}
	if _, err := NewReader(strings.NewReader("a,a\n1,2\n"), CSV); err == nil {
		t.Error("a duplicate header column was accepted")
	}
}

func TestParseHandicap(t *testing.T) {
	for in, want := range map[string]float64{"12.4": 12.4, "+1.2": -1.2, "-3": -3, "12,5": 12.5, "0": 0} {
		if got, err := parseHandicap(in); err != nil || got != want {
			t.Errorf("%q → %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"abc", "NaN", "1,000.5"} {
		if _, err := parseHandicap(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
