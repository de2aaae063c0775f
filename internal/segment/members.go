package segment

import (
	"context"
	"encoding/csv"
	"io"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/segment"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/identity"
)

// maxManual bounds one request's customers: larger lists belong in a
// dynamic segment or an import.
const maxManual = 100_000

// MembersInput picks customers for a static segment: by id, by the profiles
// a search (or another filter) matches, by e-mail, or by the e-mails of CSV
// text.
type MembersInput struct {
	SegmentID   uuid.UUID
	CustomerIDs []uuid.UUID
	// Match is a profile filter (e.g. a search) whose matches are included.
	Match  []func(*ent.CustomerProfileQuery)
	Emails []string
	CSV    string
}

// MembersResult is what a change to a static segment's members did.
type MembersResult struct {
	Segment   *ent.Segment
	Changed   int
	Unchanged int
	// NotFound are the ids or e-mails that matched no profile.
	NotFound []string
}

// AddMembers adds customers to a STATIC segment (already-members are left
// as they are) and produces the membership change.
func (s *Service) AddMembers(ctx context.Context, in MembersInput) (MembersResult, error) {
	return s.editMembers(ctx, in, true)
}

// RemoveMembers removes customers from a STATIC segment.
func (s *Service) RemoveMembers(ctx context.Context, in MembersInput) (MembersResult, error) {
	return s.editMembers(ctx, in, false)
}

func (s *Service) editMembers(ctx context.Context, in MembersInput, add bool) (MembersResult, error) {
	var res MembersResult
	var ch Change
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		seg, err := s.get(ctx, tx, in.SegmentID)
		if err != nil {
			return err
		}
		if seg.Type != segment.TypeSTATIC {
			return apperr.New(apperr.Invalid, "segment %q is %s: its members come from its rules", seg.Name, seg.Type)
		}
		if seg, err = s.lock(ctx, tx, seg.ID); err != nil {
			return err
		}
		ids, notFound, err := s.pick(ctx, tx, in)
		if err != nil {
			return err
		}
		res.NotFound = notFound
		if add {
			ch, res.Changed, err = s.addManual(ctx, tx, seg, ids)
		} else {
			ch, res.Changed, err = s.removeManual(ctx, tx, seg, ids)
		}
		if err != nil {
			return err
		}
		res.Unchanged = len(ids) - res.Changed
		res.Segment, err = tx.Segment.Get(ctx, seg.ID)
		return err
	})
	if err != nil {
		return MembersResult{}, err
	}
	s.announce(ctx, res.Segment.TenantID, ch)
	return res, nil
}

// pick resolves the input to profile ids of the organization, reporting
// what matched nothing.
func (s *Service) pick(ctx context.Context, tx *ent.Tx, in MembersInput) ([]uuid.UUID, []string, error) {
	emails := slices.Clone(in.Emails)
	if strings.TrimSpace(in.CSV) != "" {
		fromCSV, err := csvEmails(in.CSV)
		if err != nil {
			return nil, nil, err
		}
		emails = append(emails, fromCSV...)
	}
	if len(in.CustomerIDs) == 0 && len(in.Match) == 0 && len(emails) == 0 {
		return nil, nil, apperr.InvalidField("input", "give customerIDs, search, emails or csv")
	}
	if len(in.CustomerIDs)+len(emails) > maxManual {
		return nil, nil, apperr.InvalidField("input", "at most %d customers per request", maxManual)
	}
	seen := map[uuid.UUID]bool{}
	var ids []uuid.UUID
	keep := func(id uuid.UUID) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	var notFound []string
	if len(in.CustomerIDs) > 0 {
		found, err := tx.CustomerProfile.Query().Where(customerprofile.IDIn(in.CustomerIDs...)).IDs(ctx)
		if err != nil {
			return nil, nil, err
		}
		have := map[uuid.UUID]bool{}
		for _, id := range found {
			have[id] = true
		}
		for _, id := range in.CustomerIDs {
			if have[id] {
				keep(id)
			} else if !seen[id] {
				notFound = append(notFound, id.String())
			}
		}
	}
	for _, m := range in.Match {
		q := tx.CustomerProfile.Query()
		m(q)
		found, err := q.Limit(maxManual + 1).IDs(ctx)
		if err != nil {
			return nil, nil, err
		}
		if len(found) > maxManual {
			return nil, nil, apperr.InvalidField("input.search", "the search matches more than %d profiles: use a dynamic segment", maxManual)
		}
		for _, id := range found {
			keep(id)
		}
	}
	if len(emails) > 0 {
		norm := map[string]string{}
		var values []string
		for _, e := range emails {
			n, err := identity.NormalizeEmail(e)
			if err != nil || n == "" {
				notFound = append(notFound, e)
				continue
			}
			if _, dup := norm[n]; !dup {
				values = append(values, n)
			}
			norm[n] = e
		}
		found := map[string]bool{}
		for chunk := range slices.Chunk(values, 5000) {
			aliases, err := tx.IdentityAlias.Query().
				Where(identityalias.KindEQ(identityalias.KindEMAIL), identityalias.ValueIn(chunk...)).All(ctx)
			if err != nil {
				return nil, nil, err
			}
			for _, a := range aliases {
				found[a.Value] = true
				keep(a.CustomerID)
			}
		}
		for _, v := range values {
			if !found[v] {
				notFound = append(notFound, norm[v])
			}
		}
	}
	return ids, notFound, nil
}

