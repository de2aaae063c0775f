package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/outboxevent"
	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

func open(t *testing.T, tg testenv.Target) *database.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, tg.DatabaseURL, tg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// recorder is a Publisher that keeps what it was given and fails its first
// failures calls.
type recorder struct {
	mu       sync.Mutex
	got      []Envelope
	batches  [][]Envelope
	calls    int
	failures int
	delay    time.Duration
}

func (r *recorder) Publish(_ context.Context, es []Envelope) error {
	time.Sleep(r.delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failures > 0 {
		r.failures--
		return errors.New("bus unavailable")
	}
	r.got = append(r.got, es...)
	r.batches = append(r.batches, es)
	return nil
}

func (r *recorder) events() []Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Envelope(nil), r.got...)
}

func newRelay(t *testing.T, db *database.DB, p Publisher, o RelayOptions) *Relay {
	t.Helper()
	o.Client, o.Dialect, o.Publisher = db.Client, db.Dialect, p
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	r, err := NewRelay(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func run(t *testing.T, r *Relay) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// write commits n events for org in one transaction each, in order.
func write(t *testing.T, db *database.DB, org uuid.UUID, n int) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	var ids []uuid.UUID
	for i := range n {
		tx, err := db.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id, err := Write(ctx, tx, org, "customer.created", map[string]int{"n": i}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func idsOf(es []Envelope) []uuid.UUID {
	out := make([]uuid.UUID, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func row(t *testing.T, db *database.DB, id uuid.UUID) *ent.OutboxEvent {
	t.Helper()
	r, err := db.Client.OutboxEvent.Get(tenancy.WithSystem(context.Background()), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func eventually(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCommittedEventsArePublishedOnceOnNotify(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := open(t, tg)
		ctx := context.Background()
		rec := &recorder{}
		// An interval of an hour: only Notify can explain a prompt publish.
		r := newRelay(t, db, rec, RelayOptions{Interval: time.Hour})
		run(t, r)
		time.Sleep(50 * time.Millisecond) // let the first poll find nothing

		org := uuid.New()
		at := time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.FixedZone("CET", 3600))
		tx, err := db.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id1, err := Write(ctx, tx, org, "customer.created", map[string]any{"name": "Ada", "tags": []string{"vip"}}, at)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := WriteMany(ctx, tx, []Draft{
			{OrgID: org, Type: "customer.updated", Data: json.RawMessage(`{"field": "email"}`)},
			{OrgID: org, Type: "customer.merged", Data: nil},
		})
		if err != nil {
			t.Fatal(err)
		}
		r.NotifyOnCommit(tx)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "3 events", func() bool { return len(rec.events()) == 3 })
		time.Sleep(50 * time.Millisecond)
		got := rec.events()
		if want := append([]uuid.UUID{id1}, ids...); !reflect.DeepEqual(idsOf(got), want) {
			t.Fatalf("published %v, want %v", idsOf(got), want)
		}
		e := got[0]
		if e.Type != "customer.created" || e.Source != "rapport" || e.Tenant != org.String() || !e.OccurredAt.Equal(at) || e.OccurredAt.Location() != time.UTC {
			t.Fatalf("envelope = %+v", e)
		}
		var data map[string]any
		if err := json.Unmarshal(e.Data, &data); err != nil || data["name"] != "Ada" {
			t.Fatalf("data = %s (%v)", e.Data, err)
		}
		if string(got[2].Data) != "null" || time.Since(got[1].OccurredAt) > time.Minute {
			t.Fatalf("defaults: %+v", got[1:])
		}
		for _, id := range idsOf(got) {
			if rw := row(t, db, id); rw.PublishedAt == nil || rw.Attempts != 0 {
				t.Fatalf("row %s: published_at %v attempts %d", id, rw.PublishedAt, rw.Attempts)
			}
		}
		if n, err := r.Step(ctx); n != 0 || err != nil {
			t.Fatalf("second step = %d, %v; want nothing left", n, err)
		}
	})
}

func TestRolledBackEventsAreNeverPublished(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := open(t, tg)
		ctx := context.Background()
		tx, err := db.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Write(ctx, tx, uuid.New(), "customer.created", map[string]int{}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		r := newRelay(t, db, rec, RelayOptions{})
		if n, err := r.Step(ctx); n != 0 || err != nil {
			t.Fatalf("step = %d, %v", n, err)
		}
		if rec.calls != 0 {
			t.Fatal("publisher called for a rolled-back event")
		}
		if n := db.Client.OutboxEvent.Query().CountX(tenancy.WithSystem(ctx)); n != 0 {
			t.Fatalf("%d rows after rollback", n)
		}
	})
}

// Two replicas (two pools, two relays) drain one table: every event is
// published exactly once.
func TestConcurrentRelaysPublishEachEventOnce(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db1, db2 := open(t, tg), open(t, tg)
		ctx := context.Background()
		const n = 1000
		tx, err := db1.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drafts := make([]Draft, n)
		for i := range drafts {
			drafts[i] = Draft{OrgID: uuid.New(), Type: "segment.member_added", Data: map[string]int{"i": i}}
		}
		ids, err := WriteMany(ctx, tx, drafts)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		rec1, rec2 := &recorder{delay: 2 * time.Millisecond}, &recorder{delay: 2 * time.Millisecond}
		run(t, newRelay(t, db1, rec1, RelayOptions{Batch: 25, Interval: 20 * time.Millisecond}))
		run(t, newRelay(t, db2, rec2, RelayOptions{Batch: 25, Interval: 20 * time.Millisecond}))
		eventually(t, 30*time.Second, "all published", func() bool {
			return len(rec1.events())+len(rec2.events()) >= n &&
				db1.Client.OutboxEvent.Query().Where(outboxevent.PublishedAtIsNil()).CountX(tenancy.WithSystem(ctx)) == 0
		})
		time.Sleep(100 * time.Millisecond) // room for a wrongful second publish
		seen := map[uuid.UUID]int{}
		for _, e := range append(rec1.events(), rec2.events()...) {
			seen[e.ID]++
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Fatalf("event %s published %d times", id, seen[id])
			}
		}
		if len(seen) != n {
			t.Fatalf("%d distinct events published, want %d", len(seen), n)
		}
		// Every batch keeps id (write) order.
		for _, rec := range []*recorder{rec1, rec2} {
			for _, b := range rec.batches {
				for i := 1; i < len(b); i++ {
					if b[i].ID.String() < b[i-1].ID.String() {
						t.Fatalf("order broken inside a batch at %d", i)
					}
				}
			}
		}
		t.Logf("relay 1 published %d, relay 2 published %d", len(rec1.events()), len(rec2.events()))
	})
}

func TestPublishFailureIsRetriedInOrder(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := open(t, tg)
		ids := write(t, db, uuid.New(), 5)
		rec := &recorder{failures: 2}
		run(t, newRelay(t, db, rec, RelayOptions{Interval: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}))
		eventually(t, 5*time.Second, "published after failures", func() bool { return len(rec.events()) == 5 })
		if got := idsOf(rec.events()); !reflect.DeepEqual(got, ids) {
			t.Fatalf("published %v, want %v", got, ids)
		}
		for _, id := range ids {
			rw := row(t, db, id)
			if rw.Attempts != 2 || rw.LastError == nil || *rw.LastError != "bus unavailable" || rw.PublishedAt == nil {
				t.Fatalf("row %s: attempts %d last_error %v published_at %v", id, rw.Attempts, rw.LastError, rw.PublishedAt)
			}
		}
	})
}

