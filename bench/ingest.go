package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/internal/app"
	"github.com/rapportcrm/rapport/internal/bus"
)

// ingestConfig is what the ingestion scenario is told to do.
type ingestConfig struct {
	// events are put on the streams before the service starts.
	events int
	// subscribers each watch one customer's timeline.
	subscribers int
	// liveDuration is how long events stream in while the latency is
	// measured.
	liveDuration time.Duration
	// liveRate is the events/s streamed in then; 0 picks it (see liveLoad).
	liveRate int
	// workers and batch configure the service's consumers; 0 keeps its
	// defaults, which are what the targets are judged on.
	workers, batch int
}

// The ingestion targets of the issue.
const (
	ingestTarget     = "ingestion (stream → committed) ≥ 10,000 events/s"
	latencyTarget    = "event → timelineUpdated subscriber p99 < 1 s"
	ingestTargetRate = 10_000
	latencyTargetP99 = time.Second
	// ingestPeople is how many existing profiles the events are about.
	ingestPeople = 20_000
)

// inputStreams are the streams the service consumes, without a prefix.
var inputStreams = []string{bus.StreamSCL, bus.StreamTeeTime, bus.StreamMessaging}

// ingestSkipped are the ingestion targets of a run that skipped them.
func ingestSkipped(why string) []verdict {
	return []verdict{skipped(ingestTarget, why), skipped(latencyTarget, why)}
}

// benchIngest measures ingestion and the live timeline and judges their
// targets; a failure is reported as the verdicts' note, so the other
// scenarios' figures still print.
func benchIngest(ctx context.Context, cfg config, fx fixture, stdout, stderr io.Writer) []verdict {
	vs, err := runIngest(ctx, cfg, fx, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stdout, "\ningestion failed: %v\n", err)
		return ingestSkipped("failed: " + err.Error())
	}
	return vs
}

// ingestRun is one run's connections and names.
type ingestRun struct {
	rdb    *redis.Client
	db     *sql.DB
	orgID  uuid.UUID
	run    string
	prefix string
	gen    *eventGen
	// enqueued counts the entries put on the input streams.
	enqueued int64
}

// runIngest puts the events on the streams under a key prefix of its own,
// starts the service with its consumers, times until every event is
// committed and acknowledged, checks that none was rejected, and then
// measures the live timeline under streaming load.
func runIngest(ctx context.Context, cfg config, fx fixture, stdout, stderr io.Writer) ([]verdict, error) {
	opts, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		return nil, fmt.Errorf("parse RAPPORT_BENCH_REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis at %s: %w", cfg.redisURL, err)
	}
	db, err := sql.Open("postgres", cfg.databaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	token, err := runToken()
	if err != nil {
		return nil, err
	}
	// One profile in every profiles/ingestPeople: about ingestPeople.
	active, err := activePeople(ctx, db, fx.orgID, ingestPeople, cfg.profiles/ingestPeople)
	if err != nil {
		return nil, err
	}
	if len(active) < cfg.ingest.subscribers {
		return nil, fmt.Errorf("the bench tenant has %d profiles with an e-mail; the live run needs %d", len(active), cfg.ingest.subscribers)
	}
	people := make([]person, len(active))
	for i, s := range active {
		people[i] = personOf(s)
	}
	r := &ingestRun{rdb: rdb, db: db, orgID: fx.orgID, run: "bench-" + token, prefix: "bench-" + token + ":"}
	r.gen = newEventGen(r.run, "bench", people, time.Now().UTC())
	// The run's keys go whatever happens: the streams hold every event.
	defer r.deleteKeys(context.WithoutCancel(ctx), stderr)

	start := time.Now()
	events, err := r.gen.batch(cfg.ingest.events)
	if err != nil {
		return nil, err
	}
	generated := time.Since(start)
	start = time.Now()
	if err := r.enqueue(ctx, events); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "\ningestion: %s events about %s profiles (%s new members), encoded in %s, put on %s* in %s\n",
		thousands(int64(len(events))), thousands(int64(len(people))), thousands(r.gen.created),
		generated.Round(time.Millisecond), r.prefix, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "  mix: %s\n", mixOf(events))

	linkedBefore, err := r.upstreamKeys(ctx, people)
	if err != nil {
		return nil, err
	}
	svc, err := startService(ctx, app.Config{DatabaseURL: cfg.serviceURL, RedisURL: cfg.redisURL, RedisPrefix: r.prefix,
		EventWorkers: cfg.ingest.workers, EventBatch: cfg.ingest.batch}, fx.orgID)
	if err != nil {
		return nil, err
	}
	defer svc.close(ctx, stderr)
	progress, err := r.waitCommitted(ctx, stderr)
	if err != nil {
		return nil, err
	}
	took := progress[len(progress)-1].at.Sub(svc.started)
	rate := float64(len(events)) / took.Seconds()
	fmt.Fprintf(stdout, "  all committed %s after the service started: %.0f events/s (%.0f events/s between 10%% and 90%% committed)\n",
		took.Round(time.Millisecond), rate, steadyRate(progress))
	out, err := r.outcomes(ctx, svc)
	if err != nil {
		return nil, err
	}
	out.print(stdout, "  ")
	linkedAfter, err := r.upstreamKeys(ctx, people)
	if err != nil {
		return nil, err
	}
	// Linking a key locks and rewrites the profile; resolving by a linked
	// one does not, so the first run over these people is the slower one.
	fmt.Fprintf(stdout, "  upstream ids newly linked to the %s profiles: %s (they held %s before)\n",
		thousands(int64(len(people))), thousands(linkedAfter-linkedBefore), thousands(linkedBefore))
	warnWindowJob(stdout, svc.started, progress[len(progress)-1].at)
	ingestV := verdict{desc: ingestTarget, figure: fmt.Sprintf("%.0f events/s", rate),
		met: rate >= ingestTargetRate && out.clean(int64(len(events)))}
	ingestV.note = out.note(int64(len(events)))

	lr, err := r.live(ctx, cfg.ingest, svc, people, rate, stdout, stderr)
	if err != nil {
		return []verdict{ingestV, skipped(latencyTarget, "failed: "+err.Error())}, nil
	}
	all, err := r.outcomes(ctx, svc)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(stdout, "  after the live run, every event of this run:")
	all.print(stdout, "    ")
	return []verdict{ingestV, lr.verdict(all.clean(r.enqueued))}, nil
}

