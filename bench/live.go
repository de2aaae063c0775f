package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

const timelineSubscription = `subscription($id: ID!) { timelineUpdated(customerID: $id) { id metadata } }`

// liveResult is the live timeline's latency under streaming load.
type liveResult struct {
	rate        int
	subscribers int
	// latencies are from putting a probe on the stream to its subscriber
	// receiving the timeline entry, sorted ascending.
	latencies []time.Duration
	// lost probes never reached their subscriber.
	lost int
}

// verdict judges the latency target; clean says whether every event of
// the run was processed. A lost probe fails it: its latency is unbounded.
func (l liveResult) verdict(clean bool) verdict {
	r := result{latencies: l.latencies}
	p99 := r.percentile(0.99)
	v := verdict{desc: latencyTarget, figure: ms(p99) + " ms", met: p99 < latencyTargetP99 && l.lost == 0 && clean && len(l.latencies) > 0,
		note: fmt.Sprintf("%s probes to %d subscribers at %s events/s", thousands(int64(len(l.latencies)+l.lost)), l.subscribers, thousands(int64(l.rate)))}
	if l.lost > 0 {
		v.note += fmt.Sprintf(", %d lost", l.lost)
	}
	if !clean {
		v.note += ", events were rejected"
	}
	return v
}

// liveLoad is the events/s streamed in while the latency is measured: the
// one asked for, else the throughput target, or 90% of the measured
// throughput when the service sustains less. At a rate above what it
// sustains, the backlog and with it every latency grows for as long as the
// run lasts, which would measure the run's length rather than the path
// from stream to subscriber.
func liveLoad(asked int, measured float64) int {
	if asked > 0 {
		return asked
	}
	r := min(float64(ingestTargetRate), 0.9*measured)
	return max(100, int(math.Round(r/100))*100)
}

// live measures the time from putting an event on a stream to a
// timelineUpdated subscriber receiving its entry, while background events
// stream in at the live load: each subscriber watches one customer, and
// every second each gets a probe event about that customer.
func (r *ingestRun) live(ctx context.Context, cfg ingestConfig, svc *service, people []person, measured float64, stdout, stderr io.Writer) (liveResult, error) {
	lr := liveResult{rate: liveLoad(cfg.liveRate, measured), subscribers: min(cfg.subscribers, len(people))}
	subs := people[:lr.subscribers]
	book := newProbeBook(len(subs))
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var conns []*websocket.Conn
	defer func() {
		cancel()
		for _, c := range conns {
			c.CloseNow()
		}
		wg.Wait()
	}()
	for i, p := range subs {
		c, err := subscribe(ctx, svc, p.id)
		if err != nil {
			return lr, fmt.Errorf("subscriber %d: %w", i, err)
		}
		conns = append(conns, c)
		wg.Go(func() { book.read(ctx, c, i) })
	}
	if err := r.warmUp(ctx, book, subs); err != nil {
		return lr, err
	}
	// Encoded up front: the load generator shares the CPUs with the
	// service and should spend them on sending only.
	bg, err := r.gen.batch(lr.rate * int(math.Ceil(cfg.liveDuration.Seconds())))
	if err != nil {
		return lr, err
	}
	fmt.Fprintf(stderr, "live: %d subscribers ready; streaming %d events/s for %s\n", len(subs), lr.rate, cfg.liveDuration)
	start := time.Now()
	probes := 0
	for sent := 0; ; {
		elapsed := time.Since(start)
		if elapsed >= cfg.liveDuration {
			break
		}
		due := min(int(float64(lr.rate)*elapsed.Seconds()), len(bg))
		batch := slices.Clone(bg[sent:due])
		sent = due
		var ids []string
		// One probe per subscriber per second, in turn.
		for ; probes < int(elapsed.Seconds()*float64(len(subs))); probes++ {
			o, err := r.gen.probe(subs[probes%len(subs)], false)
			if err != nil {
				return lr, err
			}
			batch, ids = append(batch, o), append(ids, o.id)
		}
		if len(batch) > 0 {
			book.sending(ids, time.Now())
			if _, err := r.add(ctx, batch); err != nil {
				return lr, err
			}
		}
		select {
		case <-ctx.Done():
			return lr, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	loadEnd := time.Now()
	committed, err := r.committed(ctx)
	if err != nil {
		return lr, err
	}
	backlog := r.enqueued - committed
	if _, err := r.waitCommitted(ctx, stderr); err != nil {
		return lr, err
	}
	settled := time.Since(loadEnd)
	// Entries are announced before their events are acknowledged: once all
	// are settled, the last probes are on their way.
	book.wait(ctx, probes, 10*time.Second)
	lr.latencies, lr.lost = book.result(probes)
	if err := book.err(); err != nil {
		return lr, err
	}
	res := result{latencies: lr.latencies}
	fmt.Fprintf(stdout, "  live timeline: %d subscribers, %s probes while %s events/s streamed in for %s: p50 %s ms, p90 %s ms, p99 %s ms, max %s ms; %d lost\n",
		len(subs), thousands(int64(probes)), thousands(int64(lr.rate)), cfg.liveDuration,
		ms(res.percentile(0.5)), ms(res.percentile(0.9)), ms(res.percentile(0.99)), ms(res.max()), lr.lost)
	fmt.Fprintf(stdout, "  backlog when the load stopped: %s entries; all settled %s later\n",
		thousands(backlog), settled.Round(time.Millisecond))
	warnWindowJob(stdout, svc.started, loadEnd)
	return lr, nil
}

// warmUp sends probes until every subscriber has received one: the server
// registers a subscription after the subscribe message, without saying
// when, so only a delivered entry shows it is live. Warm-up probes are not
// measured.
func (r *ingestRun) warmUp(ctx context.Context, book *probeBook, subs []person) error {
	deadline := time.Now().Add(30 * time.Second)
	for book.readyCount() < len(subs) {
		if err := book.err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d subscriptions delivered an entry within 30s", book.readyCount(), len(subs))
		}
		var batch []outgoing
		for i, p := range subs {
			if !book.isReady(i) {
				o, err := r.gen.probe(p, true)
				if err != nil {
					return err
				}
				batch = append(batch, o)
			}
		}
		if _, err := r.add(ctx, batch); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// wsMessage is a graphql-transport-ws message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// subscribe opens a graphql-transport-ws connection authenticated in its
// connection_init payload, as browsers do, and subscribes to the
// customer's timeline.
func subscribe(ctx context.Context, svc *service, customerID string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws://"+svc.addr+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	init := map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + svc.token}}
	if err := wsjson.Write(dctx, c, init); err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("connection_init: %w", err)
	}
	for {
		var m wsMessage
		if err := wsjson.Read(dctx, c, &m); err != nil {
			c.CloseNow()
			return nil, fmt.Errorf("waiting for connection_ack: %w", err)
		}
		if m.Type == "connection_ack" {
			break
		}
		if m.Type != "ping" && m.Type != "pong" {
			c.CloseNow()
			return nil, fmt.Errorf("waiting for connection_ack, got %s %s", m.Type, m.Payload)
		}
	}
	sub := map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": timelineSubscription, "variables": map[string]any{"id": customerID}}}
	if err := wsjson.Write(dctx, c, sub); err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return c, nil
}

// probeBook keeps when each probe was put on a stream and when its
// subscriber received it. It is safe for concurrent use.
type probeBook struct {
	mu        sync.Mutex
	sent      map[string]time.Time
	latencies []time.Duration
	ready     []bool
	nReady    int
	failure   error
}

// newProbeBook returns a book for n subscribers.
func newProbeBook(n int) *probeBook {
	return &probeBook{sent: map[string]time.Time{}, ready: make([]bool, n)}
}

// sending records that the probes are being put on the streams now.
func (b *probeBook) sending(ids []string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		b.sent[id] = at
	}
}

// received records an entry subscriber sub received at a moment; entries
// of events other than measured probes only show that it is live.
func (b *probeBook) received(sub int, eventID string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ready[sub] {
		b.ready[sub] = true
		b.nReady++
	}
	if t, ok := b.sent[eventID]; ok {
		b.latencies = append(b.latencies, at.Sub(t))
		delete(b.sent, eventID)
	}
}

// fail records the first failure of a subscriber.
func (b *probeBook) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failure == nil {
		b.failure = err
	}
}

