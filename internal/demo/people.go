// Package demo generates a realistic golf club membership and loads it into an
// organization, so staff trying Rapport can run real queries on day one.
package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/schematype"
)

// Person is one generated member, guest or prospect with everything a
// customer profile holds.
type Person struct {
	// FirstName is the given name, possibly with accents ("Morné").
	FirstName string
	// LastName keeps lower-case particles ("van der Merwe").
	LastName string
	// DisplayName is the name staff see, sometimes with a title.
	DisplayName string
	// Email is lower-case, normalized and unique within one People call.
	Email string
	// Phone is an E.164 South African mobile number, unique within one People call.
	Phone string
	// AuthUserID is set for people who use the club app.
	AuthUserID *string
	// SclMemberID is the SCL membership id; most members have one.
	SclMemberID *int64
	// TeetimePlayerID is set for people who have booked tee times.
	TeetimePlayerID *string
	// MessagingContactID is set for people the Messaging service knows.
	MessagingContactID *string
	// ExternalIDs hold legacy MCA v1 ids and GolfRSA ids.
	ExternalIDs schematype.ExternalIDs
	// Status is the CRM status.
	Status customerprofile.Status
	// LifecycleStage follows from the membership status and activity.
	LifecycleStage customerprofile.LifecycleStage
	// Tags are never nil.
	Tags []string
	// EngagementScore is 0–100, nil when not scored yet.
	EngagementScore *int
	// ChurnRiskScore is 0–100, nil when not scored yet.
	ChurnRiskScore *int
	// LifetimeValue is in cents (ZAR).
	LifetimeValue int64
	// LastActivityAt is before the now given to People; nil for people never seen.
	LastActivityAt *time.Time
	// ActivityCount30d counts activities in the 30 days before now.
	ActivityCount30d int
	// BookingCount30d counts tee-time bookings in the 30 days before now.
	BookingCount30d int
	// Handicap is the GolfRSA handicap index; nil for people who do not play.
	Handicap *float64
	// HomeClubID is the TeeTime id of the golfer's home club.
	HomeClubID *string
	// MembershipTier is nil for guests and prospects.
	MembershipTier *string
	// MembershipStatus is nil for guests and prospects.
	MembershipStatus *string
	// EmailOptIn is the e-mail marketing consent.
	EmailOptIn bool
	// SmsOptIn is the SMS marketing consent.
	SmsOptIn bool
	// PushOptIn is the app push consent.
	PushOptIn bool
	// WhatsappOptIn is the WhatsApp consent.
	WhatsappOptIn bool
	// Attributes are the club's custom fields; their set varies by person.
	Attributes map[string]any
	// Notes are staff notes, oldest first.
	Notes []Note
}

// Note is a staff note on a person.
type Note struct {
	// Body is the note text.
	Body string
	// Pinned notes are shown first.
	Pinned bool
	// AuthorID is the staff user who wrote it.
	AuthorID string
	// CreatedAt is when it was written, before the now given to People.
	CreatedAt time.Time
}

// Seed is the seed Ensure generates people with, so every demo organization
// holds the same club.
const Seed uint64 = 0x9e3779b97f4a7c15

// People returns n people generated from seed, with times relative to now.
// The same arguments always give the same people, and People(m, seed, now)
// is a prefix of People(n, seed, now) for m < n.
func People(n int, seed uint64, now time.Time) []Person {
	g := newGenerator(seed, now)
	out := make([]Person, 0, max(n, 0))
	for i := range n {
		out = append(out, g.person(i))
	}
	return out
}

type role int

const (
	member role = iota
	guest
	prospect
)

type generator struct {
	r       *rand.Rand
	now     time.Time
	emails  map[string]bool
	phones  map[string]bool
	scl     int64
	lockers []int
}

