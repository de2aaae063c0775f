package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/internal/event"
	"github.com/rapportcrm/rapport/internal/identity"
)

// Fields are the profile.imported data fields a column can be mapped to,
// besides attributes.<key> and "-" (ignore).
var Fields = []string{
	"authUserId", "email", "phoneNumber", "sclMemberId", "teetimePlayerId", "messagingContactId",
	"externalIds.mcaV1ZaId", "externalIds.mcaV1UkId", "externalIds.golfRsaId",
	"firstName", "lastName", "displayName", "homeClubId",
	"membershipTier", "membershipStatus", "handicap", "tags", "system",
}

// Ignore is the field that drops a column.
const Ignore = "-"

// defaultAliases maps normalized header names to fields.
var defaultAliases = map[string]string{}

func init() {
	for field, names := range map[string][]string{
		"authUserId":            {"authuserid", "authid", "userid"},
		"email":                 {"email", "emailaddress", "mail", "emailaddr"},
		"phoneNumber":           {"phone", "phonenumber", "phoneno", "mobile", "mobilenumber", "mobileno", "mobilephone", "cell", "cellphone", "cellnumber", "cellno", "telephone", "tel", "msisdn"},
		"sclMemberId":           {"memberid", "membershipnumber", "membershipno", "membernumber", "memberno", "sclmemberid", "sclid"},
		"teetimePlayerId":       {"teetimeplayerid", "playerid"},
		"messagingContactId":    {"messagingcontactid", "contactid"},
		"externalIds.mcaV1ZaId": {"zaid", "mcav1zaid", "mcazaid"},
		"externalIds.mcaV1UkId": {"ukid", "mcav1ukid", "mcaukid"},
		"externalIds.golfRsaId": {"golfrsaid", "golfrsa", "golfrsanumber", "grsaid"},
		"firstName":             {"firstname", "first", "givenname", "forename", "forenames"},
		"lastName":              {"lastname", "last", "surname", "familyname"},
		"displayName":           {"displayname", "fullname", "name"},
		"homeClubId":            {"homeclub", "homeclubid", "clubid"},
		"membershipTier":        {"tier", "membershiptier", "membershiptype", "membertype", "category"},
		"membershipStatus":      {"status", "membershipstatus", "memberstatus"},
		"handicap":              {"handicap", "hcp", "handicapindex", "hcpindex"},
		"tags":                  {"tags", "tag", "labels"},
		"system":                {"system", "sourcesystem"},
	} {
		for _, n := range names {
			defaultAliases[n] = field
		}
	}
}