// upstreamKeys counts the SCL, TeeTime and Messaging ids the people's
// profiles hold.
func (r *ingestRun) upstreamKeys(ctx context.Context, people []person) (int64, error) {
	ids := make([]string, len(people))
	for i, p := range people {
		ids[i] = p.id
	}
	var n int64
	err := inTenantTx(ctx, r.db, r.orgID, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM identity_aliases WHERE customer_id = ANY($1::uuid[])
AND kind IN ('SCL_MEMBER_ID', 'TEETIME_PLAYER_ID', 'MESSAGING_CONTACT_ID')`, pq.Array(ids)).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count upstream ids: %w", err)
	}
	return n, nil
}

// runToken is a short random name for the run's keys and event ids.
func runToken() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// mixOf describes the share of each event type, most frequent first.
func mixOf(events []outgoing) string {
	counts := map[string]int{}
	for _, e := range events {
		// The type is the envelope's second field; decoding every
		// envelope again would cost more than this scan.
		_, rest, _ := strings.Cut(string(e.body), `"type":"`)
		typ, _, _ := strings.Cut(rest, `"`)
		counts[typ]++
	}
	types := slices.SortedFunc(maps.Keys(counts), func(a, b string) int { return counts[b] - counts[a] })
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("%s %.0f%%", t, 100*float64(counts[t])/float64(len(events)))
	}
	return strings.Join(parts, ", ")
}

// enqueueChunk is how many entries one pipelined round trip adds.
const enqueueChunk = 1000

// enqueue appends the events to their streams, pipelined.
func (r *ingestRun) enqueue(ctx context.Context, events []outgoing) error {
	for start := 0; start < len(events); start += enqueueChunk {
		if _, err := r.add(ctx, events[start:min(start+enqueueChunk, len(events))]); err != nil {
			return err
		}
	}
	return nil
}

// add appends events to their streams in one pipelined round trip, in the
// entry shape the service reads (bus.Publish's), and returns when Redis
// had them all.
func (r *ingestRun) add(ctx context.Context, events []outgoing) (time.Time, error) {
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range events {
			p.XAdd(ctx, &redis.XAddArgs{Stream: r.prefix + e.stream, Values: []any{bus.EventField, e.body}})
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("put events on the streams: %w", err)
	}
	r.enqueued += int64(len(events))
	return time.Now(), nil
}

// committedAt is how many entries were settled at a moment.
type committedAt struct {
	at time.Time
	n  int64
}

// committed counts the entries of the input streams the consumer group has
// settled: read and no longer pending, so their effects are committed (or
// they were dead-lettered, which outcomes tells apart).
func (r *ingestRun) committed(ctx context.Context) (int64, error) {
	var n int64
	for _, s := range inputStreams {
		groups, err := r.rdb.XInfoGroups(ctx, r.prefix+s).Result()
		if err != nil {
			// The consumers create their streams on start.
			if strings.Contains(err.Error(), "no such key") {
				continue
			}
			return 0, fmt.Errorf("xinfo groups %s: %w", s, err)
		}
		for _, g := range groups {
			if g.Name == bus.DefaultGroup {
				n += g.EntriesRead - g.Pending
			}
		}
	}
	return n, nil
}

// stallTimeout is how long settling may make no progress before the run
// gives up: a failing event is retried only after the claim timeout (30 s
// by default).
const stallTimeout = 2 * time.Minute