func newGenerator(seed uint64, now time.Time) *generator {
	r := rand.New(rand.NewPCG(seed, seed^0x5deece66d))
	return &generator{
		r:      r,
		now:    now.UTC(),
		emails: map[string]bool{},
		phones: map[string]bool{},
		scl:    10_000,
		// Lockers are handed out without replacement, like the real ones.
		lockers: r.Perm(1200),
	}
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func pickWeighted[T any](r *rand.Rand, xs []weighted[T]) T {
	total := 0
	for _, x := range xs {
		total += x.w
	}
	n := r.IntN(total)
	for _, x := range xs {
		if n < x.w {
			return x.v
		}
		n -= x.w
	}
	return xs[len(xs)-1].v
}

func (g *generator) chance(pct int) bool { return g.r.IntN(100) < pct }

func ptr[T any](v T) *T { return &v }

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

func (g *generator) group() nameGroup {
	total := 0
	for _, ng := range nameGroups {
		total += ng.weight
	}
	n := g.r.IntN(total)
	for _, ng := range nameGroups {
		if n < ng.weight {
			return ng
		}
		n -= ng.weight
	}
	return nameGroups[0]
}

func firstName(r *rand.Rand, ng nameGroup, female bool) string {
	if female {
		return pick(r, ng.female)
	}
	return pick(r, ng.male)
}

// person generates person i. It draws from the generator's one random
// stream in a fixed order, which is what makes the output deterministic.
func (g *generator) person(i int) Person {
	r := g.r
	ng := g.group()
	female := g.chance(38)
	// Names cross cultural lines in about one family in seven.
	fg := ng
	if g.chance(14) {
		fg = g.group()
	}
	p := Person{FirstName: firstName(r, fg, female), LastName: pick(r, ng.surnames)}
	p.DisplayName = p.FirstName + " " + p.LastName
	if g.chance(4) {
		p.DisplayName = pick(r, []string{"Dr ", "Prof ", "Adv "}) + p.DisplayName
	}

	rl := member
	switch n := r.IntN(100); {
	case n >= 94:
		rl = prospect
	case n >= 85:
		rl = guest
	}

	var (
		t          tier
		memberDays int
		mstatus    string
		activity   float64 // latent 0..1 activity level every metric follows
		golfer     = true
		tags       []string
	)
	switch rl {
	case member:
		t = pickWeighted(r, tiers)
		p.MembershipTier = ptr(t.name)
		mstatus = pickWeighted(r, []weighted[string]{
			{"ACTIVE", 80}, {"PENDING", 4}, {"SUSPENDED", 3}, {"LAPSED", 7}, {"RESIGNED", 6},
		})
		p.MembershipStatus = ptr(mstatus)
		years := min(int(r.ExpFloat64()*7), 40)
		switch t.name {
		case "Junior":
			years = r.IntN(9)
		case "Senior":
			years = 10 + r.IntN(30)
		}
		memberDays = years*365 + r.IntN(365)
		if mstatus == "PENDING" {
			memberDays = r.IntN(30)
		}
		golfer = t.name != "Social"
		switch mstatus {
		case "ACTIVE":
			activity = math.Pow(r.Float64(), 0.8)
		case "PENDING":
			activity = 0.2 + 0.4*r.Float64()
		case "SUSPENDED", "LAPSED":
			activity = 0.05 + 0.2*r.Float64()
		default:
			activity = 0.05 * r.Float64()
		}
	case guest:
		activity = 0.1 + 0.5*r.Float64()
		golfer = g.chance(92)
	case prospect:
		activity = 0.3 * r.Float64()
		golfer = g.chance(70)
	}

	// E-mail: corporate members use their employer's address, and so do
	// some others.
	domain := pickWeighted(r, personalDomains)
	if t.name == "Corporate" || g.chance(8) {
		domain = pick(r, companyDomains)
	}
	p.Email = g.email(p.FirstName, p.LastName, domain)
	p.Phone = g.phone()

	// Lifecycle and CRM status follow membership.
	joined := g.now.AddDate(0, 0, -memberDays)
	switch rl {
	case guest:
		p.LifecycleStage = customerprofile.LifecycleStageGUEST
		p.Status = customerprofile.StatusACTIVE
	case prospect:
		p.LifecycleStage = customerprofile.LifecycleStagePROSPECT
		p.Status = customerprofile.StatusACTIVE
	default:
		switch mstatus {
		case "PENDING":
			p.LifecycleStage, p.Status = customerprofile.LifecycleStageNEW_MEMBER, customerprofile.StatusACTIVE
		case "ACTIVE":
			p.Status = customerprofile.StatusACTIVE
			switch {
			case memberDays < 365:
				p.LifecycleStage = customerprofile.LifecycleStageNEW_MEMBER
			case activity < 0.15:
				p.LifecycleStage = customerprofile.LifecycleStageAT_RISK
			default:
				p.LifecycleStage = customerprofile.LifecycleStageACTIVE_MEMBER
			}
		case "SUSPENDED":
			p.LifecycleStage, p.Status = customerprofile.LifecycleStageAT_RISK, customerprofile.StatusACTIVE
			if g.chance(30) {
				p.Status = customerprofile.StatusBLOCKED
			}
		case "LAPSED":
			p.LifecycleStage, p.Status = customerprofile.LifecycleStageLAPSED, customerprofile.StatusINACTIVE
		default:
			p.LifecycleStage, p.Status = customerprofile.LifecycleStageFORMER_MEMBER, customerprofile.StatusINACTIVE
			if g.chance(40) {
				p.Status = customerprofile.StatusARCHIVED
			}
		}
	}

	// Cross-service and legacy ids. Each is built from i plus a random
	// offset below the stride, so ids look irregular yet never repeat.
	appUser := map[role]int{member: 60, guest: 20, prospect: 10}[rl]
	if t.name == "Senior" {
		appUser = 35
	}
	if g.chance(appUser) {
		p.AuthUserID = ptr(fmt.Sprintf("auth0|%08x%016x", i, r.Uint64()))
	}
	if rl == member && g.chance(96) {
		g.scl += 1 + int64(r.IntN(7))
		p.SclMemberID = ptr(g.scl)
	}
	if (golfer && (rl != prospect || g.chance(40))) || (!golfer && g.chance(10)) {
		p.TeetimePlayerID = ptr(fmt.Sprintf("plr_%07d", 100_000+i*10+r.IntN(10)))
	}
	if rl != prospect || g.chance(50) {
		p.MessagingContactID = ptr(fmt.Sprintf("ct_%05x%011x", i, r.Uint64()>>20))
	}
	if rl == member && memberDays > 5*365 && g.chance(60) {
		p.ExternalIDs.McaV1ZaID = ptr(fmt.Sprintf("ZA%07d", 1_000_000+i*9+r.IntN(9)))
	}
	if rl == member && ng.british && g.chance(8) {
		p.ExternalIDs.McaV1UkID = ptr(fmt.Sprintf("UK%06d", 200_000+i*7+r.IntN(7)))
	}

	// Golf.
	if golfer {
		mean, sd := 15.0, 7.0
		switch t.name {
		case "Junior":
			mean, sd = 20, 9
		case "Senior":
			mean, sd = 18, 6
		}
		h := math.Round(min(max(mean+sd*r.NormFloat64(), -2), 36)*10) / 10
		p.Handicap = &h
		if g.chance(90) {
			p.ExternalIDs.GolfRsaID = ptr(strconv.Itoa(1_000_000_000 + i*101 + r.IntN(101)))
		}
		if rl == member {
			p.HomeClubID = ptr(homeClubs[0])
		} else {
			p.HomeClubID = ptr(pick(r, homeClubs[1:]))
		}
	}

	// Activity: one latent level drives counts, recency and scores so that
	// the numbers agree with each other.
	if rl != prospect || g.chance(70) {
		p.ActivityCount30d = int(math.Round(activity*28)) + r.IntN(3)
		if mstatus == "LAPSED" || mstatus == "RESIGNED" {
			p.ActivityCount30d = 0
		}
		if golfer && p.ActivityCount30d > 0 {
			p.BookingCount30d = min(int(math.Round(activity*10*r.Float64()*1.4)), p.ActivityCount30d)
		}
		var ago time.Duration
		if p.ActivityCount30d > 0 {
			ago = time.Duration(r.Float64() * (1.05 - activity) * 30 * float64(24*time.Hour))
		} else {
			maxDays := map[string]int{"LAPSED": 400, "RESIGNED": 900}[mstatus]
			if maxDays == 0 {
				maxDays = 150
			}
			ago = time.Duration(31+r.IntN(maxDays-30)) * 24 * time.Hour
		}
		last := g.now.Add(-ago - time.Duration(r.IntN(3600))*time.Second).Truncate(time.Second)
		p.LastActivityAt = &last
	}
	if rl == member || g.chance(70) {
		e := clamp(int(math.Round(activity*100+r.NormFloat64()*8)), 0, 100)
		penalty := map[string]float64{"SUSPENDED": 20, "LAPSED": 25, "RESIGNED": 30}[mstatus]
		c := clamp(int(math.Round((1-activity)*80+penalty+r.NormFloat64()*10)), 0, 100)
		p.EngagementScore, p.ChurnRiskScore = &e, &c
	}

	// Value: subscriptions over the years of membership plus spend at the
	// bar, halfway house and pro shop; guests pay green fees.
	switch rl {
	case member:
		years := float64(memberDays) / 365
		spend := float64(r.IntN(int(t.fee)/2+1)) * (0.5 + activity)
		p.LifetimeValue = int64((float64(t.fee)+spend)*years*100) + int64(r.IntN(50_000))*100
	case guest:
		p.LifetimeValue = int64(1+r.IntN(12)) * int64(650+r.IntN(900)) * 100
	}

	// Consent.
	p.EmailOptIn = g.chance(80)
	p.SmsOptIn = g.chance(62)
	p.PushOptIn = p.AuthUserID != nil && g.chance(70)
	p.WhatsappOptIn = g.chance(48)
	if mstatus == "RESIGNED" {
		p.EmailOptIn, p.SmsOptIn, p.WhatsappOptIn = p.EmailOptIn && g.chance(30), false, false
	}

	// Tags, in a fixed order so equal people compare equal.
	hcp := 99.0
	if p.Handicap != nil {
		hcp = *p.Handicap
	}
	tagIf := func(cond bool, tag string) {
		if cond {
			tags = append(tags, tag)
		}
	}
	tagIf((t.name == "Platinum" && g.chance(50)) || (rl == member && g.chance(2)), "vip")
	tagIf(mstatus == "ACTIVE" && memberDays > 8*365 && g.chance(3), "board-member")
	tagIf(t.name == "Junior", "junior-golfer")
	tagIf(female && golfer && rl == member && g.chance(65), "ladies-section")
	tagIf(t.name == "Senior" || (rl == member && memberDays > 25*365 && g.chance(30)), "seniors")
	// Competition regulars and social golfers exclude each other.
	competes := golfer && hcp < 18 && activity > 0.5 && g.chance(60)
	tagIf(golfer && !competes && g.chance(30), "social-golfer")
	tagIf(competes, "competition-regular")
	tagIf(rl == member && joined.Year() == g.now.Year(), fmt.Sprintf("new-%d", g.now.Year()))
	tagIf(t.name == "Corporate", "corporate")
	tagIf((mstatus == "LAPSED" || mstatus == "SUSPENDED") && g.chance(80), "lapsed-payer")
	if tags == nil {
		tags = []string{}
	}
	p.Tags = tags

	p.Attributes = g.attributes(p, rl, golfer, female, fg, joined)
	p.Notes = g.notes()
	return p
}

// email returns an unused address in one of the shapes people pick.
func (g *generator) email(first, last, domain string) string {
	r := g.r
	f, l := EmailLocal(first), EmailLocal(last)
	yy := fmt.Sprintf("%02d", (50+r.IntN(58))%100)
	var local string
	switch r.IntN(10) {
	case 0, 1, 2:
		local = f + "." + l
	case 3:
		local = f + l
	case 4:
		local = f[:1] + "." + l
	case 5:
		local = f + "_" + l
	case 6:
		local = f + "." + l + yy
	case 7:
		local = f + yy
	case 8:
		local = l + "." + f
	default:
		local = f + l[:1] + strconv.Itoa(1+r.IntN(99))
	}
	addr := local + "@" + domain
	for k := 2; g.emails[addr]; k++ {
		addr = local + strconv.Itoa(k) + "@" + domain
	}
	g.emails[addr] = true
	return addr
}

// phone returns an unused South African mobile number in E.164.
func (g *generator) phone() string {
	for {
		n := fmt.Sprintf("+27%s%07d", pickWeighted(g.r, mobilePrefixes), g.r.IntN(10_000_000))
		if !g.phones[n] {
			g.phones[n] = true
			return n
		}
	}
}

// attributes returns the club's custom fields for a person; like real data,
// each field is filled for some people only.
func (g *generator) attributes(p Person, rl role, golfer, female bool, ng nameGroup, joined time.Time) map[string]any {
	r := g.r
	a := map[string]any{}
	switch rl {
	case member:
		a["memberSince"] = joined.Format(time.DateOnly)
		if golfer && len(g.lockers) > 0 && g.chance(35) {
			a["lockerNumber"] = g.lockers[0] + 1
			g.lockers = g.lockers[1:]
		}
	case guest:
		a["guestRounds"] = 1 + r.IntN(12)
	case prospect:
		a["enquirySource"] = pick(r, []string{"website", "open day", "member referral", "corporate golf day", "walk-in"})
	}
	if g.chance(40) {
		a["shirtSize"] = pick(r, shirtSizes)
	}
	if golfer && g.chance(45) {
		a["preferredTeeTime"] = pick(r, teeTimes)
	}
	if g.chance(12) {
		a["dietary"] = pick(r, diets)
	}
	if p.MembershipTier == nil || *p.MembershipTier != "Junior" {
		if g.chance(30) {
			a["spouseName"] = firstName(r, ng, !female)
		}
	}
	if golfer && g.chance(30) {
		a["golfBag"] = pick(r, golfBags)
	}
	if golfer && g.chance(50) {
		a["cartPreference"] = pick(r, cartPreferences)
	}
	return a
}

// notes returns staff notes for about one person in five.
func (g *generator) notes() []Note {
	r := g.r
	if !g.chance(20) {
		return nil
	}
	n := 1 + r.IntN(3)
	bodies := r.Perm(len(noteBodies))[:n]
	ages := make([]int, n)
	for i := range ages {
		ages[i] = 1 + r.IntN(700)
	}
	// Oldest first: sort the ages descending.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && ages[j] > ages[j-1]; j-- {
			ages[j], ages[j-1] = ages[j-1], ages[j]
		}
	}
	out := make([]Note, n)
	for i := range out {
		at := g.now.AddDate(0, 0, -ages[i]).Add(-time.Duration(r.IntN(36000)) * time.Second).Truncate(time.Second)
		out[i] = Note{
			Body:      noteBodies[bodies[i]],
			Pinned:    g.chance(20),
			AuthorID:  pick(r, staffAuthors),
			CreatedAt: at,
		}
	}
	return out
}
