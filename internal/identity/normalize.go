// Package identity normalizes identity keys (e-mail, phone, ids) and decides
// which values may become keys at all.
package identity

import (
	"net/mail"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/rapportcrm/rapport/internal/apperr"
)

// placeholders are values upstream systems put where they have no data. They
// must never become identity keys, or unrelated people would be linked.
var placeholders = map[string]bool{
	"": true, "null": true, "nil": true, "none": true, "undefined": true, "n/a": true, "na": true,
	"-": true, "unknown": true, "anonymous": true, "anon": true, "guest": true, "test": true,
	"0": true, "noemail": true, "no-email": true, "none@none.com": true,
}

// placeholderLocals are e-mail local parts that mean "no address".
var placeholderLocals = map[string]bool{
	"test": true, "noemail": true, "no-email": true, "noreply": true, "no-reply": true,
	"none": true, "null": true, "unknown": true, "anonymous": true, "na": true, "n/a": true,
	"example": true, "email": true, "nomail": true,
}

// placeholderDomains are domains that never receive real mail.
var placeholderDomains = map[string]bool{
	"example.com": true, "example.org": true, "example.net": true, "test.com": true,
	"none.com": true, "noemail.com": true, "email.com": true, "domain.com": true,
	"localhost": true, "invalid": true,
}

// IsPlaceholder reports whether v is a stand-in for "no value".
func IsPlaceholder(v string) bool {
	return placeholders[strings.ToLower(strings.TrimSpace(v))]
}

// NormalizeEmail trims and lower-cases an e-mail address and validates it. It
// returns "" with no error for placeholders, which callers treat as absent.
func NormalizeEmail(raw string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(raw))
	if IsPlaceholder(v) {
		return "", nil
	}
	if len(v) > 320 {
		return "", apperr.New(apperr.Invalid, "%q is not a valid e-mail address: too long", raw)
	}
	addr, err := mail.ParseAddress(v)
	if err != nil || addr.Address != v || addr.Name != "" {
		return "", apperr.New(apperr.Invalid, "%q is not a valid e-mail address", raw)
	}
	at := strings.LastIndexByte(v, '@')
	local, domain := v[:at], v[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", apperr.New(apperr.Invalid, "%q is not a valid e-mail address: bad domain", raw)
	}
	if placeholderLocals[local] && placeholderDomains[domain] {
		return "", nil
	}
	if placeholderDomains[domain] && (local == "test" || strings.HasPrefix(local, "noreply")) {
		return "", nil
	}
	return v, nil
}

// IsPlaceholderEmail reports whether a normalized address is a stand-in
// such as test@test.com.
func IsPlaceholderEmail(v string) bool {
	n, err := NormalizeEmail(v)
	return err == nil && n == "" && strings.TrimSpace(v) != ""
}

// NormalizePhone parses a phone number to E.164, using region (ISO 3166-1
// alpha-2) for numbers without a country code. It returns "" with no error for
// placeholders such as all-zero numbers.
func NormalizePhone(raw, region string) (string, error) {
	v := strings.TrimSpace(raw)
	if IsPlaceholder(v) {
		return "", nil
	}
	digits := 0
	nonZero := false
	for _, r := range v {
		if r >= '0' && r <= '9' {
			digits++
			if r != '0' {
				nonZero = true
			}
		}
	}
	if digits > 0 && !nonZero {
		return "", nil
	}
	if digits < 5 {
		return "", apperr.New(apperr.Invalid, "%q is not a valid phone number", raw)
	}
	if region == "" {
		region = "ZA"
	}
	num, err := phonenumbers.Parse(v, strings.ToUpper(region))
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", apperr.New(apperr.Invalid, "%q is not a valid phone number for region %s", raw, region)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", apperr.New(apperr.Invalid, "%q is not a valid phone number for region %s", raw, region)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// NormalizeID trims an opaque identifier (auth user id, cross-service id). It
// returns "" for placeholders.
func NormalizeID(raw string) string {
	v := strings.TrimSpace(raw)
	if IsPlaceholder(v) {
		return ""
	}
	return v
}

// SearchText is the lower-cased text free-text search runs over: names,
// e-mail and phone, space separated. Every writer of a profile (API, events,
// import, seed) stores exactly this.
func SearchText(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strings.ToLower(p))
	}
	return b.String()
}
