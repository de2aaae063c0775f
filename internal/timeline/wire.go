package timeline

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
)

// Encode writes an entry as announced on its timeline topic: the JSON that
// encoding/json makes of ent.Activity (Decode reads either), written field
// by field. Ingestion announces every entry it stores, thousands a second,
// and reflection made this a measurable share of its CPU. metadata, when
// not nil, is the entry's metadata already encoded (the insert encodes it
// once for both); otherwise it is encoded here.
func Encode(a *ent.Activity, metadata []byte) ([]byte, error) {
	if metadata == nil && len(a.Metadata) > 0 {
		var err error
		if metadata, err = json.Marshal(a.Metadata); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 384+len(metadata)+len(a.Title))
	b = append(b, `{"id":`...)
	b = appendUUID(b, a.ID)
	b = append(b, `,"tenant_id":`...)
	b = appendUUID(b, a.TenantID)
	b = append(b, `,"customer_id":`...)
	b = appendUUID(b, a.CustomerID)
	b = appendField(b, "type", string(a.Type))
	b = appendField(b, "category", string(a.Category))
	if a.Channel != nil {
		b = append(b, `,"channel":`...)
		b = appendString(b, *a.Channel)
	}
	if a.Direction != nil {
		b = append(b, `,"direction":`...)
		b = appendString(b, string(*a.Direction))
	}
	b = appendField(b, "title", a.Title)
	if a.Description != nil {
		b = append(b, `,"description":`...)
		b = appendString(b, *a.Description)
	}
	if len(a.Metadata) > 0 { // omitempty
		b = append(b, `,"metadata":`...)
		b = append(b, metadata...)
	}
	b = appendField(b, "source_service", a.SourceService)
	if a.SourceID != nil {
		b = append(b, `,"source_id":`...)
		b = appendString(b, *a.SourceID)
	}
	if a.StaffID != nil {
		b = append(b, `,"staff_id":`...)
		b = appendString(b, *a.StaffID)
	}
	b = append(b, `,"occurred_at":`...)
	b = appendTime(b, a.OccurredAt)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, a.CreatedAt)
	b = append(b, `,"edges":{}}`...)
	return b, nil
}

// appendField writes a string field that encoding/json omits when empty.
func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func appendUUID(b []byte, id uuid.UUID) []byte {
	b = append(b, '"')
	b = append(b, id.String()...)
	return append(b, '"')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string. Control characters, quotes and
// backslashes are escaped, as are <, >, & and the line separators U+2028
// and U+2029, as encoding/json does; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
