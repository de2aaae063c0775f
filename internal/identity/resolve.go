package identity

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/duplicatecandidate"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/predicate"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/pgarray"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// Owners maps identity keys to the profile that owns them.
type Owners map[Key]uuid.UUID

// LookupOwners finds the owners of every key; c must be a transaction's
// client (raw statements get the tenant setting only there). On PostgreSQL each key is
// one probe of the (tenant, kind, value) unique index, whatever the planner's
// statistics say: a large first import into a new tenant must not turn the
// lookup into a scan of the tenant's keys. SQLite gets one query per kind.
func LookupOwners(ctx context.Context, c *ent.Client, dialectName string, keys []Key) (Owners, error) {
	seen := map[Key]bool{}
	var uniq []Key
	for _, k := range keys {
		if k.Value == "" || seen[k] {
			continue
		}
		seen[k] = true
		uniq = append(uniq, k)
	}
	out := Owners{}
	if len(uniq) == 0 {
		return out, nil
	}
	if dialectName == dialect.Postgres {
		tid, ok := tenancy.FromContext(ctx)
		if !ok {
			return nil, errors.New("identity: no tenant in context")
		}
		kinds, values := make([]string, len(uniq)), make([]string, len(uniq))
		for i, k := range uniq {
			kinds[i], values[i] = string(k.Kind), k.Value
		}
		rows, err := c.QueryContext(ctx, `SELECT k.kind, k.value, a.customer_id
FROM unnest($2::text[], $3::text[]) AS k(kind, value)
CROSS JOIN LATERAL (SELECT customer_id FROM identity_aliases
  WHERE tenant_id = $1 AND kind = k.kind AND value = k.value LIMIT 1) AS a`, tid, pgarray.Text(kinds), pgarray.Text(values))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var kind, value string
			var owner uuid.UUID
			if err := rows.Scan(&kind, &value, &owner); err != nil {
				return nil, err
			}
			out[Key{Kind(kind), value}] = owner
		}
		return out, rows.Err()
	}
	byKind := map[Kind][]string{}
	for _, k := range uniq {
		byKind[k.Kind] = append(byKind[k.Kind], k.Value)
	}
	var ors []predicate.IdentityAlias
	for kind, vals := range byKind {
		ors = append(ors, identityalias.And(identityalias.KindEQ(kind), identityalias.ValueIn(vals...)))
	}
	rows, err := c.IdentityAlias.Query().Where(identityalias.Or(ors...)).
		Select(identityalias.FieldKind, identityalias.FieldValue, identityalias.FieldCustomerID).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[Key{r.Kind, r.Value}] = r.CustomerID
	}
	return out, nil
}

// Conflict is a key of the person that belongs to a profile other than the
// one matched.
type Conflict struct {
	Key        Key
	CustomerID uuid.UUID
	Confidence int
}

// Match is the outcome of matching one person's keys against the owners.
type Match struct {
	// CustomerID is uuid.Nil when no key matched.
	CustomerID uuid.UUID
	// MatchedBy is the strongest key that matched; "EMAIL_AND_PHONE" when
	// both point at the matched profile and nothing stronger did.
	MatchedBy  string
	Confidence int
	// Unowned are keys no profile holds yet: they will be linked.
	Unowned []Key
	// Conflicts are keys held by other profiles: they stay where they are
	// and the pair is flagged for review.
	Conflicts []Conflict
}

// Decide matches keys in trust order (spec §5): the first key with an owner
// decides the profile. It never merges: keys owned by other profiles are
// reported as conflicts.
func Decide(keys Keys, owners Owners) Match {
	var m Match
	for _, k := range keys.List() {
		owner, ok := owners[k]
		switch {
		case !ok:
			m.Unowned = append(m.Unowned, k)
		case m.CustomerID == uuid.Nil:
			m.CustomerID, m.MatchedBy, m.Confidence = owner, string(k.Kind), Confidence(k.Kind)
		case owner != m.CustomerID:
			m.Conflicts = append(m.Conflicts, Conflict{Key: k, CustomerID: owner, Confidence: Confidence(k.Kind)})
		}
	}
	if m.MatchedBy == string(identityalias.KindEMAIL) {
		if p := keys[identityalias.KindPHONE]; p != "" && owners[Key{identityalias.KindPHONE, p}] == m.CustomerID {
			m.MatchedBy, m.Confidence = "EMAIL_AND_PHONE", 99
		}
	}
	return m
}

