package schematype_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/rapportcrm/rapport/ent/schematype"
)

// The verbose form of a profile's components as rows written before the
// compact form hold them, and the same numbers in the compact form.
const (
	verbose = `{"engagement": [
  {"name": "recency", "weight": 30, "value": 1.0, "points": 30.00, "raw": 3.0000},
  {"name": "frequency", "weight": 25, "value": 0.5, "points": 12.50, "raw": 4},
  {"name": "monetary", "weight": 20, "value": 0.1852, "points": 3.70, "raw": 50000},
  {"name": "breadth", "weight": 15, "value": 1, "points": 15, "raw": 4},
  {"name": "depth", "weight": 10, "value": 0.5, "points": 5, "raw": 0.5}],
 "churnRisk": [
  {"name": "activityDecline", "weight": 35, "value": 0, "points": 0, "raw": -1},
  {"name": "paymentIssues", "weight": 25, "value": 0, "points": 0},
  {"name": "engagementDrop", "weight": 20, "value": 0, "points": 0},
  {"name": "tierDowngrade", "weight": 10, "value": 0, "points": 0, "raw": 0},
  {"name": "complaints", "weight": 10, "value": 0, "points": 0, "raw": 0}],
 "health": [
  {"name": "usage", "weight": 40, "value": 0.75, "points": 30},
  {"name": "engagement", "weight": 30, "value": 0.7, "points": 21},
  {"name": "financial", "weight": 30, "value": 0.5926, "points": 17.78}]}`
	compact = `[1, 1,30,3, 0.5,12.5,4, 0.1852,3.7,50000, 1,15,4, 0.5,5,0.5,
  0,0,-1, 0,0, 0,0,null, 0,0,0, 0,0,0,
  0.75,30, 0.7,21, 0.5926,17.78]`
)

// TestScoreComponentsForms reads both stored forms to the same components,
// and marshals the verbose one.
func TestScoreComponentsForms(t *testing.T) {
	var v, c schematype.ScoreComponents
	if err := json.Unmarshal([]byte(verbose), &v); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(compact), &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, c) {
		t.Errorf("compact %+v\nverbose %+v", c, v)
	}
	if c.ChurnRisk[2].Raw != nil || c.ChurnRisk[1].Raw != nil || c.Health[0].Raw != nil {
		t.Errorf("raw figures that are none: %+v", c.ChurnRisk)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), `{"engagement":[{"name":"recency","weight":30,"value":1,"points":30,"raw":3}`) {
		t.Errorf("marshalled %s", out)
	}
	var z schematype.ScoreComponents
	if err := json.Unmarshal([]byte("null"), &z); err != nil || z.Engagement != nil {
		t.Errorf("null: %+v %v", z, err)
	}
	for _, bad := range []string{`[]`, `[2, 1]`, `[1, 1, 30]`, `[null]`, `"x"`,
		strings.Replace(compact, "0.75,30", "null,30", 1)} {
		if err := json.Unmarshal([]byte(bad), &z); err == nil {
			t.Errorf("%s: read without error", bad)
		}
	}
}