// waitCommitted polls until every enqueued entry is settled and returns the
// progress it saw, the last sample being the moment all were. Progress goes
// to stderr once a second.
func (r *ingestRun) waitCommitted(ctx context.Context, stderr io.Writer) ([]committedAt, error) {
	var progress []committedAt
	lastChange, lastPrint := time.Now(), time.Now()
	var prev int64 = -1
	for {
		n, err := r.committed(ctx)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		progress = append(progress, committedAt{now, n})
		if n >= r.enqueued {
			return progress, nil
		}
		if n != prev {
			prev, lastChange = n, now
		} else if now.Sub(lastChange) > stallTimeout {
			return nil, fmt.Errorf("no progress for %s: %s of %s events settled", stallTimeout, thousands(n), thousands(r.enqueued))
		}
		if now.Sub(lastPrint) >= time.Second {
			fmt.Fprintf(stderr, "ingest: %s / %s events committed\n", thousands(n), thousands(r.enqueued))
			lastPrint = now
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// steadyRate is the rate between 10% and 90% settled: the pipeline at full
// speed, without the start (cold caches, consumers joining) and the tail
// (the last, partly filled batches).
func steadyRate(progress []committedAt) float64 {
	total := progress[len(progress)-1].n
	var from, to *committedAt
	for i := range progress {
		p := &progress[i]
		if from == nil && p.n >= total/10 {
			from = p
		}
		if to == nil && p.n >= total*9/10 {
			to = p
		}
	}
	if from == nil || to == nil || !to.at.After(from.at) {
		return 0
	}
	return float64(to.n-from.n) / to.at.Sub(from.at).Seconds()
}

// outcomes is what became of the run's events, as the sync log, the
// dead-letter stream and the consumers tell it.
type outcomes struct {
	// byStatus counts the run's sync log rows by status.
	byStatus map[string]int64
	// dead counts the dead-letter stream's entries; deadReasons are the
	// first few reasons.
	dead        int64
	deadReasons []string
	// consumerDead counts what the consumers dead-lettered.
	consumerDead int64
}

// outcomes reads what became of the run's events. The run's event ids share
// the prefix "<run>-", which the sync log's unique (tenant, source,
// event id) index finds as a range.
func (r *ingestRun) outcomes(ctx context.Context, svc *service) (outcomes, error) {
	o := outcomes{byStatus: map[string]int64{}}
	err := inTenantTx(ctx, r.db, r.orgID, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT status, count(*) FROM sync_logs
WHERE tenant_id = $1 AND source IN ('scl', 'teetime', 'messaging') AND event_id >= $2 AND event_id < $3 GROUP BY status`,
			r.orgID, r.run+"-", r.run+".")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st string
			var n int64
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			o.byStatus[st] = n
		}
		return rows.Err()
	})
	if err != nil {
		return o, fmt.Errorf("read the sync log: %w", err)
	}
	dead, err := r.rdb.XRangeN(ctx, r.prefix+bus.DefaultDead, "-", "+", 5).Result()
	if err != nil {
		return o, fmt.Errorf("read the dead letters: %w", err)
	}
	for _, d := range dead {
		o.deadReasons = append(o.deadReasons, fmt.Sprint(d.Values["reason"]))
	}
	if o.dead, err = r.rdb.XLen(ctx, r.prefix+bus.DefaultDead).Result(); err != nil {
		return o, fmt.Errorf("read the dead letters: %w", err)
	}
	for _, c := range svc.app.Consumers() {
		o.consumerDead += c.Stats().Dead
	}
	return o, nil
}

// clean reports whether all n events were processed and none rejected or
// dead-lettered.
func (o outcomes) clean(n int64) bool {
	return o.byStatus["PROCESSED"] == n && len(o.byStatus) == 1 && o.dead == 0 && o.consumerDead == 0
}

// note says what a run with problems got wrong; "" for a clean one.
func (o outcomes) note(n int64) string {
	if o.clean(n) {
		return ""
	}
	return fmt.Sprintf("%s of %s processed, %s rejected, %s dead-lettered", thousands(o.byStatus["PROCESSED"]), thousands(n),
		thousands(o.byStatus["REJECTED"]), thousands(o.dead))
}

// print writes the outcomes, and the first dead-letter reasons if any.
func (o outcomes) print(w io.Writer, indent string) {
	statuses := slices.Sorted(maps.Keys(o.byStatus))
	parts := make([]string, len(statuses))
	for i, s := range statuses {
		parts[i] = thousands(o.byStatus[s]) + " " + strings.ToLower(s)
	}
	if len(parts) == 0 {
		parts = []string{"nothing"}
	}
	fmt.Fprintf(w, "%ssync log: %s; dead-letter stream: %s entries (consumers dead-lettered %s)\n",
		indent, strings.Join(parts, ", "), thousands(o.dead), thousands(o.consumerDead))
	for _, reason := range o.deadReasons {
		fmt.Fprintf(w, "%s  dead letter: %s\n", indent, reason)
	}
}

// deleteKeys removes every Redis key of the run (its streams, dead letters,
// produced events and job locks), all under the run's own prefix.
func (r *ingestRun) deleteKeys(ctx context.Context, stderr io.Writer) {
	var keys []string
	iter := r.rdb.Scan(ctx, 0, r.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	err := iter.Err()
	if err == nil && len(keys) > 0 {
		err = r.rdb.Del(ctx, keys...).Err()
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "bench: delete the run's Redis keys %s*: %v\n", r.prefix, err)
	}
}
