package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/rapportcrm/rapport/internal/bus"
	"github.com/rapportcrm/rapport/internal/demo"
	"github.com/rapportcrm/rapport/internal/event"
)

// person is an existing profile the events are about, with the ids the
// upstream systems know it by. Seeded profiles hold only e-mail and phone
// keys, so every event also carries the e-mail: the first event from a
// system resolves by it and links the system's id, later ones resolve by
// that id. The ids are derived from the profile id, so later runs find
// them linked already.
type person struct {
	id, email   string
	sclMemberID int64
	playerID    string
	contactID   string
}

// personOf derives a sampled profile's upstream ids. SCL member ids stay
// below 2⁵⁰, away from the ids new members get (newMemberBase).
func personOf(s sample) person {
	h := func(kind string) uint64 {
		f := fnv.New64a()
		f.Write([]byte(kind))
		f.Write([]byte(s.id))
		return f.Sum64()
	}
	return person{
		id: s.id, email: s.email,
		sclMemberID: int64(h("scl")%(1<<50)) + 1,
		playerID:    fmt.Sprintf("plr_%016x", h("teetime")),
		contactID:   fmt.Sprintf("ct_%016x", h("messaging")),
	}
}

// newMemberBase is where the SCL member ids of the people a run creates
// start: above every derived id, and below 2⁵³ so any JSON reader keeps
// them exact.
const newMemberBase = 1 << 51

// outgoing is one encoded event and the input stream it goes on (without
// the run's key prefix).
type outgoing struct {
	stream string
	id     string
	body   []byte
}

// streamOf maps an event source to its input stream.
var streamOf = map[string]string{"scl": bus.StreamSCL, "teetime": bus.StreamTeeTime, "messaging": bus.StreamMessaging}

// eventKind is one event type of the mix, how often it occurs relative to
// the others, and how its data is made for a person.
type eventKind struct {
	typ, source string
	weight      int
	data        func(g *eventGen, p person, id string) any
}

// eventMix is a club's day as the upstream systems report it: tee-time
// bookings and messaging dominate, payments and membership changes are
// rarer, and about one event in twenty is a new member. The data are the
// payload types of internal/event, so their JSON is exactly what the
// service decodes.
var eventMix = []eventKind{
	{"teetime.booked", "teetime", 22, func(g *eventGen, p person, id string) any {
		at := g.now.Add(time.Duration(1+g.r.IntN(14*24)) * time.Hour).Truncate(10 * time.Minute)
		return event.TeeTimeBooked{Identity: g.teetime(p), BookingID: ptr("bk_" + id), TeeTime: &at,
			CourseName: ptr(pick(g.r, courses)), ClubID: ptr("fairway-hills"), Players: ptr(1 + g.r.IntN(4)), Holes: ptr(pick(g.r, []int{9, 18, 18, 18}))}
	}},
	{"teetime.completed", "teetime", 8, func(g *eventGen, p person, id string) any {
		return event.TeeTimeCompleted{Identity: g.teetime(p), BookingID: ptr("bk_" + id), CourseName: ptr(pick(g.r, courses)),
			Score: ptr(68 + g.r.IntN(45)), Holes: ptr(18)}
	}},
	{"handicap.updated", "teetime", 5, func(g *eventGen, p person, id string) any {
		h := math.Round(g.r.Float64()*360) / 10
		return event.HandicapUpdated{Identity: g.teetime(p), Handicap: &h, PreviousHandicap: ptr(math.Round(h*10+3) / 10)}
	}},
	{"competition.entered", "teetime", 3, func(g *eventGen, p person, id string) any {
		return event.CompetitionEntered{Identity: g.teetime(p), CompetitionID: ptr("cmp_2026_saturday_medal"), CompetitionName: ptr("Saturday Medal")}
	}},
	{"email.opened", "messaging", 18, func(g *eventGen, p person, id string) any {
		return g.opened(p, id)
	}},
	{"email.clicked", "messaging", 6, func(g *eventGen, p person, id string) any {
		return event.EmailClicked{EmailOpened: g.opened(p, id), URL: ptr("https://fairwayhills.co.za/events/open-day")}
	}},
	{"message.sent", "messaging", 5, func(g *eventGen, p person, id string) any {
		return g.message(p, id)
	}},
	{"message.delivered", "messaging", 12, func(g *eventGen, p person, id string) any {
		return event.MessageDelivered{MessageSent: g.message(p, id)}
	}},
	{"payment.received", "scl", 7, func(g *eventGen, p person, id string) any {
		return event.PaymentReceived{Identity: g.scl(p), PaymentID: ptr("pay_" + id), AmountCents: ptr(int64(5_000 + g.r.IntN(400_000))),
			Currency: ptr("ZAR"), Description: ptr(pick(g.r, []string{"Monthly subscription", "Green fees", "Halfway house", "Pro shop"}))}
	}},
	{"member.updated", "scl", 2, func(g *eventGen, p person, id string) any {
		return event.MemberUpdated{MemberCreated: event.MemberCreated{Identity: g.scl(p), MembershipStatus: ptr("ACTIVE")}}
	}},
	{"tier.changed", "scl", 1, func(g *eventGen, p person, id string) any {
		return event.TierChanged{Identity: g.scl(p), FromTier: ptr("Weekday"), ToTier: ptr("Full"), Reason: ptr("upgrade")}
	}},
	{"contactPreference.updated", "messaging", 2, func(g *eventGen, p person, id string) any {
		return event.ContactPreferenceUpdated{Identity: g.messaging(p), EmailOptIn: ptr(g.r.IntN(5) > 0)}
	}},
	// A new member: nobody owns the keys, so the event creates a profile.
	{"member.created", "scl", 5, nil},
}

