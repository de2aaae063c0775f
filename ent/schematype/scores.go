package schematype

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ScoreComponent is one weighted input of a score: its normalized value
// (0–1), its weight and the points it contributed, with the raw figure it
// came from, so staff can see why a score is what it is.
type ScoreComponent struct {
	Name   string  `json:"name"`
	Weight int     `json:"weight"`
	Value  float64 `json:"value"`
	Points float64 `json:"points"`
	// Raw is the underlying measurement (days since last activity, opens,
	// ...), when there is one.
	Raw *float64 `json:"raw,omitempty"`
}

// ScoreComponents are the components of a profile's three scores.
//
// The database holds them compactly (see ScoreLayoutVersion): a profile row
// carries them for every one of an organization's profiles, and a full
// score run rewrites them all, so their size is most of what such a run
// writes. Marshalling gives the verbose form (events, API); unmarshalling
// reads either form, so rows written before the compact form stay readable.
type ScoreComponents struct {
	Engagement []ScoreComponent `json:"engagement"`
	ChurnRisk  []ScoreComponent `json:"churnRisk"`
	Health     []ScoreComponent `json:"health"`
}

// ScoreComponentSpec is one component of the stored layout: what the
// numbers stored for it mean.
type ScoreComponentSpec struct {
	// Name is the component's name, e.g. recency.
	Name string
	// Weight is the points the component gives at value 1.
	Weight int
	// HasRaw says whether the component has a raw figure; a figure that
	// exists may still be null for a profile (never active: no recency days).
	HasRaw bool
}

// ScoreLayoutVersion is the first number of the compact form of
// ScoreComponents. Then, for each component of EngagementLayout,
// ChurnRiskLayout and HealthLayout in order: its value, its points and, if
// the component has a raw figure, the figure (or null). Names and weights
// are the layout's; a change to them is a new version, so that rows written
// under the old one still read as they were written.
const ScoreLayoutVersion = 1

// The components of the three scores in stored order; the weights of each
// add up to 100. The scoring package computes them in this order.
var (
	// EngagementLayout: how much, how recently and how broadly the member
	// takes part.
	EngagementLayout = []ScoreComponentSpec{
		{"recency", 30, true},
		{"frequency", 25, true},
		{"monetary", 20, true},
		{"breadth", 15, true},
		{"depth", 10, true},
	}
	// ChurnRiskLayout: the warning signs of spec §7.
	ChurnRiskLayout = []ScoreComponentSpec{
		{"activityDecline", 35, true},
		{"paymentIssues", 25, false},
		{"engagementDrop", 20, true},
		{"tierDowngrade", 10, true},
		{"complaints", 10, true},
	}
	// HealthLayout: the health-score prompt's usage, engagement and
	// financial indicators.
	HealthLayout = []ScoreComponentSpec{
		{"usage", 40, false},
		{"engagement", 30, false},
		{"financial", 30, false},
	}
)

// compactLen is the length of a compact array of ScoreLayoutVersion.
var compactLen = func() int {
	n := 1
	for _, l := range [][]ScoreComponentSpec{EngagementLayout, ChurnRiskLayout, HealthLayout} {
		for _, c := range l {
			n += 2
			if c.HasRaw {
				n++
			}
		}
	}
	return n
}()

// UnmarshalJSON reads the compact array or the verbose object.
func (c *ScoreComponents) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		return nil
	case b[0] == '{':
		type verbose ScoreComponents // without the methods: no recursion
		return json.Unmarshal(b, (*verbose)(c))
	}
	var nums []*float64
	if err := json.Unmarshal(b, &nums); err != nil {
		return fmt.Errorf("score components: %w", err)
	}
	if len(nums) == 0 || nums[0] == nil || *nums[0] != ScoreLayoutVersion {
		return fmt.Errorf("score components: unknown layout %.20s", b)
	}
	if len(nums) != compactLen {
		return fmt.Errorf("score components: %d numbers, want %d", len(nums), compactLen)
	}
	i := 1
	next := func() *float64 { i++; return nums[i-1] }
	num := func() (float64, error) {
		if v := next(); v != nil {
			return *v, nil
		}
		return 0, fmt.Errorf("score components: null at %d", i-1)
	}
	read := func(layout []ScoreComponentSpec) ([]ScoreComponent, error) {
		out := make([]ScoreComponent, len(layout))
		for k, spec := range layout {
			out[k] = ScoreComponent{Name: spec.Name, Weight: spec.Weight}
			var err error
			if out[k].Value, err = num(); err != nil {
				return nil, err
			}
			if out[k].Points, err = num(); err != nil {
				return nil, err
			}
			if spec.HasRaw {
				out[k].Raw = next()
			}
		}
		return out, nil
	}
	var (
		v   ScoreComponents
		err error
	)
	if v.Engagement, err = read(EngagementLayout); err != nil {
		return err
	}
	if v.ChurnRisk, err = read(ChurnRiskLayout); err != nil {
		return err
	}
	if v.Health, err = read(HealthLayout); err != nil {
		return err
	}
	*c = v
	return nil
}