// Resolve finds the profile the keys belong to without changing anything:
// the read-only side of identity resolution (resolveCustomer).
func Resolve(ctx context.Context, c *ent.Client, dialectName string, keys Keys) (Match, error) {
	// A handful of keys: one ent query (an OR of index lookups) through the
	// tenant-scoped driver, no transaction round trips. The bulk path with
	// per-key probes is for batches.
	_ = dialectName
	owners, err := LookupOwners(ctx, c, "", keys.List())
	if err != nil {
		return Match{}, err
	}
	return Decide(keys, owners), nil
}

// Pair orders two profile ids so a pair is stored once.
func Pair(a, b uuid.UUID) (uuid.UUID, uuid.UUID) {
	if strings.Compare(a.String(), b.String()) > 0 {
		return b, a
	}
	return a, b
}

// SimilarNames reports whether two people's names are close enough that,
// with a shared e-mail domain, they may be one person (spec §5: "name fuzzy +
// email domain", confidence 60): same last name ignoring case and accents of
// spacing, and first names equal, one a prefix of the other (Rob/Robert) or
// within one edit (Jon/John).
func SimilarNames(first1, last1, first2, last2 string) bool {
	l1, l2 := fold(last1), fold(last2)
	f1, f2 := fold(first1), fold(first2)
	if l1 == "" || l1 != l2 || f1 == "" || f2 == "" {
		return false
	}
	if f1 == f2 || (len(f1) >= 3 && strings.HasPrefix(f2, f1)) || (len(f2) >= 3 && strings.HasPrefix(f1, f2)) {
		return true
	}
	return editDistanceAtMost1(f1, f2)
}

func fold(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

func editDistanceAtMost1(a, b string) bool {
	ra, rb := []rune(a), []rune(b)
	if len(ra) < len(rb) {
		ra, rb = rb, ra
	}
	if len(ra)-len(rb) > 1 {
		return false
	}
	i, j, edits := 0, 0, 0
	for i < len(ra) && j < len(rb) {
		if ra[i] == rb[j] {
			i++
			j++
			continue
		}
		edits++
		if edits > 1 {
			return false
		}
		if len(ra) == len(rb) {
			j++
		}
		i++
	}
	return edits+(len(ra)-i) <= 1
}

// EmailDomain returns the domain of a normalized e-mail.
func EmailDomain(email string) string {
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		return email[at+1:]
	}
	return ""
}

// freeMailDomains are consumer mailbox providers: sharing one says nothing
// about being the same person, so they do not count as name+domain evidence
// unless the local parts are also alike.
var freeMailDomains = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "yahoo.com": true, "yahoo.co.uk": true, "hotmail.com": true,
	"outlook.com": true, "live.com": true, "icloud.com": true, "me.com": true, "aol.com": true,
	"protonmail.com": true, "proton.me": true, "mweb.co.za": true, "webmail.co.za": true, "gmx.com": true,
}

// IsFreeMailDomain reports whether d is a consumer mailbox provider.
func IsFreeMailDomain(d string) bool { return freeMailDomains[d] }

// SortKeys orders keys for deterministic output.
func SortKeys(ks []Key) {
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].Kind != ks[j].Kind {
			return ks[i].Kind < ks[j].Kind
		}
		return ks[i].Value < ks[j].Value
	})
}

// Dismiss marks a duplicate candidate as reviewed and not the same person.
// Dismissing again is harmless; a merged candidate cannot be dismissed.
func Dismiss(ctx context.Context, c *ent.Client, id uuid.UUID, by string) (*ent.DuplicateCandidate, error) {
	d, err := c.DuplicateCandidate.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "duplicate candidate %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	switch d.Status {
	case duplicatecandidate.StatusDISMISSED:
		return d, nil
	case duplicatecandidate.StatusMERGED:
		return nil, apperr.New(apperr.Conflict, "duplicate candidate %s was merged; unmerge it instead", id)
	}
	return d.Update().SetStatus(duplicatecandidate.StatusDISMISSED).SetResolvedAt(time.Now().UTC()).SetResolvedBy(by).Save(ctx)
}
