package resolvers

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/crmauditlog"
	"github.com/rapportcrm/rapport/ent/customernote"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/organizationmember"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// nodeTables are the tenant-owned tables a global id can point into.
var nodeTables = []string{
	customerprofile.Table, customernote.Table, identityalias.Table,
	crmauditlog.Table, organizationmember.Table,
}

// nodeTypes finds, in one query, which table each id lives in within the
// caller's tenant. Ids are bare UUIDv7s, so the id alone does not say its
// type; ids of other tenants are simply not found, exactly like ids that do
// not exist.
func (r *Resolver) nodeTypes(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	tid, ok := tenancy.FromContext(ctx)
	if !ok || len(ids) == 0 {
		return map[uuid.UUID]string{}, nil
	}
	args := []any{tid}
	ph := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		ph[i] = fmt.Sprintf("$%d", i+2)
	}
	in := strings.Join(ph, ", ")
	parts := make([]string, 0, len(nodeTables)+1)
	for _, t := range nodeTables {
		parts = append(parts, fmt.Sprintf(`SELECT id, '%s' FROM %s WHERE tenant_id = $1 AND id IN (%s)`, t, t, in))
	}
	// The organization is the tenant itself.
	parts = append(parts, fmt.Sprintf(`SELECT id, 'organizations' FROM organizations WHERE id = $1 AND id IN (%s)`, in))
	rows, err := r.client.QueryContext(ctx, strings.Join(parts, " UNION ALL "), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[uuid.UUID]string, len(ids))
	for rows.Next() {
		var (
			id    uuid.UUID
			table string
		)
		if err := rows.Scan(&id, &table); err != nil {
			return nil, err
		}
		out[id] = table
	}
	return out, rows.Err()
}

func (r *Resolver) noders(ctx context.Context, ids []uuid.UUID) ([]ent.Noder, error) {
	types, err := r.nodeTypes(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]ent.Noder, len(ids))
	for i, id := range ids {
		table, ok := types[id]
		if !ok {
			continue
		}
		n, err := r.client.Noder(ctx, id, ent.WithFixedNodeType(table))
		if ent.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}
