// Package pubsub fans notifications out to live subscribers (GraphQL
// subscriptions). A subscriber that does not keep up is dropped: a slow
// client must never block the writer that publishes.
package pubsub

import (
	"context"
	"sync"

	"github.com/google/uuid"
)

// Broker is an in-process publish/subscribe hub keyed by topic.
type Broker struct {
	mu   sync.Mutex
	subs map[string]map[*sub]struct{}
	// Buffer is each subscriber's queue length.
	buffer int
}

type sub struct {
	ch     chan []byte
	closed bool
}

// NewBroker returns a broker whose subscribers may fall buffer messages
// behind before they are dropped.
func NewBroker(buffer int) *Broker {
	if buffer <= 0 {
		buffer = 16
	}
	return &Broker{subs: map[string]map[*sub]struct{}{}, buffer: buffer}
}

// Subscribe returns a channel of messages on topic and a function that ends
// the subscription. The channel is closed when the subscription ends, either
// by cancel or because the subscriber fell too far behind.
func (b *Broker) Subscribe(topic string) (<-chan []byte, func()) {
	s := &sub{ch: make(chan []byte, b.buffer)}
	b.mu.Lock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[*sub]struct{}{}
	}
	b.subs[topic][s] = struct{}{}
	b.mu.Unlock()
	return s.ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.remove(topic, s)
	}
}

func (b *Broker) remove(topic string, s *sub) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.ch)
	delete(b.subs[topic], s)
	if len(b.subs[topic]) == 0 {
		delete(b.subs, topic)
	}
}

// Publish sends msg to every subscriber of topic without blocking.
func (b *Broker) Publish(topic string, msg []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs[topic] {
		select {
		case s.ch <- msg:
		default:
			b.remove(topic, s)
		}
	}
}

// Subscribers returns how many subscribers topic has.
func (b *Broker) Subscribers(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs[topic])
}

// CustomerTopic is the topic of changes to one profile.
func CustomerTopic(tenantID, customerID uuid.UUID) string {
	return "customer:" + tenantID.String() + ":" + customerID.String()
}

// CustomerChanged publishes that a profile changed (customer.Notifier).
func (b *Broker) CustomerChanged(_ context.Context, tenantID, customerID uuid.UUID) {
	b.Publish(CustomerTopic(tenantID, customerID), nil)
}