// err is the first subscriber failure.
func (b *probeBook) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failure
}

// readyCount is how many subscribers have received an entry.
func (b *probeBook) readyCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nReady
}

// isReady reports whether subscriber i has received an entry.
func (b *probeBook) isReady(i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ready[i]
}

// wait returns once n probes were received, or after timeout.
func (b *probeBook) wait(ctx context.Context, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b.mu.Lock()
		got := len(b.latencies)
		b.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// result returns the latencies, sorted, and how many of the n probes sent
// were never received.
func (b *probeBook) result(n int) ([]time.Duration, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.latencies)
	slices.Sort(out)
	return out, n - len(out)
}

// read consumes subscriber sub's messages until ctx ends, answering the
// server's pings.
func (b *probeBook) read(ctx context.Context, c *websocket.Conn, sub int) {
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, c, &m); err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				b.fail(fmt.Errorf("subscriber %d: %w", sub, err))
			}
			return
		}
		at := time.Now()
		switch m.Type {
		case "next":
			var p struct {
				Data struct {
					TimelineUpdated struct {
						Metadata map[string]any `json:"metadata"`
					} `json:"timelineUpdated"`
				} `json:"data"`
				Errors json.RawMessage `json:"errors"`
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil || p.Errors != nil {
				b.fail(fmt.Errorf("subscriber %d: %s", sub, truncate(m.Payload)))
				return
			}
			id, _ := p.Data.TimelineUpdated.Metadata["eventId"].(string)
			b.received(sub, id, at)
		case "ping":
			if err := wsjson.Write(ctx, c, wsMessage{Type: "pong"}); err != nil && ctx.Err() == nil {
				b.fail(fmt.Errorf("subscriber %d: pong: %w", sub, err))
				return
			}
		case "pong":
		default:
			b.fail(fmt.Errorf("subscriber %d: %s %s", sub, m.Type, truncate(m.Payload)))
			return
		}
	}
}
