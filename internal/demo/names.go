package demo

import "strings"

// nameGroup is one strand of a South African club's membership. Most people
// get a first name and a surname from the same group, so that the data reads
// like a real member list rather than random pairs.
type nameGroup struct {
	weight int
	// british marks the group whose members may come from the UK club
	// system (MCA v1 UK).
	british  bool
	male     []string
	female   []string
	surnames []string
}

var nameGroups = []nameGroup{
	{ // Afrikaans
		weight: 28,
		male: []string{"Johan", "Pieter", "Hendrik", "Francois", "Jaco", "Riaan", "Wikus", "Schalk",
			"Gerhard", "Danie", "Willem", "Stefan", "Ruan", "Morné", "Deon", "Kobus", "Herman",
			"Andries", "Louis", "Christo"},
		female: []string{"Annelie", "Marietjie", "Elmarie", "Charlize", "Liezl", "Anri", "Karien",
			"Mariska", "Elsabé", "Sunette", "Nadia", "Chantelle", "Ronel", "Hanlie", "Lize"},
		surnames: []string{"van der Merwe", "Botha", "Pretorius", "du Plessis", "van Wyk", "Steyn",
			"Nel", "Venter", "Fourie", "Coetzee", "Joubert", "Kruger", "Smit", "le Roux", "du Toit",
			"Visser", "Marais", "Swanepoel", "Erasmus", "Jacobs", "Louw", "Potgieter", "van Zyl",
			"Oosthuizen", "Engelbrecht", "Cronjé", "Viljoen", "Bezuidenhout", "van Niekerk",
			"de Villiers", "Malan", "Hattingh", "Lombard", "Strydom", "Badenhorst"},
	},
	{ // English-speaking South African and British
		weight:  27,
		british: true,
		male: []string{"James", "William", "Michael", "David", "Richard", "Andrew", "Mark", "Simon",
			"Graham", "Stuart", "Nicholas", "Christopher", "Matthew", "Oliver", "Harry", "George",
			"Thomas", "Edward", "Robert", "Peter", "Alistair", "Duncan", "Callum", "Hamish", "Rhys",
			"Owen", "Gareth", "Liam", "Connor", "Ross"},
		female: []string{"Sarah", "Emma", "Catherine", "Elizabeth", "Jane", "Rebecca", "Victoria",
			"Charlotte", "Sophie", "Lucy", "Hannah", "Fiona", "Gillian", "Alison", "Claire", "Kirsty",
			"Megan", "Olivia", "Amelia", "Jessica", "Philippa", "Rachel", "Helen", "Margaret", "Susan"},
		surnames: []string{"Smith", "Jones", "Williams", "Brown", "Taylor", "Davies", "Evans", "Wilson",
			"Thomas", "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White",
			"Edwards", "Hughes", "Green", "Hall", "Wood", "Harris", "Clarke", "Jackson", "Cooper",
			"Morgan", "Baker", "Mitchell", "Campbell", "Stewart", "Fraser", "MacDonald", "Murray",
			"Henderson", "O'Brien", "O'Neill", "Fitzgerald", "Kennedy", "Sinclair", "Armstrong",
			"Harrison", "Bennett", "Lloyd", "Pritchard", "Ferguson"},
	},
	{ // isiZulu
		weight: 10,
		male: []string{"Sipho", "Bongani", "Mandla", "Sibusiso", "Themba", "Lungelo", "Nkosinathi",
			"Sandile", "Musa", "Jabulani", "Mthunzi", "Sifiso"},
		female: []string{"Nomvula", "Thandeka", "Zanele", "Nokuthula", "Sindisiwe", "Lindiwe",
			"Nompumelelo", "Zodwa", "Thuli", "Nandi"},
		surnames: []string{"Dlamini", "Nkosi", "Ndlovu", "Zulu", "Mkhize", "Ngcobo", "Khumalo",
			"Mthembu", "Buthelezi", "Shabalala", "Zungu", "Cele", "Gumede", "Ntuli", "Msomi", "Hadebe",
			"Sithole", "Mabaso", "Nxumalo", "Mkhwanazi"},
	},
	{ // isiXhosa
		weight: 7,
		male: []string{"Lwazi", "Siyabonga", "Luvuyo", "Xolani", "Mzwandile", "Lwando", "Sizwe",
			"Vuyo", "Anele", "Lukhanyo"},
		female: []string{"Nomsa", "Siphokazi", "Noluthando", "Akhona", "Ntombizodwa", "Zintle",
			"Asanda", "Buhle", "Lulama", "Ayanda"},
		surnames: []string{"Ngcukana", "Dyantyi", "Matyila", "Jali", "Ntshona", "Mgijima", "Sigcau",
			"Madikizela", "Mabandla", "Booi", "Qwabe", "Mxenge", "Ntsebeza", "Nkwinti", "Mpofu"},
	},
	{ // Sesotho and Setswana
		weight: 6,
		male:   []string{"Tshepo", "Thabo", "Kagiso", "Tumelo", "Katlego", "Lebogang", "Mpho"},
		female: []string{"Lerato", "Palesa", "Refilwe", "Dineo", "Kgomotso", "Boitumelo", "Naledi"},
		surnames: []string{"Mokoena", "Molefe", "Mofokeng", "Modise", "Motaung", "Letsoalo", "Moloi",
			"Tau", "Phiri", "Radebe", "Sebola", "Masilela"},
	},
	{ // South African Indian
		weight: 12,
		male: []string{"Rajesh", "Pravin", "Vikash", "Ashwin", "Nikhil", "Sanjay", "Kiran", "Devan",
			"Yusuf", "Imraan", "Faheem", "Rohan"},
		female: []string{"Priya", "Anusha", "Kavitha", "Shanthi", "Nisha", "Fatima", "Ayesha",
			"Zaheera", "Reshma", "Sunitha", "Deepika"},
		surnames: []string{"Naidoo", "Pillay", "Govender", "Reddy", "Moodley", "Chetty", "Naicker",
			"Padayachee", "Singh", "Maharaj", "Patel", "Moosa", "Essop", "Khan", "Ebrahim", "Desai",
			"Ramsamy", "Munsamy", "Rajoo", "Bhana"},
	},
	{ // Portuguese (Madeiran and Mozambican families)
		weight: 10,
		male: []string{"João", "Manuel", "Fernando", "Ricardo", "Paulo", "Carlos", "Tiago", "Nuno",
			"Rui", "Miguel"},
		female: []string{"Ana", "Maria", "Isabel", "Catarina", "Inês", "Sofia", "Beatriz", "Rita",
			"Filipa", "Joana"},
		surnames: []string{"da Silva", "Ferreira", "Pereira", "Gonçalves", "Rodrigues", "Fernandes",
			"Santos", "Gomes", "Teixeira", "de Sousa", "Martins", "Nunes", "Correia", "Lopes", "Pinto",
			"Carvalho", "Freitas", "Mendes", "Coelho"},
	},
}

