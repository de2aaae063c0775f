package merge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/customerprofile"
)

// column is one column of customer_profiles and the field of
// ent.CustomerProfile that holds it. The merge copies and compares profiles
// column by column through this table rather than field by field by hand, so
// a column added to the schema is restored by an unmerge without touching
// this package.
type column struct {
	name  string
	index int
}

var profileColumns = mustProfileColumns()

func mustProfileColumns() []column {
	t := reflect.TypeFor[ent.CustomerProfile]()
	byTag := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && name != "" && name != "-" {
			byTag[name] = i
		}
	}
	out := make([]column, 0, len(customerprofile.Columns))
	for _, c := range customerprofile.Columns {
		i, ok := byTag[c]
		if !ok {
			// The generated entity always has a field per column; failing at
			// start-up beats an unmerge that silently drops one.
			panic(fmt.Sprintf("merge: column %s has no field on ent.CustomerProfile", c))
		}
		out = append(out, column{name: c, index: i})
	}
	return out
}

// value returns the column's value as ent's mutations take it (pointers
// dereferenced) and whether it is set: a nil pointer, list or map is NULL.
func (c column) value(p *ent.CustomerProfile) (any, bool) {
	v := reflect.ValueOf(p).Elem().Field(c.index)
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil, false
		}
		return v.Elem().Interface(), true
	case reflect.Slice, reflect.Map:
		if v.IsNil() {
			return nil, false
		}
	}
	return v.Interface(), true
}

// copyFrom sets the column of dst to its value in src.
func (c column) copyFrom(dst, src *ent.CustomerProfile) {
	reflect.ValueOf(dst).Elem().Field(c.index).Set(reflect.ValueOf(src).Elem().Field(c.index))
}

// same reports whether a and b hold the same value in the column. Times are
// compared as instants (the databases hand them back in different zones);
// everything else by its JSON form, which tells an empty list from none.
func (c column) same(a, b *ent.CustomerProfile) bool {
	x, okA := c.value(a)
	y, okB := c.value(b)
	if okA != okB {
		return false
	}
	if !okA {
		return true
	}
	if tx, ok := x.(time.Time); ok {
		ty, ok := y.(time.Time)
		return ok && tx.Equal(ty)
	}
	jx, errX := json.Marshal(x)
	jy, errY := json.Marshal(y)
	return errX == nil && errY == nil && bytes.Equal(jx, jy)
}

// immutable columns are never written after the profile is created.
func (c column) immutable() bool {
	switch c.name {
	case customerprofile.FieldID, customerprofile.FieldTenantID, customerprofile.FieldCreatedAt:
		return true
	}
	return false
}

// applyDiff puts into m every mutable column in which want differs from have.
func applyDiff(m *ent.CustomerProfileMutation, have, want *ent.CustomerProfile) error {
	for _, c := range profileColumns {
		if c.immutable() || c.same(have, want) {
			continue
		}
		v, ok := c.value(want)
		var err error
		if ok {
			err = m.SetField(c.name, v)
		} else {
			err = m.ClearField(c.name)
		}
		if err != nil {
			return fmt.Errorf("merge: set %s: %w", c.name, err)
		}
	}
	return nil
}

// createFrom fills a create builder with every column of p, its id and
// timestamps included; the tenant is stamped by the tenant hook.
func createFrom(c *ent.CustomerProfileCreate, p *ent.CustomerProfile) (*ent.CustomerProfileCreate, error) {
	c.SetID(p.ID)
	for _, col := range profileColumns {
		if col.name == customerprofile.FieldID || col.name == customerprofile.FieldTenantID {
			continue
		}
		if v, ok := col.value(p); ok {
			if err := c.Mutation().SetField(col.name, v); err != nil {
				return nil, fmt.Errorf("merge: set %s: %w", col.name, err)
			}
		}
	}
	return c, nil
}

// encodeProfile is the JSON of a profile row as a snapshot keeps it. The
// entity's own JSON omits an empty tag list or attribute map, which would come
// back as none (NULL); they are written out so a restore is exact.
func encodeProfile(p *ent.CustomerProfile) (json.RawMessage, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("merge: encode profile %s: %w", p.ID, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("merge: encode profile %s: %w", p.ID, err)
	}
	delete(m, "edges")
	if p.Tags != nil && len(p.Tags) == 0 {
		m[customerprofile.FieldTags] = json.RawMessage(`[]`)
	}
	if p.Attributes != nil && len(p.Attributes) == 0 {
		m[customerprofile.FieldAttributes] = json.RawMessage(`{}`)
	}
	return json.Marshal(m)
}

// decodeProfile reads a profile row from a snapshot.
func decodeProfile(raw json.RawMessage) (*ent.CustomerProfile, error) {
	var p ent.CustomerProfile
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("merge: decode snapshot profile: %w", err)
	}
	return &p, nil
}

// cloneProfile returns a deep copy of p, sharing no pointer, list or map.
func cloneProfile(p *ent.CustomerProfile) (*ent.CustomerProfile, error) {
	raw, err := encodeProfile(p)
	if err != nil {
		return nil, err
	}
	return decodeProfile(raw)
}
