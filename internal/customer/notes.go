package customer

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/apperr"
)

const maxNoteLen = 20000

func noteBody(raw string, field string) (string, error) {
	b := strings.TrimSpace(raw)
	if b == "" {
		return "", apperr.InvalidField(field, "must not be empty")
	}
	if utf8.RuneCountInString(b) > maxNoteLen {
		return "", apperr.InvalidField(field, "must be at most %d characters", maxNoteLen)
	}
	return b, nil
}

// AddNote adds a staff note to a profile.
func (s *Service) AddNote(ctx context.Context, customerID uuid.UUID, body string, pinned bool, authorID string) (*ent.CustomerNote, error) {
	b, err := noteBody(body, "input.body")
	if err != nil {
		return nil, err
	}
	if authorID == "" {
		authorID = "system"
	}
	var n *ent.CustomerNote
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		if _, err := s.lockProfile(ctx, tx, customerID); err != nil {
			return err
		}
		n, err = tx.CustomerNote.Create().
			SetCustomerID(customerID).SetAuthorID(authorID).SetBody(b).SetPinned(pinned).
			Save(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx, customerID)
	return n, nil
}

// UpdateNote changes a note's body or pinned flag.
func (s *Service) UpdateNote(ctx context.Context, id uuid.UUID, body *string, pinned *bool) (*ent.CustomerNote, error) {
	if body == nil && pinned == nil {
		return nil, apperr.InvalidField("input", "give body or pinned")
	}
	var n *ent.CustomerNote
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		cur, err := tx.CustomerNote.Get(ctx, id)
		if ent.IsNotFound(err) {
			return apperr.New(apperr.NotFound, "note %s not found", id)
		}
		if err != nil {
			return err
		}
		u := tx.CustomerNote.UpdateOne(cur)
		if body != nil {
			b, err := noteBody(*body, "input.body")
			if err != nil {
				return err
			}
			u.SetBody(b)
		}
		if pinned != nil {
			u.SetPinned(*pinned)
		}
		n, err = u.Save(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx, n.CustomerID)
	return n, nil
}

// DeleteNote removes a note.
func (s *Service) DeleteNote(ctx context.Context, id uuid.UUID) error {
	var customerID uuid.UUID
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		cur, err := tx.CustomerNote.Get(ctx, id)
		if ent.IsNotFound(err) {
			return apperr.New(apperr.NotFound, "note %s not found", id)
		}
		if err != nil {
			return err
		}
		customerID = cur.CustomerID
		return tx.CustomerNote.DeleteOneID(id).Exec(ctx)
	})
	if err != nil {
		return err
	}
	s.changed(ctx, customerID)
	return nil
}