// firstNames returns every first name the generator uses.
func firstNames() []string {
	var out []string
	for _, g := range nameGroups {
		out = append(out, g.male...)
		out = append(out, g.female...)
	}
	return out
}

// lastNames returns every surname the generator uses.
func lastNames() []string {
	var out []string
	for _, g := range nameGroups {
		out = append(out, g.surnames...)
	}
	return out
}

// EmailLocal folds a name to the characters people actually type in an
// e-mail address: lower-case ASCII letters, accents dropped, spaces and
// apostrophes removed ("du Plessis" → "duplessis", "João" → "joao").
func EmailLocal(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case strings.ContainsRune("àáâãäå", r):
			b.WriteByte('a')
		case strings.ContainsRune("èéêë", r):
			b.WriteByte('e')
		case strings.ContainsRune("ìíîï", r):
			b.WriteByte('i')
		case strings.ContainsRune("òóôõö", r):
			b.WriteByte('o')
		case strings.ContainsRune("ùúûü", r):
			b.WriteByte('u')
		case r == 'ç':
			b.WriteByte('c')
		case r == 'ñ':
			b.WriteByte('n')
		}
	}
	return b.String()
}

// weighted is a value with a relative frequency.
type weighted[T any] struct {
	v T
	w int
}

// personalDomains are the mailbox providers members actually use; South
// African ISPs are common among older members.
var personalDomains = []weighted[string]{
	{"gmail.com", 34}, {"outlook.com", 9}, {"hotmail.com", 7}, {"icloud.com", 11},
	{"yahoo.com", 4}, {"mweb.co.za", 9}, {"telkomsa.net", 4}, {"webmail.co.za", 3},
	{"vodamail.co.za", 2}, {"iafrica.com", 2}, {"btinternet.com", 1}, {"live.co.uk", 1},
}

// companyDomains are employers of corporate members and of members who give
// their work address.
var companyDomains = []string{
	"discovery.co.za", "standardbank.co.za", "investec.co.za", "nedbank.co.za", "absa.africa",
	"sanlam.co.za", "oldmutual.com", "sasol.com", "woolworths.co.za", "vodacom.co.za", "mtn.com",
	"bcx.co.za", "pwc.com", "deloitte.co.za", "kpmg.co.za", "shoprite.co.za", "netcare.co.za",
	"mediclinic.co.za", "capitecbank.co.za", "bidvest.co.za",
}

