package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/internal/pgarray"
)

// column describes one column of a bulk insert on PostgreSQL.
type column struct {
	name string
	// cast is the SQL type the text value is cast to.
	cast string
	// def is the SQL default used when a row has no value; without one an
	// absent value is NULL.
	def string
}

// pgBulkInsert inserts the rows that ent create mutations describe with one
// INSERT … SELECT FROM unnest(text arrays): a parameter per column instead of
// one per value, so PostgreSQL parses and plans a short statement whatever the
// batch size, and no per-row builder SQL is produced. tenantColumn, when set,
// is stamped with tenantID (the ent tenant hook does not run here; row-level
// security checks the value). exec may append a clause (ON CONFLICT,
// RETURNING) to the statement it is given.
func pgBulkInsert(ctx context.Context, exec func(ctx context.Context, q string, args ...any) error, table string, cols []column, tenantColumn string, tenantID uuid.UUID, muts []ent.Mutation) error {
	if len(muts) == 0 {
		return nil
	}
	arrays := make([][]string, len(cols))
	for i := range arrays {
		arrays[i] = make([]string, len(muts))
	}
	for r, m := range muts {
		for i, c := range cols {
			v, ok := m.Field(c.name)
			if c.name == "id" {
				if idm, isID := m.(interface{ ID() (uuid.UUID, bool) }); isID {
					id, set := idm.ID()
					v, ok = id, set
				}
			}
			if !ok {
				if c.name == "id" {
					// ent assigns ids at save time, which this path skips.
					v, ok = uuid.Must(uuid.NewV7()), true
				} else {
					continue
				}
			}
			s, err := text(v)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", table, c.name, err)
			}
			arrays[i][r] = s
		}
	}
	var names, exprs, params []string
	args := make([]any, 0, len(cols)+1)
	if tenantColumn != "" {
		names = append(names, tenantColumn)
		exprs = append(exprs, "$1::uuid")
		args = append(args, tenantID)
	}
	for i, c := range cols {
		n := len(args) + 1
		args = append(args, pgarray.Text(arrays[i]))
		alias := "c" + strconv.Itoa(i)
		names = append(names, pqIdent(c.name))
		params = append(params, fmt.Sprintf("$%d::text[]", n))
		expr := "NULLIF(" + alias + ", '')::" + c.cast
		if c.def != "" {
			expr = "COALESCE(" + expr + ", " + c.def + ")"
		}
		exprs = append(exprs, expr)
	}
	aliases := make([]string, len(cols))
	for i := range cols {
		aliases[i] = "c" + strconv.Itoa(i)
	}
	q := "INSERT INTO " + pqIdent(table) + " (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(exprs, ", ") +
		" FROM unnest(" + strings.Join(params, ", ") + ") AS t(" + strings.Join(aliases, ", ") + ")"
	return exec(ctx, q, args...)
}

// pgBulkUpdate applies update mutations of rows of one tenant with one
// UPDATE … FROM unnest(text arrays). A column a mutation leaves unset keeps
// its value; the mutations never set a column to NULL (an empty text means
// unset).
func pgBulkUpdate(ctx context.Context, exec func(ctx context.Context, q string, args ...any) error, table string, cols []column, tenantID uuid.UUID, ids []uuid.UUID, muts []ent.Mutation) error {
	if len(muts) == 0 {
		return nil
	}
	args := []any{tenantID, pgarray.UUID(ids)}
	params := []string{"$2::uuid[]"}
	aliases := []string{"id"}
	var sets []string
	for i, c := range cols {
		vals := make([]string, len(muts))
		for r, m := range muts {
			if v, ok := m.Field(c.name); ok {
				s, err := text(v)
				if err != nil {
					return fmt.Errorf("%s.%s: %w", table, c.name, err)
				}
				vals[r] = s
			}
		}
		args = append(args, pgarray.Text(vals))
		alias := "c" + strconv.Itoa(i)
		params = append(params, fmt.Sprintf("$%d::text[]", len(args)))
		aliases = append(aliases, alias)
		sets = append(sets, pqIdent(c.name)+" = COALESCE(NULLIF(v."+alias+", '')::"+c.cast+", p."+pqIdent(c.name)+")")
	}
	q := "UPDATE " + pqIdent(table) + " AS p SET " + strings.Join(sets, ", ") +
		" FROM unnest(" + strings.Join(params, ", ") + ") AS v(" + strings.Join(aliases, ", ") + ")" +
		" WHERE p.id = v.id AND p.tenant_id = (SELECT $1::uuid)" // see lockSQL
	return exec(ctx, q, args...)
}

func pqIdent(s string) string { return `"` + s + `"` }

// text renders a mutation value as the text PostgreSQL casts back.
func text(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case uuid.UUID:
		return x.String(), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case []byte:
		return string(x), nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.String {
		return rv.String(), nil // enums: named string types
	}
	// JSON columns: maps, slices, structs.
	b, err := json.Marshal(v)
	return string(b), err
}
