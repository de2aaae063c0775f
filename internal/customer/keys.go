package customer

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/predicate"
	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/identity"
)

// keys are a profile's primary identity keys by kind; a missing kind has no key.
type keys map[identityalias.Kind]string

// keyFields names the input field of each kind, for error messages.
var keyFields = map[identityalias.Kind]string{
	identityalias.KindAUTH_USER_ID:         "authUserID",
	identityalias.KindEMAIL:                "email",
	identityalias.KindPHONE:                "phoneNumber",
	identityalias.KindSCL_MEMBER_ID:        "sclMemberID",
	identityalias.KindTEETIME_PLAYER_ID:    "teetimePlayerID",
	identityalias.KindMESSAGING_CONTACT_ID: "messagingContactID",
	identityalias.KindMCA_V1_ZA_ID:         "externalIds.mcaV1ZaId",
	identityalias.KindMCA_V1_UK_ID:         "externalIds.mcaV1UkId",
	identityalias.KindGOLF_RSA_ID:          "externalIds.golfRsaId",
}

// keysOf reads the primary keys stored on a profile.
func keysOf(p *ent.CustomerProfile) keys { return keys(identity.KeysOf(p)) }

func putExternal(k keys, e schematype.ExternalIDs) {
	for kind, v := range map[identityalias.Kind]*string{
		identityalias.KindMCA_V1_ZA_ID: e.McaV1ZaID,
		identityalias.KindMCA_V1_UK_ID: e.McaV1UkID,
		identityalias.KindGOLF_RSA_ID:  e.GolfRsaID,
	} {
		if v != nil && *v != "" {
			k[kind] = *v
		} else {
			delete(k, kind)
		}
	}
}

// hasIdentity reports whether k holds one of the keys that identify a person.
func (k keys) hasIdentity() bool {
	return k[identityalias.KindAUTH_USER_ID] != "" || k[identityalias.KindEMAIL] != "" || k[identityalias.KindPHONE] != ""
}

// checkOwners returns a CONFLICT naming the profile that already owns one of
// the wanted keys, if any other profile does.
func checkOwners(ctx context.Context, c *ent.Client, self uuid.UUID, want keys) error {
	if len(want) == 0 {
		return nil
	}
	var ors []predicate.IdentityAlias
	for kind, v := range want {
		ors = append(ors, identityalias.And(identityalias.KindEQ(kind), identityalias.Value(v)))
	}
	q := c.IdentityAlias.Query().Where(identityalias.Or(ors...))
	if self != uuid.Nil {
		q.Where(identityalias.CustomerIDNEQ(self))
	}
	owned, err := q.Order(identityalias.ByKind()).First(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return conflict(owned)
}

func conflict(a *ent.IdentityAlias) error {
	return &apperr.Error{
		Code:    apperr.Conflict,
		Field:   "input." + keyFields[a.Kind],
		Message: fmt.Sprintf("%s %q already belongs to customer %s", keyFields[a.Kind], a.Value, a.CustomerID),
	}
}

// syncAliases makes the profile's primary aliases match want: keys that
// changed are replaced, removed keys deleted, new keys added. An alias the
// profile already holds as an additional key is promoted rather than
// duplicated.
func syncAliases(ctx context.Context, tx *ent.Tx, customerID uuid.UUID, have, want keys, source string) error {
	existing, err := tx.IdentityAlias.Query().Where(identityalias.CustomerID(customerID)).All(ctx)
	if err != nil {
		return err
	}
	byKey := map[identityalias.Kind]map[string]*ent.IdentityAlias{}
	for _, a := range existing {
		if byKey[a.Kind] == nil {
			byKey[a.Kind] = map[string]*ent.IdentityAlias{}
		}
		byKey[a.Kind][a.Value] = a
	}
	for kind := range keyFields {
		old, nw := have[kind], want[kind]
		if old == nw {
			continue
		}
		if old != "" {
			if a := byKey[kind][old]; a != nil && a.Primary {
				if err := tx.IdentityAlias.DeleteOneID(a.ID).Exec(ctx); err != nil {
					return err
				}
			}
		}
		if nw == "" {
			continue
		}
		if a := byKey[kind][nw]; a != nil {
			if err := tx.IdentityAlias.UpdateOneID(a.ID).SetPrimary(true).Exec(ctx); err != nil {
				return err
			}
			continue
		}
		// A unique violation here means a concurrent writer took the key
		// after checkOwners; the caller reports the owner once the
		// transaction has rolled back.
		if err := tx.IdentityAlias.Create().
			SetCustomerID(customerID).SetKind(kind).SetValue(nw).
			SetPrimary(true).SetSource(source).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}
