package graph_test

import (
	"testing"

	"github.com/rapportcrm/rapport/graph"
)

// TestEveryRootFieldDeclaresAScope walks the schema: a Query, Mutation or
// Subscription field without @scope would be reachable by any token.
func TestEveryRootFieldDeclaresAScope(t *testing.T) {
	s := graph.NewExecutableSchema(graph.Config{}).Schema()
	checked := 0
	for _, root := range []string{"Query", "Mutation", "Subscription"} {
		def := s.Types[root]
		if def == nil {
			continue
		}
		for _, f := range def.Fields {
			if len(f.Name) > 1 && f.Name[:2] == "__" {
				continue
			}
			checked++
			d := f.Directives.ForName("scope")
			if d == nil || d.Arguments.ForName("requires") == nil {
				t.Errorf("%s.%s declares no @scope(requires: …)", root, f.Name)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d root fields; is the schema loaded?", checked)
	}
}