// mobilePrefixes are South African mobile ranges (the two digits after +27).
// The 6x ranges are left to the bulk seeder so demo and seeded numbers never
// collide.
var mobilePrefixes = []weighted[string]{
	{"82", 22}, {"83", 18}, {"72", 14}, {"84", 10}, {"71", 8}, {"73", 6}, {"74", 6},
	{"76", 6}, {"78", 5}, {"79", 3}, {"81", 2},
}

// tiers are the membership categories with their annual subscription in
// rand, which drives lifetime value.
var tiers = []weighted[tier]{
	{tier{"Gold", 32_000}, 20}, {tier{"Silver", 24_000}, 19}, {tier{"Bronze", 15_500}, 8},
	{tier{"Platinum", 46_000}, 7}, {tier{"Junior", 4_200}, 8}, {tier{"Social", 6_500}, 12},
	{tier{"Corporate", 62_000}, 8}, {tier{"Senior", 18_500}, 12}, {tier{"Country", 9_800}, 6},
}

type tier struct {
	name string
	fee  int64
}

// homeClubs are club ids as TeeTime knows them; the first is this club.
var homeClubs = []string{
	"fairway-ridge-gc", "blue-crane-cc", "msinsi-lakes-gc", "kloofzicht-gc", "silver-oaks-cc",
	"windmill-links", "umhlali-heights-gc",
}

var shirtSizes = []string{"S", "M", "M", "L", "L", "L", "XL", "XL", "XXL"}

var teeTimes = []string{"first tee-off", "06:30", "07:00", "07:40", "mid-morning", "after 11:00",
	"afternoon", "twilight"}

var diets = []string{"vegetarian", "halaal", "no shellfish", "gluten-free", "kosher", "vegan",
	"diabetic", "nut allergy"}

var golfBags = []string{"Titleist Players 4", "Ping Hoofer", "Callaway Fairway C", "TaylorMade FlexTech",
	"Sun Mountain C-130", "Cobra Ultralight", "Mizuno BR-D4", "Ogio Fuse"}

var cartPreferences = []string{"walking", "pull trolley", "electric trolley", "golf cart",
	"golf cart", "caddie"}

var staffAuthors = []string{"staff:lindiwe.mokoena", "staff:pieter.venter", "staff:sarah.clarke",
	"staff:rajesh.naidoo", "staff:marco.ferreira"}

// noteBodies are what membership, pro-shop and hospitality staff actually
// write down.
var noteBodies = []string{
	"Prefers early tee times on Saturdays.",
	"Asked about upgrading to Platinum before the AGM.",
	"Left-handed: keep the left-handed rental set aside for guest rounds.",
	"Complained about slow play on the back nine last Sunday; followed up by phone.",
	"Interested in the winter league. Send the entry form when it opens.",
	"Wants to sponsor a hole at the charity day in October.",
	"Has asked twice about the waiting list for a locker in the main change room.",
	"Spouse is keen to join the ladies' section: send the social membership pack.",
	"Debit order bounced in March; sorted out with accounts, no further action.",
	"Recovering from a knee operation; may request a cart exemption.",
	"Regular Wednesday fourball with the same group; likes the 07:40 slot.",
	"Brings corporate guests monthly. Offer the hospitality package.",
	"Do not call before 09:00. Prefers WhatsApp.",
	"Lost ball complaint on 14 resolved: drainage works explained.",
	"Asked the pro for a swing check; booked two lessons.",
	"Handicap card queried with GolfRSA; scores from the away trip now captured.",
	"Very happy with the new halfway house menu; quoted in the newsletter with permission.",
	"Son is in the junior academy; interested in the holiday clinic.",
	"Requested a copy of the club constitution.",
	"Past club captain (2014). Invite to the captains' dinner.",
	"Travelling overseas until month-end; suspend SMS reminders.",
	"Asked to be removed from the wine club mailer only.",
	"Interested in the Corporate membership for three colleagues.",
	"Raised concerns about the bunker on 7 after rain; passed to the greenkeeper.",
	"Birthday lunch booked for 12 guests at the clubhouse.",
	"Enquired about resigning; offered a Country membership instead.",
	"Won the monthly medal in the B division.",
	"Moved house: confirm the new postal address before the annual invoice run.",
	"Keen on the seniors' Tuesday stableford. Add to the group chat.",
	"Gluten intolerance: let the kitchen know for functions.",
}
