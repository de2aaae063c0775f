package pubsub

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/internal/ctxtime"
)

// Hub is what GraphQL subscriptions and notifiers use: in-process in the
// embedded mode, across replicas through Redis in production.
type Hub interface {
	Publish(ctx context.Context, topic string, msg []byte) error
	Subscribe(topic string) (<-chan []byte, func())
}

var (
	_ Hub = LocalHub{}
	_ Hub = (*RedisHub)(nil)
)

// LocalHub is a Broker seen as a Hub, for the single-process mode.
type LocalHub struct{ Broker *Broker }

// NewLocalHub returns the Hub of an in-process broker.
func NewLocalHub(b *Broker) LocalHub { return LocalHub{Broker: b} }

// Publish sends msg to the broker's subscribers; it cannot fail.
func (h LocalHub) Publish(_ context.Context, topic string, msg []byte) error {
	h.Broker.Publish(topic, msg)
	return nil
}

// Subscribe subscribes to the broker.
// PublishMany delivers several messages to local subscribers.
func (h LocalHub) PublishMany(_ context.Context, msgs []Message) error {
	for _, m := range msgs {
		h.Broker.Publish(m.Topic, m.Body)
	}
	return nil
}

// Message is one message for PublishMany.
type Message struct {
	Topic string
	Body  []byte
}

// Subscribe subscribes to topic on the local broker.
func (h LocalHub) Subscribe(topic string) (<-chan []byte, func()) { return h.Broker.Subscribe(topic) }

// CustomerChanged publishes that a profile changed (customer.Notifier).
func (h LocalHub) CustomerChanged(ctx context.Context, tenantID, customerID uuid.UUID) {
	_ = h.Publish(ctx, CustomerTopic(tenantID, customerID), nil)
}

// DefaultRedisPrefix prefixes topics to make Redis channel names.
const DefaultRedisPrefix = "rapport:ps:"