// csvEmails reads the e-mail column of CSV text: the column whose header
// says e-mail, or the only column (with or without a header).
func csvEmails(text string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	col := -1
	var out []string
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, apperr.InvalidField("input.csv", "line %d: %v", line, err)
		}
		if line == 1 {
			for i, h := range rec {
				h = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(h), "-", ""))
				if h == "email" || h == "emailaddress" || h == "e mail" {
					col = i
				}
			}
			if col >= 0 {
				continue
			}
			if len(rec) != 1 {
				return nil, apperr.InvalidField("input.csv", "no e-mail column: name one \"email\" in the header")
			}
			col = 0
		}
		if col < len(rec) && strings.TrimSpace(rec[col]) != "" {
			out = append(out, strings.TrimSpace(rec[col]))
		}
	}
	return out, nil
}

// addManual inserts MANUAL memberships set-based and records the change.
func (s *Service) addManual(ctx context.Context, tx *ent.Tx, seg *ent.Segment, ids []uuid.UUID) (Change, int, error) {
	ch := Change{SegmentID: seg.ID, Name: seg.Name}
	if len(ids) == 0 {
		return ch, 0, nil
	}
	now := s.now()
	added, err := s.returningIDs(ctx, tx, []any{
		`INSERT INTO segment_memberships (tenant_id, segment_id, customer_id, source, added_at) SELECT `,
		arg(seg.TenantID), ", ", arg(seg.ID), `, p."id", 'MANUAL', `, arg(now),
		` FROM customer_profiles p WHERE p."tenant_id" = `, arg(seg.TenantID), " AND ", idsIn(s.dialect, `p."id"`, ids),
		" ON CONFLICT (segment_id, customer_id) DO NOTHING RETURNING customer_id"})
	if err != nil {
		return ch, 0, err
	}
	ch.Added = added
	return ch, len(added), s.recordChange(ctx, tx, seg, &ch, false, now)
}

// removeManual deletes memberships set-based and records the change.
func (s *Service) removeManual(ctx context.Context, tx *ent.Tx, seg *ent.Segment, ids []uuid.UUID) (Change, int, error) {
	ch := Change{SegmentID: seg.ID, Name: seg.Name}
	if len(ids) == 0 {
		return ch, 0, nil
	}
	removed, err := s.returningIDs(ctx, tx, []any{"DELETE FROM segment_memberships WHERE segment_id = ", arg(seg.ID),
		" AND ", idsIn(s.dialect, "customer_id", ids), " RETURNING customer_id"})
	if err != nil {
		return ch, 0, err
	}
	ch.Removed = removed
	return ch, len(removed), s.recordChange(ctx, tx, seg, &ch, false, s.now())
}