// normalize folds a header or field name for matching: lower case, letters
// and digits only ("E-mail Address" → "emailaddress").
func normalize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// canonicalField returns the field name a --map target means.
func canonicalField(f string) (string, error) {
	f = strings.TrimSpace(f)
	if f == Ignore {
		return Ignore, nil
	}
	if k, ok := strings.CutPrefix(f, "attributes."); ok {
		if strings.TrimSpace(k) == "" {
			return "", fmt.Errorf("field %q: attribute name missing", f)
		}
		return "attributes." + strings.TrimSpace(k), nil
	}
	n := normalize(f)
	for _, c := range Fields {
		cn := normalize(c)
		if n == cn || (strings.HasPrefix(c, "externalIds.") && n == normalize(strings.TrimPrefix(c, "externalIds."))) {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown field %q (one of %s, attributes.<key> or -)", f, strings.Join(Fields, ", "))
}

// ExternalIDKinds are the values --external-id-kind accepts.
var ExternalIDKinds = []string{"mcaV1ZaId", "mcaV1UkId", "golfRsaId"}

// mapper decides which field each column feeds.
type mapper struct {
	overrides      map[string]string // normalized column → field
	exact          map[string]string // column as written → field
	ignoreUnmapped bool
	cache          map[string]string
}

func newMapper(opts Options) (*mapper, error) {
	m := &mapper{overrides: map[string]string{}, exact: map[string]string{}, ignoreUnmapped: opts.IgnoreUnmapped, cache: map[string]string{}}
	set := func(col, field string) error {
		f, err := canonicalField(field)
		if err != nil {
			return fmt.Errorf("--map %s=%s: %w", col, field, err)
		}
		m.exact[strings.TrimSpace(col)] = f
		m.overrides[normalize(col)] = f
		return nil
	}
	if opts.ExternalIDKind != "" {
		if opts.IDColumn == "" {
			return nil, fmt.Errorf("--external-id-kind needs --id-column")
		}
		if err := set(opts.IDColumn, "externalIds."+opts.ExternalIDKind); err != nil {
			return nil, fmt.Errorf("--external-id-kind %q: not one of %s", opts.ExternalIDKind, strings.Join(ExternalIDKinds, ", "))
		}
	}
	for col, field := range opts.Map {
		if strings.TrimSpace(col) == "" {
			return nil, fmt.Errorf("--map %s=%s: column name missing", col, field)
		}
		if err := set(col, field); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// field returns the field of a column: an override, a default, or
// attributes.<column> (Ignore with ignoreUnmapped).
func (m *mapper) field(col string) string {
	if f, ok := m.cache[col]; ok {
		return f
	}
	f, ok := m.exact[col]
	if !ok {
		n := normalize(col)
		if f, ok = m.overrides[n]; !ok {
			if f, ok = defaultAliases[n]; !ok {
				f = "attributes." + col
				if m.ignoreUnmapped {
					f = Ignore
				}
			}
		}
	}
	m.cache[col] = f
	return f
}

// checkHeader reports --map columns that are not in a known header.
func (m *mapper) checkHeader(header []string, opts Options) error {
	have := map[string]bool{}
	for _, h := range header {
		have[h] = true
		have[normalize(h)] = true
	}
	for col := range opts.Map {
		if !have[strings.TrimSpace(col)] && !have[normalize(col)] {
			return fmt.Errorf("--map %s: the header has no such column (columns: %s)", col, strings.Join(header, ", "))
		}
	}
	if c := opts.IDColumn; c != "" && !have[c] && !have[normalize(c)] {
		return fmt.Errorf("--id-column %s: the header has no such column (columns: %s)", c, strings.Join(header, ", "))
	}
	return nil
}

// rowError is a value that cannot be converted; it rejects the row.
type rowError struct {
	column string
	reason string
}

func (e *rowError) Error() string {
	if e.column == "" {
		return e.reason
	}
	return "column " + e.column + ": " + e.reason
}

// mapped is one row turned into event data.
type mapped struct {
	data *event.ProfileImported
	// key is the id column's value, "" if none.
	key string
	// hash is the SHA-256 of the row's canonical content.
	hash string
	// columns says which column fed each data field, to name the column in
	// a rejection reason.
	columns map[string]string
}

// text renders a cell as trimmed text; ok is false for values that are not
// scalars.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return strings.TrimSpace(x), true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// mapRecord converts one record to event data.
func (m *mapper) mapRecord(rec Record, opts Options) (*mapped, error) {
	d := &event.ProfileImported{}
	out := &mapped{data: d, columns: map[string]string{}}
	canon := make(map[string]any, len(rec.Columns))
	idNorm := normalize(opts.IDColumn)
	for i, col := range rec.Columns {
		v := rec.Values[i]
		if isEmpty(v) {
			continue
		}
		if s, ok := v.(string); ok {
			// Legacy exports are often Latin-1 or Windows-1252: their
			// accented letters would be stored as U+FFFD, a loss no
			// re-run could repair.
			if !utf8.ValidString(s) {
				return nil, &rowError{col, "is not UTF-8 text (convert the file first, e.g. iconv -f latin1 -t utf-8)"}
			}
			v = strings.TrimSpace(s)
		}
		canon[col] = v
		if opts.IDColumn != "" && (col == opts.IDColumn || (out.key == "" && normalize(col) == idNorm)) {
			s, ok := text(v)
			if !ok {
				return nil, &rowError{col, "the id column must hold a single value"}
			}
			out.key = s
		}
		f := m.field(col)
		if f == Ignore {
			continue
		}
		if _, taken := out.columns[f]; taken && !strings.HasPrefix(f, "attributes.") {
			// Two columns feed one field (phone and mobile): the first
			// wins, the other is kept as an attribute.
			f = "attributes." + col
		}
		if err := m.set(d, f, col, v); err != nil {
			return nil, err
		}
		out.columns[f] = col
	}
	if d.System == nil && opts.System != "" {
		d.System = &opts.System
	}
	if out.key == "" {
		// Only a row without an id column is known by its content.
		b, err := json.Marshal(canon)
		if err != nil {
			return nil, &rowError{"", fmt.Sprintf("cannot encode the row: %v", err)}
		}
		sum := sha256.Sum256(b)
		out.hash = hex.EncodeToString(sum[:])
	}
	return out, nil
}

// set converts v for field f of the data.
func (m *mapper) set(d *event.ProfileImported, f, col string, v any) error {
	if k, ok := strings.CutPrefix(f, "attributes."); ok {
		if d.Attributes == nil {
			d.Attributes = map[string]any{}
		}
		d.Attributes[k] = v
		return nil
	}
	if f == "tags" {
		tags, err := toTags(v)
		if err != nil {
			return &rowError{col, err.Error()}
		}
		d.Tags = append(d.Tags, tags...)
		return nil
	}
	s, ok := text(v)
	if !ok {
		return &rowError{col, fmt.Sprintf("expected a single value for %s, got %s", f, jsonText(v))}
	}
	if s == "" {
		return nil
	}
	switch f {
	case "sclMemberId":
		if identity.IsPlaceholder(s) {
			return nil // "0", "n/a": no member id, like other placeholder keys
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return &rowError{col, fmt.Sprintf("%q is not an integer member id", s)}
		}
		d.SCLMemberID = &n
	case "handicap":
		if identity.IsPlaceholder(s) && s != "0" {
			return nil
		}
		h, err := parseHandicap(s)
		if err != nil {
			return &rowError{col, fmt.Sprintf("%q is not a handicap (a number)", s)}
		}
		d.Handicap = &h
	case "authUserId":
		d.AuthUserID = &s
	case "email":
		d.Email = &s
	case "phoneNumber":
		d.PhoneNumber = &s
	case "teetimePlayerId":
		d.TeetimePlayerID = &s
	case "messagingContactId":
		d.MessagingContactID = &s
	case "externalIds.mcaV1ZaId", "externalIds.mcaV1UkId", "externalIds.golfRsaId":
		if d.ExternalIDs == nil {
			d.ExternalIDs = &schematype.ExternalIDs{}
		}
		switch f {
		case "externalIds.mcaV1ZaId":
			d.ExternalIDs.McaV1ZaID = &s
		case "externalIds.mcaV1UkId":
			d.ExternalIDs.McaV1UkID = &s
		default:
			d.ExternalIDs.GolfRsaID = &s
		}
	case "firstName":
		d.FirstName = &s
	case "lastName":
		d.LastName = &s
	case "displayName":
		d.DisplayName = &s
	case "homeClubId":
		d.HomeClubID = &s
	case "membershipTier":
		d.MembershipTier = &s
	case "membershipStatus":
		d.MembershipStatus = &s
	case "system":
		d.System = &s
	default:
		return &rowError{col, "unknown field " + f}
	}
	return nil
}

// parseHandicap reads a handicap index. A leading "+" is golf's plus
// handicap (better than scratch), stored as a negative index; a decimal
// comma ("12,4") is accepted.
func parseHandicap(s string) (float64, error) {
	plus := strings.HasPrefix(s, "+")
	s = strings.TrimPrefix(s, "+")
	if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	h, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(h) || math.IsInf(h, 0) {
		return 0, fmt.Errorf("not a number")
	}
	if plus {
		h = -h
	}
	return h, nil
}

// toTags reads tags from a list or a string separated by ; , or |.
func toTags(v any) ([]string, error) {
	var out []string
	add := func(s string) {
		for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == '|' }) {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			s, ok := text(e)
			if !ok {
				return nil, fmt.Errorf("tags must be strings, got %s", jsonText(e))
			}
			if t := strings.TrimSpace(s); t != "" {
				out = append(out, t)
			}
		}
	default:
		s, ok := text(v)
		if !ok {
			return nil, fmt.Errorf("tags must be a string or a list, got %s", jsonText(v))
		}
		add(s)
	}
	return out, nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}