// RedisHubOptions configures a RedisHub; zero fields take the defaults.
type RedisHubOptions struct {
	// Client is required.
	Client *redis.Client
	// Broker delivers to this process's subscribers (default NewBroker(0)).
	Broker *Broker
	// Prefix of the Redis channels (default "rapport:ps:"); it must not
	// contain glob characters.
	Prefix string
	// HealthCheck is how long the subscription may stay silent before it
	// is pinged, and a ping may go unanswered before it reconnects
	// (default 15s).
	HealthCheck time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// RedisHub fans messages out across replicas: Publish goes to Redis only,
// and each process subscribes, on one connection, to the channels of the
// topics its own subscribers follow, feeding what it hears into the local
// Broker. A process therefore hears its own messages through Redis too,
// exactly once, and subscribers on any replica see every message of their
// topic. A replica hears only the topics someone on it follows: ingestion
// announces every new timeline entry, and with a pattern subscription to
// all of them every replica would receive (and drop) the whole stream.
// Like Redis pub/sub itself it is at most once: messages sent while a
// replica is reconnecting are not replayed to it.
type RedisHub struct {
	o     RedisHubOptions
	log   *slog.Logger
	ready chan struct{}
	once  sync.Once

	mu sync.Mutex
	// ps is the live subscription connection (nil while reconnecting).
	ps *redis.PubSub
	// topics are the topics subscribed to in Redis, each with a channel
	// closed when Redis confirms the subscription.
	topics map[string]chan struct{}
}

// controlChannel keeps the connection subscribed, and so in the mode that
// receives messages, while no topic is followed; nothing publishes on it.
const controlChannel = "_hub"

// subscribeWait bounds how long Subscribe waits for Redis to confirm a new
// topic's subscription (the connection may be down; Run resubscribes).
const subscribeWait = 2 * time.Second

// NewRedisHub checks the options; call Run to start receiving.
func NewRedisHub(o RedisHubOptions) (*RedisHub, error) {
	if o.Client == nil {
		return nil, errors.New("pubsub: RedisHubOptions.Client is required")
	}
	if o.Broker == nil {
		o.Broker = NewBroker(0)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultRedisPrefix
	}
	if strings.ContainsAny(o.Prefix, `*?[]\`) {
		return nil, errors.New("pubsub: Prefix must not contain glob characters")
	}
	if o.HealthCheck <= 0 {
		o.HealthCheck = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &RedisHub{o: o, log: o.Logger.With("component", "pubsub"), ready: make(chan struct{}),
		topics: map[string]chan struct{}{}}, nil
}

// Broker returns the local broker the hub delivers into.
func (h *RedisHub) Broker() *Broker { return h.o.Broker }

// Ready is closed once the hub's first connection to Redis is confirmed;
// from then on a Subscribe returns once its topic's subscription is.
func (h *RedisHub) Ready() <-chan struct{} { return h.ready }

// Publish sends msg to every replica's subscribers of topic, this one's
// included.
func (h *RedisHub) Publish(ctx context.Context, topic string, msg []byte) error {
	return h.o.Client.Publish(ctx, h.o.Prefix+topic, msg).Err()
}

// PublishMany publishes several messages in one pipelined round trip.
func (h *RedisHub) PublishMany(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	pipe := h.o.Client.Pipeline()
	for _, m := range msgs {
		pipe.Publish(ctx, h.o.Prefix+m.Topic, m.Body)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Subscribe subscribes to topic on the local broker, which Run feeds, and,
// for the topic's first local subscriber, to its Redis channel; it returns
// once Redis confirms that (or after subscribeWait). The returned function
// ends the subscription, and the Redis one with the last local subscriber.
func (h *RedisHub) Subscribe(topic string) (<-chan []byte, func()) {
	ch, cancel := h.o.Broker.Subscribe(topic)
	h.mu.Lock()
	confirmed, ok := h.topics[topic]
	if !ok {
		confirmed = make(chan struct{})
		h.topics[topic] = confirmed
		if h.ps != nil {
			// A failed write breaks the connection; Run reconnects and
			// subscribes again to every topic.
			_ = h.ps.Subscribe(context.Background(), h.o.Prefix+topic)
		}
	}
	h.mu.Unlock()
	// Messages published from here on reach the subscriber once Redis has
	// the subscription: wait for it, so a caller that subscribes, then
	// causes an event, hears it.
	t := time.NewTimer(subscribeWait)
	select {
	case <-confirmed:
	case <-t.C:
	}
	t.Stop()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			cancel()
			h.release(topic)
		})
	}
}

// release unsubscribes from topic in Redis when no local subscriber follows
// it any more.
func (h *RedisHub) release(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.topics[topic]; !ok || h.o.Broker.Subscribers(topic) > 0 {
		return
	}
	delete(h.topics, topic)
	if h.ps != nil {
		_ = h.ps.Unsubscribe(context.Background(), h.o.Prefix+topic)
	}
}

// CustomerChanged publishes that a profile changed (customer.Notifier); a
// lost notification only delays a live view, so errors are logged.
func (h *RedisHub) CustomerChanged(ctx context.Context, tenantID, customerID uuid.UUID) {
	if err := h.Publish(ctx, CustomerTopic(tenantID, customerID), nil); err != nil {
		h.log.Warn("pubsub: publish customer change", "err", err)
	}
}

// Run holds the process's pattern subscription until ctx is done, then
// returns nil. On any Redis error it drops the connection, backs off and
// subscribes again.
func (h *RedisHub) Run(ctx context.Context) error {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		healthy, err := h.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if healthy {
			wait = 100 * time.Millisecond
		}
		h.log.Warn("pubsub: redis subscription lost, reconnecting", "err", err, "retry_in", wait)
		if !ctxtime.Sleep(ctx, wait) {
			return nil
		}
		wait = min(2*wait, 10*time.Second)
	}
	return nil
}

// listen subscribes once and forwards messages until the connection fails
// or goes quiet past a ping; healthy reports whether the subscription was
// established at all, which resets the reconnect backoff.
func (h *RedisHub) listen(ctx context.Context) (healthy bool, err error) {
	ps := h.o.Client.Subscribe(ctx, h.o.Prefix+controlChannel)
	defer ps.Close()
	// Closing the subscription is what interrupts a blocked receive when
	// ctx ends; go-redis only honours a context's deadline.
	defer context.AfterFunc(ctx, func() { ps.Close() })()
	h.mu.Lock()
	h.ps = ps
	// The topics followed before the connection (or while it was down),
	// except those whose subscribers are all gone.
	var channels []string
	for topic := range h.topics {
		if h.o.Broker.Subscribers(topic) == 0 {
			delete(h.topics, topic)
			continue
		}
		channels = append(channels, h.o.Prefix+topic)
	}
	if len(channels) > 0 {
		err = ps.Subscribe(ctx, channels...)
	}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.ps = nil
		h.mu.Unlock()
	}()
	if err != nil {
		return false, err
	}
	pinged := false
	for {
		v, err := ps.ReceiveTimeout(ctx, h.o.HealthCheck)
		if err != nil {
			var ne interface{ Timeout() bool }
			if ctx.Err() != nil || !errors.As(err, &ne) || !ne.Timeout() || pinged {
				return healthy, err
			}
			// Quiet is normal; a ping tells quiet from a dead connection.
			if err := ps.Ping(ctx); err != nil {
				return healthy, err
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := v.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			topic := strings.TrimPrefix(m.Channel, h.o.Prefix)
			if topic == controlChannel {
				healthy = true
				h.once.Do(func() { close(h.ready) })
				continue
			}
			h.mu.Lock()
			if c, ok := h.topics[topic]; ok {
				select {
				case <-c:
				default:
					close(c)
				}
			}
			h.mu.Unlock()
		case *redis.Message:
			h.o.Broker.Publish(strings.TrimPrefix(m.Channel, h.o.Prefix), []byte(m.Payload))
		case *redis.Pong:
		}
	}
}
