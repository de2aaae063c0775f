package segment

import (
	"encoding/json"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/lib/pq"
)

// statement renders raw parts as one statement for the dialect.
func statement(dialectName string, parts ...any) (string, []any) {
	p := raw(parts...)
	p.SetDialect(dialectName)
	return p.Query()
}

// idsIn is "col is one of ids" with one parameter whatever the count, so a
// prepared statement is reused: = ANY(uuid[]) on PostgreSQL, json_each on
// SQLite.
func idsIn(dialectName, col string, ids []uuid.UUID) *sql.Predicate {
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = id.String()
	}
	if dialectName == dialect.Postgres {
		return raw(col+" = ANY(", rawCast(pq.Array(strs), "uuid[]"), ")")
	}
	b, _ := json.Marshal(strs)
	return raw(col+" IN (SELECT value FROM json_each(", arg(string(b)), "))")
}

// profileCol qualifies a customer_profiles column under the alias p.
func profileCol(c string) string { return `p."` + c + `"` }
