package resolvers

import (
	"context"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
	"github.com/rapportcrm/rapport/ent/crmauditlog"
	"github.com/rapportcrm/rapport/ent/customernote"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/duplicatecandidate"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/mergerecord"
	"github.com/rapportcrm/rapport/ent/organization"
	"github.com/rapportcrm/rapport/ent/organizationmember"
	"github.com/rapportcrm/rapport/ent/synclog"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// nodeTypes finds which table each id lives in within the caller's tenant,
// asking the likeliest tables first and stopping once every id is placed.
// Ids are bare UUIDv7s, so an id alone does not say its type; ids of other
// tenants are simply not found (the tenant filter applies to every query),
// exactly like ids that do not exist.
func (r *Resolver) nodeTypes(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	out := make(map[uuid.UUID]string, len(ids))
	tid, ok := tenancy.FromContext(ctx)
	if !ok {
		return out, nil
	}
	lookups := []struct {
		table string
		ids   func([]uuid.UUID) ([]uuid.UUID, error)
	}{
		{customerprofile.Table, func(in []uuid.UUID) ([]uuid.UUID, error) {
			return r.client.CustomerProfile.Query().Where(customerprofile.IDIn(in...)).IDs(ctx)
		}},
		{customernote.Table, func(in []uuid.UUID) ([]uuid.UUID, error) {
			return r.client.CustomerNote.Query().Where(customernote.IDIn(in...)).IDs(ctx)
		}},
		{identityalias.Table, func(in []uuid.UUID) ([]uuid.UUID, error) {
			return r.client.IdentityAlias.Query().Where(identityalias.IDIn(in...)).IDs(ctx)
		}},
		{crmauditlog.Table, func(in []uuid.UUID) ([]uuid.UUID, error) {
			return r.client.CrmAuditLog.Query().Where(crmauditlog.IDIn(in...)).IDs(ctx)
		}},
		{organizationmember.Table, func(in []uuid.UUID) ([]uuid.UUID, error) {
			return r.client.OrganizationMember.Query().Where(organizationmember.IDIn(in...)).IDs(ctx)
		}},
		{activity.Table, func(in []uuid.UUID) ([]uuid.UUID, error) {
			return r.client.Activity.Query().Where(activity.IDIn(in...)).IDs(ctx)
		}},
		{duplicatecandidate.Table, func(in []uuid.UUID) ([]uuid.UUID, error) {
			return r.client.DuplicateCandidate.Query().Where(duplicatecandidate.IDIn(in...)).IDs(ctx)
		}},
		{mergerecord.Table, func(in []uuid.UUID) ([]uuid.UUID, error) {
			return r.client.MergeRecord.Query().Where(mergerecord.IDIn(in...)).IDs(ctx)
		}},
		{synclog.Table, func(in []uuid.UUID) ([]uuid.UUID, error) {
			return r.client.SyncLog.Query().Where(synclog.IDIn(in...)).IDs(ctx)
		}},
	}
	pending := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if id == tid {
			out[id] = organization.Table // the organization is the tenant itself
			continue
		}
		pending = append(pending, id)
	}
	for _, l := range lookups {
		if len(pending) == 0 {
			break
		}
		found, err := l.ids(pending)
		if err != nil {
			return nil, err
		}
		for _, id := range found {
			out[id] = l.table
		}
		rest := pending[:0]
		for _, id := range pending {
			if _, ok := out[id]; !ok {
				rest = append(rest, id)
			}
		}
		pending = rest
	}
	return out, nil
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
