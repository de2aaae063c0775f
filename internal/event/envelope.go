// Package event defines the envelope upstream services publish and the data
// shape of every consumed event type (spec §13), and decodes and validates
// them. It knows nothing of transports or storage.
package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// Envelope is the contract every upstream event follows.
type Envelope struct {
	// ID is unique per source; with Source it is the dedup key.
	ID string `json:"id"`
	// Type is one of the consumed types, e.g. member.created.
	Type string `json:"type"`
	// Source is the publishing service: scl, teetime, messaging (or import).
	Source string `json:"source"`
	// Tenant is the organization's slug or id.
	Tenant string `json:"tenant"`
	// OccurredAt is when it happened upstream.
	OccurredAt time.Time `json:"occurredAt"`
	// Data is the type's payload.
	Data json.RawMessage `json:"data"`
}

// Error is a permanent problem with an event: retrying cannot fix it, so the
// event is recorded as rejected and dead-lettered.
type Error struct {
	// Field is the JSON path of the offending value, if any.
	Field string
	// Reason says what is wrong, for the dead-letter entry and the sync log.
	Reason string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Reason
	}
	return e.Reason
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Decode parses and validates one envelope and its data. The envelope is
// returned even when data is invalid (as far as it could be read), so the
// caller can record the rejection against its source, id and tenant.
func Decode(raw []byte) (*Envelope, Payload, error) {
	var env Envelope
	// Unmarshal, not a Decoder: it refuses anything after the envelope,
	// and scans the entry once where a Decoder scans it twice.
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, nil, invalid("", "not a JSON event envelope: %v", err)
	}
	spec, err := checkEnvelope(&env)
	if err != nil {
		return &env, nil, err
	}
	// JSON decoding turns bytes that are not UTF-8 (a producer writing
	// Latin-1) into U+FFFD; storing that would lose the text unnoticed.
	if !utf8.Valid(raw) {
		return &env, nil, invalid("", "not UTF-8 text")
	}
	if len(bytes.TrimSpace(env.Data)) == 0 || string(bytes.TrimSpace(env.Data)) == "null" {
		return &env, nil, invalid("data", "missing")
	}
	p := spec.new()
	d := json.NewDecoder(bytes.NewReader(env.Data))
	d.DisallowUnknownFields()
	if err := d.Decode(p); err != nil {
		return &env, nil, invalid("data", "%v", cleanJSONError(err))
	}
	if err := p.validate(); err != nil {
		return &env, nil, err
	}
	return &env, p, nil
}

// Check normalizes and validates an envelope whose payload was built in Go
// rather than read from JSON (env.Data is ignored), exactly as Decode does
// once it has parsed them; a producer in the same process, the importer,
// so skips encoding every event only for the pipeline to decode it again.
func Check(env *Envelope, p Payload) error {
	spec, err := checkEnvelope(env)
	if err != nil {
		return err
	}
	if p == nil || reflect.ValueOf(p).IsNil() {
		return invalid("data", "missing")
	}
	if want := reflect.TypeOf(spec.new()); reflect.TypeOf(p) != want {
		return invalid("data", "a %s payload is a %v, not a %T", env.Type, want, p)
	}
	return p.validate()
}

// checkEnvelope trims the envelope's fields, checks that each is present
// and that the type is known and comes from its source, and returns the
// type's spec.
func checkEnvelope(env *Envelope) (typeSpec, error) {
	env.ID = strings.TrimSpace(env.ID)
	env.Source = strings.ToLower(strings.TrimSpace(env.Source))
	env.Tenant = strings.TrimSpace(env.Tenant)
	env.Type = strings.TrimSpace(env.Type)
	switch {
	case env.ID == "":
		return typeSpec{}, invalid("id", "missing")
	case len(env.ID) > 255:
		return typeSpec{}, invalid("id", "longer than 255 characters")
	case env.Source == "":
		return typeSpec{}, invalid("source", "missing")
	case env.Tenant == "":
		return typeSpec{}, invalid("tenant", "missing")
	case env.Type == "":
		return typeSpec{}, invalid("type", "missing")
	case env.OccurredAt.IsZero():
		return typeSpec{}, invalid("occurredAt", "missing (RFC 3339 time expected)")
	}
	env.OccurredAt = env.OccurredAt.UTC()
	spec, ok := types[env.Type]
	if !ok {
		return typeSpec{}, invalid("type", "unknown event type %q", env.Type)
	}
	if spec.source != "" && spec.source != env.Source {
		return typeSpec{}, invalid("source", "%s events come from %s, not %q", env.Type, spec.source, env.Source)
	}
	return spec, nil
}

func cleanJSONError(err error) string {
	s := err.Error()
	return strings.TrimPrefix(s, "json: ")
}

// Types lists the consumed event types, sorted by source.
func Types() []string {
	out := make([]string, 0, len(types))
	for _, s := range []string{"scl", "teetime", "messaging", "import"} {
		for _, name := range order {
			if types[name].source == s {
				out = append(out, name)
			}
		}
	}
	return out
}
