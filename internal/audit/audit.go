// Package audit writes a CrmAuditLog entry for every change to a tenant's
// data, in the same transaction as the change, from one ent hook: no code path
// can change a profile without leaving a trace.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/customernote"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/identityalias"
	"github.com/rapportcrm/rapport/ent/organizationmember"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// Actor is who made a change.
type Actor struct {
	// ID is the user id, API key id, or a system component's name.
	ID string
	// Type is "user", "api_key", "system" or "event".
	Type string
}

type actorKey struct{}
type suppressKey struct{}

// Suppress turns the per-row hook off in ctx. Only bulk writers that record
// their own trail use it: event ingestion keeps one SyncLog row per event
// and writes audit entries for the profiles it creates in bulk (WriteMany).
func Suppress(ctx context.Context) context.Context {
	return context.WithValue(ctx, suppressKey{}, true)
}

// Entry is one audit entry written in bulk.
type Entry struct {
	Action     string
	EntityType string
	EntityID   uuid.UUID
	Changes    map[string]any
}

// WriteMany writes entries with one statement, attributed to the actor of
// ctx.
func WriteMany(ctx context.Context, c *ent.Client, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	actor := ActorFrom(ctx)
	now := time.Now().UTC()
	rid, _ := ctx.Value(requestKey{}).(string)
	builders := make([]*ent.CrmAuditLogCreate, len(entries))
	for i, e := range entries {
		changes, err := toJSONMap(e.Changes)
		if err != nil {
			return fmt.Errorf("audit: encode changes: %w", err)
		}
		b := c.CrmAuditLog.Create().SetActorID(actor.ID).SetActorType(actor.Type).
			SetAction(e.Action).SetEntityType(e.EntityType).SetEntityID(e.EntityID).
			SetChanges(changes).SetCreatedAt(now)
		if rid != "" {
			b.SetRequestID(rid)
		}
		builders[i] = b
	}
	return c.CrmAuditLog.CreateBulk(builders...).Exec(ctx)
}

type actionKey struct{}
type requestKey struct{}

// WithActor records who acts in ctx.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor of ctx, or the system actor.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{ID: "system", Type: "system"}
}

// WithAction names the business action (e.g. "customer.tags_added") that the
// entries written in ctx belong to; without it the action is derived from the
// entity and operation ("Customer.update").
func WithAction(ctx context.Context, action string) context.Context {
	return context.WithValue(ctx, actionKey{}, action)
}

// WithRequestID ties the entries written in ctx to a request.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestKey{}, id)
}

// entityTypes maps ent types to the names the API uses, and says which types
// are audited and from which table a deleted row's last state is read.
var entityTypes = map[string]struct{ name, table string }{
	"CustomerProfile":    {"Customer", customerprofile.Table},
	"CustomerNote":       {"CustomerNote", customernote.Table},
	"IdentityAlias":      {"IdentityAlias", identityalias.Table},
	"OrganizationMember": {"OrganizationMember", organizationmember.Table},
}

type auditedMutation interface {
	ent.Mutation
	ID() (uuid.UUID, bool)
	Client() *ent.Client
}

// Hook returns the ent hook that writes the entries. Bulk operations
// (update/delete by predicate) are not used on audited entities; the hook
// records single-entity creates, updates and deletes.
func Hook() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			et, ok := entityTypes[m.Type()]
			am, isAudited := m.(auditedMutation)
			if !ok || !isAudited || ctx.Value(suppressKey{}) != nil {
				return next.Mutate(ctx, m)
			}
			if _, hasTenant := tenancy.FromContext(ctx); !hasTenant {
				// Bootstrap and bulk tools run as system without a tenant;
				// they are not tenant activity.
				return next.Mutate(ctx, m)
			}
			var (
				changes = map[string]any{}
				op      string
			)
			switch {
			case m.Op().Is(ent.OpCreate):
				op = "create"
				for _, f := range m.Fields() {
					if v, ok := m.Field(f); ok && f != "search_text" && f != "tenant_id" {
						changes[f] = map[string]any{"after": v}
					}
				}
			case m.Op().Is(ent.OpUpdateOne):
				op = "update"
				for _, f := range m.Fields() {
					if f == "updated_at" || f == "search_text" {
						continue
					}
					after, _ := m.Field(f)
					before, err := m.OldField(ctx, f)
					if err != nil {
						return nil, err
					}
					if equalJSON(before, after) {
						continue
					}
					changes[f] = map[string]any{"before": before, "after": after}
				}
				for _, f := range m.ClearedFields() {
					before, err := m.OldField(ctx, f)
					if err != nil {
						return nil, err
					}
					changes[f] = map[string]any{"before": before, "after": nil}
				}
			case m.Op().Is(ent.OpDeleteOne):
				op = "delete"
				id, _ := am.ID()
				n, err := am.Client().Noder(ctx, id, ent.WithFixedNodeType(et.table))
				if err != nil {
					return nil, fmt.Errorf("audit: read %s before delete: %w", et.name, err)
				}
				changes["before"] = n
			default:
				return next.Mutate(ctx, m)
			}
			v, err := next.Mutate(ctx, m)
			if err != nil {
				return nil, err
			}
			if op == "update" && len(changes) == 0 {
				return v, nil
			}
			id, _ := am.ID()
			if err := write(ctx, am.Client(), et.name, id, op, changes); err != nil {
				return nil, err
			}
			return v, nil
		})
	}
}

func write(ctx context.Context, c *ent.Client, entity string, id uuid.UUID, op string, changes map[string]any) error {
	normalized, err := toJSONMap(changes)
	if err != nil {
		return fmt.Errorf("audit: encode changes: %w", err)
	}
	action, _ := ctx.Value(actionKey{}).(string)
	if action == "" {
		action = entity + "." + op
	}
	actor := ActorFrom(ctx)
	q := c.CrmAuditLog.Create().
		SetActorID(actor.ID).
		SetActorType(actor.Type).
		SetAction(action).
		SetEntityType(entity).
		SetEntityID(id).
		SetChanges(normalized).
		SetCreatedAt(time.Now().UTC())
	if rid, ok := ctx.Value(requestKey{}).(string); ok && rid != "" {
		q.SetRequestID(rid)
	}
	return q.Exec(ctx)
}

// toJSONMap round-trips through JSON so the stored value is exactly what a
// reader will get back (times as RFC 3339, pointers dereferenced).
func toJSONMap(v map[string]any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	err = json.Unmarshal(b, &out)
	return out, err
}

func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
