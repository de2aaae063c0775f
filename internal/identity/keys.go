package identity

import (
	"strconv"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/identityalias"
)

// Kind is the kind of an identity key, as stored on IdentityAlias.
type Kind = identityalias.Kind

// The key kinds in the order they are trusted: spec §5 matches the auth user
// id first, then e-mail, then phone. The cross-service and legacy ids are the
// upstream systems' own primary keys for the person, as exact as the auth user
// id, so they rank right after it.
var MatchOrder = []Kind{
	identityalias.KindAUTH_USER_ID,
	identityalias.KindSCL_MEMBER_ID,
	identityalias.KindTEETIME_PLAYER_ID,
	identityalias.KindMESSAGING_CONTACT_ID,
	identityalias.KindMCA_V1_ZA_ID,
	identityalias.KindMCA_V1_UK_ID,
	identityalias.KindGOLF_RSA_ID,
	identityalias.KindEMAIL,
	identityalias.KindPHONE,
}

// Confidence of an exact match on each kind (spec §5); e-mail and phone
// agreeing on one profile is 99.
func Confidence(k Kind) int {
	switch k {
	case identityalias.KindEMAIL:
		return 95
	case identityalias.KindPHONE:
		return 85
	default:
		return 100
	}
}

// Keys are one person's normalized identity keys by kind. A kind that is
// absent has no key.
type Keys map[Kind]string

// Key is one (kind, value) pair.
type Key struct {
	Kind  Kind
	Value string
}

// List returns the keys in match order.
func (k Keys) List() []Key {
	out := make([]Key, 0, len(k))
	for _, kind := range MatchOrder {
		if v := k[kind]; v != "" {
			out = append(out, Key{kind, v})
		}
	}
	return out
}

// KeysOf reads the primary keys stored on a profile's columns.
func KeysOf(p *ent.CustomerProfile) Keys {
	k := Keys{}
	put := func(kind Kind, v *string) {
		if v != nil && *v != "" {
			k[kind] = *v
		}
	}
	put(identityalias.KindAUTH_USER_ID, p.AuthUserID)
	put(identityalias.KindEMAIL, p.Email)
	put(identityalias.KindPHONE, p.PhoneNumber)
	if p.SclMemberID != nil {
		k[identityalias.KindSCL_MEMBER_ID] = strconv.FormatInt(*p.SclMemberID, 10)
	}
	put(identityalias.KindTEETIME_PLAYER_ID, p.TeetimePlayerID)
	put(identityalias.KindMESSAGING_CONTACT_ID, p.MessagingContactID)
	put(identityalias.KindMCA_V1_ZA_ID, p.ExternalIds.McaV1ZaID)
	put(identityalias.KindMCA_V1_UK_ID, p.ExternalIds.McaV1UkID)
	put(identityalias.KindGOLF_RSA_ID, p.ExternalIds.GolfRsaID)
	return k
}
