package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// request is one prepared GraphQL call and the profile id its answer must
// name.
type request struct {
	body   []byte
	wantID string
}

// scenario is one kind of call, measured at each client count.
type scenario struct {
	name     string
	requests []request
	// check validates the response's data object.
	check func(data []byte, wantID string) error
}

const (
	customerQuery = `query($id: ID!) { customer(id: $id) { id email displayName membershipTier } }`
	searchQuery   = `query($q: String!) { customers(search: $q, first: 5) { totalCount edges { node { id email } } } }`
	resolveQuery  = `query($e: String) { resolveCustomer(email: $e) { customer { id } matchedBy confidence } }`
)

// scenarios returns the measured calls over the sampled profiles. Bodies are
// encoded up front so that the load generator, which shares the CPUs with
// the service, spends as little as it can per request.
func scenarios(samples []sample, heavy string) []scenario {
	byID := scenario{name: "customer(id)", check: checkCustomer}
	search := scenario{name: "customers(search)", check: checkSearch}
	resolve := scenario{name: "resolveCustomer", check: checkResolve}
	for _, s := range samples {
		byID.requests = append(byID.requests, request{graphQLBody(customerQuery, map[string]any{"id": s.id}), s.id})
		search.requests = append(search.requests, request{graphQLBody(searchQuery, map[string]any{"q": s.email}), s.id})
		resolve.requests = append(resolve.requests, request{graphQLBody(resolveQuery, map[string]any{"e": s.email}), s.id})
	}
	out := []scenario{byID, search, resolve}
	if heavy != "" {
		out = append(out, scenario{name: "timeline", check: checkTimeline,
			requests: []request{{graphQLBody(timelineQuery, map[string]any{"id": heavy}), heavy}}})
	}
	return out
}

// graphQLBody encodes a GraphQL request with its variables.
func graphQLBody(query string, vars map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return b
}

// checkCustomer accepts a customer(id) answer naming the profile.
func checkCustomer(data []byte, wantID string) error {
	var d struct {
		Customer *struct {
			ID string `json:"id"`
		} `json:"customer"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("decode data: %w", err)
	}
	if d.Customer == nil {
		return errors.New("customer is null")
	}
	if d.Customer.ID != wantID {
		return errors.New("customer has another id")
	}
	return nil
}

// checkSearch accepts a search answer whose one match is the profile.
func checkSearch(data []byte, wantID string) error {
	var d struct {
		Customers struct {
			TotalCount int `json:"totalCount"`
			Edges      []struct {
				Node struct {
					ID string `json:"id"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"customers"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("decode data: %w", err)
	}
	c := d.Customers
	if c.TotalCount != 1 {
		return fmt.Errorf("totalCount is %d, want 1", c.TotalCount)
	}
	if len(c.Edges) != 1 || c.Edges[0].Node.ID != wantID {
		return errors.New("the match is not the sampled profile")
	}
	return nil
}

// client posts GraphQL requests to the service.
type client struct {
	http  *http.Client
	url   string
	token string
}

// newClient returns a client of the service at addr sending the token.
func newClient(addr, token string) *client {
	// The default transport keeps 2 idle connections per host: with more
	// clients than that, every request would open a new TCP connection.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 256
	return &client{
		http:  &http.Client{Transport: tr, Timeout: 30 * time.Second},
		url:   "http://" + addr + "/graphql",
		token: token,
	}
}

// post sends one request body and returns the response body of a 200.
func (c *client) post(ctx context.Context, body []byte) ([]byte, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+c.token)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, truncate(b))
	}
	return b, nil
}

// verify checks a GraphQL response: no errors key at all, and data that
// check accepts for the expected profile.
func verify(body []byte, wantID string, check func([]byte, string) error) error {
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	if env.Errors != nil {
		return fmt.Errorf("errors: %s", truncate(env.Errors))
	}
	return check(env.Data, wantID)
}

// truncate shortens a response quoted in a failure message.
func truncate(b []byte) string {
	const limit = 200
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

// worker is one client's measurements.
type worker struct {
	latencies []time.Duration
	errors    int
	failures  map[string]int
}

// maxDistinctFailures bounds the failure messages kept per worker: a
// broken service must not fill memory with one entry per request.
const maxDistinctFailures = 20

// fail records a failed request.
func (w *worker) fail(err error) {
	w.errors++
	msg := err.Error()
	if _, ok := w.failures[msg]; !ok && len(w.failures) >= maxDistinctFailures {
		msg = "(other failures)"
	}
	w.failures[msg]++
}

// measure runs the scenario with n clients, each sending requests back to
// back: first for the warm-up, unrecorded, then for the measured duration.
// A request counts when it starts inside the measured window; failed
// requests count too, in the latencies and in the errors.
func measure(ctx context.Context, c *client, sc scenario, n int, warmup, duration time.Duration) result {
	start := time.Now()
	from, until := start.Add(warmup), start.Add(warmup+duration)
	workers := make([]*worker, n)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{failures: map[string]int{}}
		workers[i] = w
		rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(i)))
		wg.Go(func() {
			for ctx.Err() == nil {
				t := time.Now()
				if !t.Before(until) {
					return
				}
				req := sc.requests[rng.IntN(len(sc.requests))]
				body, err := c.post(ctx, req.body)
				// Latency stops at the last byte: checking the answer is
				// the load generator's cost, not the service's.
				latency := time.Since(t)
				if err == nil {
					err = verify(body, req.wantID, sc.check)
				}
				if t.Before(from) || ctx.Err() != nil {
					continue
				}
				w.latencies = append(w.latencies, latency)
				if err != nil {
					w.fail(err)
				}
			}
		})
	}
	wg.Wait()
	return newResult(sc.name, n, time.Since(from), workers)
}