// A relay that died (here: one whose bus never answered) leaves its rows
// unpublished; the next process publishes them, in order.
func TestRestartPublishesWhatWasLeft(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := open(t, tg)
		ctx := context.Background()
		ids := write(t, db, uuid.New(), 3)
		first := newRelay(t, db, &recorder{failures: 1}, RelayOptions{})
		if _, err := first.Step(ctx); err == nil {
			t.Fatal("first relay: want a publish error")
		}
		ids = append(ids, write(t, db, uuid.New(), 2)...)

		db2 := open(t, tg) // the restarted process
		rec := &recorder{}
		second := newRelay(t, db2, rec, RelayOptions{})
		if n, err := second.Step(ctx); n != 5 || err != nil {
			t.Fatalf("step after restart = %d, %v", n, err)
		}
		if got := idsOf(rec.events()); !reflect.DeepEqual(got, ids) {
			t.Fatalf("published %v, want %v", got, ids)
		}
	})
}

func TestPruneDeletesOnlyOldPublishedRows(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		db := open(t, tg)
		ctx := tenancy.WithSystem(context.Background())
		ids := write(t, db, uuid.New(), 4)
		r := newRelay(t, db, &recorder{}, RelayOptions{Batch: 2})
		if n, err := r.Step(ctx); n != 2 || err != nil {
			t.Fatalf("step = %d, %v", n, err)
		}
		old := time.Now().UTC().Add(-8 * 24 * time.Hour)
		// ids[0] published long ago, ids[1] just now, ids[2..3] unpublished
		// (one of them old, which must not matter).
		db.Client.OutboxEvent.UpdateOneID(ids[0]).SetPublishedAt(old).ExecX(ctx)
		n, err := r.Prune(ctx, 7*24*time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("prune = %d, %v; want 1", n, err)
		}
		left, err := db.Client.OutboxEvent.Query().Order(outboxevent.ByID()).IDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(left, ids[1:]) {
			t.Fatalf("left %v, want %v", left, ids[1:])
		}
	})
}

func TestWriteRejectsIncompleteEvents(t *testing.T) {
	tg := testenv.Targets(t)[0]
	db := open(t, tg)
	ctx := context.Background()
	tx, err := db.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, d := range []Draft{
		{OrgID: uuid.Nil, Type: "x"},
		{OrgID: uuid.New(), Type: ""},
		{OrgID: uuid.New(), Type: "x", Data: json.RawMessage(`{not json`)},
		{OrgID: uuid.New(), Type: "x", Data: func() {}},
	} {
		if _, err := WriteMany(ctx, tx, []Draft{d}); err == nil {
			t.Fatalf("WriteMany(%+v) succeeded", d)
		}
	}
}

func TestLocalPublisherFansOut(t *testing.T) {
	p := NewLocalPublisher(slog.New(slog.NewTextHandler(t.Output(), nil)))
	var a, b []string
	cancelA := p.Subscribe(func(e Envelope) { a = append(a, e.Type) })
	p.Subscribe(func(e Envelope) { b = append(b, e.Type) })
	p.Subscribe(func(Envelope) { panic("subscriber bug") })
	es := []Envelope{{ID: uuid.New(), Type: "one"}, {ID: uuid.New(), Type: "two"}}
	if err := p.Publish(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	cancelA()
	if err := p.Publish(context.Background(), es[:1]); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != "[one two]" || fmt.Sprint(b) != "[one two one]" {
		t.Fatalf("a=%v b=%v", a, b)
	}
}
