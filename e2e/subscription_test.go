package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestCustomerUpdatedSubscription subscribes over both websocket
// protocols, authenticated by the connection_init payload, and sees an
// update made over HTTP.
func TestCustomerUpdatedSubscription(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		s := start(t, tg)
		admin := s.token("club-ws", auth.RoleAdmin)
		d := s.ok(admin, createCustomer, map[string]any{"in": map[string]any{"email": "live@club.co.za"}})
		id := str(d, "createCustomer", "id")

		for _, proto := range []struct{ name, start, next string }{
			{"graphql-transport-ws", "subscribe", "next"},
			{"graphql-ws", "start", "data"},
		} {
			t.Run(proto.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{proto.name}})
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer conn.CloseNow()
				send := func(v any) {
					if err := wsjson.Write(ctx, conn, v); err != nil {
						t.Fatalf("write: %v", err)
					}
				}
				read := func(want string) map[string]any {
					for {
						var m map[string]any
						if err := wsjson.Read(ctx, conn, &m); err != nil {
							t.Fatalf("read waiting for %s: %v", want, err)
						}
						switch m["type"] {
						case want:
							return m
						case "ka", "ping", "pong":
							continue
						default:
							t.Fatalf("waiting for %s, got %v", want, m)
						}
					}
				}
				send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + admin}})
				read("connection_ack")
				send(map[string]any{"id": "1", "type": proto.start, "payload": map[string]any{
					"query":     `subscription($id: ID!) { customerUpdated(customerID: $id) { id firstName tags } }`,
					"variables": map[string]any{"id": id},
				}})
				// The subscription is registered asynchronously; retry the
				// change until the event arrives.
				got := make(chan map[string]any, 1)
				go func() { got <- read(proto.next) }()
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case m := <-got:
						b, _ := json.Marshal(m["payload"])
						if !strings.Contains(string(b), `"firstName":"`+proto.name) {
							t.Fatalf("unexpected event %s", b)
						}
						return
					case <-tick.C:
						s.ok(admin, `mutation($id: ID!, $n: String!) { updateCustomer(id: $id, input: {firstName: $n}) { id } }`, map[string]any{"id": id, "n": proto.name})
					case <-ctx.Done():
						t.Fatal("no event within 10s")
					}
				}
			})
		}

		t.Run("unauthenticated", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.CloseNow()
			_ = wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer nope"}})
			var m map[string]any
			err = wsjson.Read(ctx, conn, &m)
			if err == nil && m["type"] == "connection_ack" {
				t.Fatal("a bad token was acknowledged")
			}
		})
	})
}