// courses are the tee-time bookings' courses.
var courses = []string{"Championship", "Woodlands", "Academy Nine"}

// eventGen encodes the events of one run. It is not safe for concurrent
// use.
type eventGen struct {
	r      *rand.Rand
	run    string
	tenant string
	now    time.Time
	people []person
	// names are the demo club's people, whose names and mail domains new
	// members get.
	names []demo.Person
	// total is the sum of eventMix's weights.
	total   int
	seq     int
	created int64
	// checked are the types whose first event was decoded by the service's
	// own decoder, so a malformed payload fails the run before it starts.
	checked map[string]bool
}

// newEventGen returns a generator of events about people for the tenant;
// run prefixes every event id so the run's events can be told apart.
func newEventGen(run, tenant string, people []person, now time.Time) *eventGen {
	g := &eventGen{r: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), run: run, tenant: tenant, now: now,
		people: people, names: demo.People(512, rand.Uint64(), now), checked: map[string]bool{}}
	for _, k := range eventMix {
		g.total += k.weight
	}
	return g
}

// batch encodes n events of the mix about random people.
func (g *eventGen) batch(n int) ([]outgoing, error) {
	out := make([]outgoing, 0, n)
	for range n {
		o, err := g.next()
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// next encodes one event of the mix.
func (g *eventGen) next() (outgoing, error) {
	k := g.kind()
	id := g.nextID("e")
	if k.data == nil {
		return g.encode(id, k.typ, k.source, g.newMember(id))
	}
	p := g.people[g.r.IntN(len(g.people))]
	return g.encode(id, k.typ, k.source, k.data(g, p, id))
}

// probe encodes an email.opened about p whose id says it is a probe of the
// live latency (warm for the ones sent before measuring).
func (g *eventGen) probe(p person, warm bool) (outgoing, error) {
	tag := "p"
	if warm {
		tag = "w"
	}
	id := g.nextID(tag)
	return g.encode(id, "email.opened", "messaging", g.opened(p, id))
}

// kind draws an event type by weight.
func (g *eventGen) kind() eventKind {
	n := g.r.IntN(g.total)
	for _, k := range eventMix {
		if n < k.weight {
			return k
		}
		n -= k.weight
	}
	return eventMix[len(eventMix)-1]
}

// nextID returns a new event id of the run: <run>-<tag><seq>.
func (g *eventGen) nextID(tag string) string {
	g.seq++
	return g.run + "-" + tag + strconv.Itoa(g.seq)
}

// encode wraps data in the envelope upstream services publish, dated in the
// last ten minutes, as live events are.
func (g *eventGen) encode(id, typ, source string, data any) (outgoing, error) {
	d, err := json.Marshal(data)
	if err != nil {
		return outgoing{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	at := g.now.Add(-time.Duration(g.r.Int64N(int64(10 * time.Minute)))).Truncate(time.Millisecond)
	b, err := json.Marshal(event.Envelope{ID: id, Type: typ, Source: source, Tenant: g.tenant, OccurredAt: at, Data: d})
	if err != nil {
		return outgoing{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	if !g.checked[typ] {
		if _, _, err := event.Decode(b); err != nil {
			return outgoing{}, fmt.Errorf("the bench's %s event is invalid: %w (%s)", typ, err, b)
		}
		g.checked[typ] = true
	}
	return outgoing{stream: streamOf[source], id: id, body: b}, nil
}

// newMember is the data of a member.created for someone no profile knows:
// a demo club name, an e-mail and SCL id unique to the run.
func (g *eventGen) newMember(id string) event.MemberCreated {
	n := g.names[g.r.IntN(len(g.names))]
	g.created++
	domain := n.Email[strings.LastIndexByte(n.Email, '@')+1:]
	email := demo.EmailLocal(n.FirstName) + "." + demo.EmailLocal(n.LastName) + "." + id + "@" + domain
	scl := newMemberBase + g.runNumber()<<24 + g.created
	joined := g.now.Truncate(24 * time.Hour)
	return event.MemberCreated{
		Identity: event.Identity{SCLMemberID: &scl, Email: &email},
		Person:   event.Person{FirstName: ptr(n.FirstName), LastName: ptr(n.LastName), HomeClubID: ptr("fairway-hills")},
		// New members start as pending until their first payment clears.
		MembershipTier: ptr(pick(g.r, []string{"Full", "Weekday", "Junior", "Social"})), MembershipStatus: ptr("PENDING"), JoinedAt: &joined,
	}
}

// runNumber is a number below 2²⁶ drawn from the run token, which keeps the
// SCL ids of different runs' new members apart.
func (g *eventGen) runNumber() int64 {
	f := fnv.New64a()
	f.Write([]byte(g.run))
	return int64(f.Sum64() % (1 << 26))
}

// teetime is the identity block of a TeeTime event about p.
func (g *eventGen) teetime(p person) event.Identity {
	return event.Identity{TeetimePlayerID: &p.playerID, Email: &p.email}
}

// messaging is the identity block of a Messaging event about p.
func (g *eventGen) messaging(p person) event.Identity {
	return event.Identity{MessagingContactID: &p.contactID, Email: &p.email}
}

// scl is the identity block of an SCL event about p.
func (g *eventGen) scl(p person) event.Identity {
	return event.Identity{SCLMemberID: &p.sclMemberID, Email: &p.email}
}

// opened is an email.opened about p.
func (g *eventGen) opened(p person, id string) event.EmailOpened {
	return event.EmailOpened{Identity: g.messaging(p), MessageID: ptr("msg_" + id), CampaignID: ptr("newsletter-2026-06"),
		Subject: ptr("Your monthly club newsletter")}
}

// message is a message.sent about p, on e-mail or SMS.
func (g *eventGen) message(p person, id string) event.MessageSent {
	ch, subject := "EMAIL", "Your monthly club newsletter"
	if g.r.IntN(4) == 0 {
		ch, subject = "SMS", "Course closed for maintenance on Monday"
	}
	return event.MessageSent{Identity: g.messaging(p), MessageID: ptr("msg_" + id), Channel: &ch, Subject: &subject,
		CampaignID: ptr("newsletter-2026-06")}
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// pick returns a random element of xs.
func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }
