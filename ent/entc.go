//go:build ignore

// entc.go generates the ent data layer and the entgql GraphQL types.
// Run it from the module root (make generate): the schema paths below must be
// written exactly as in gqlgen.yml.
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("graph/ent.graphqls"),
		entgql.WithConfigPath("gqlgen.yml"),
		entgql.WithWhereInputs(true),
		entgql.WithRelaySpec(true),
		entgql.WithSchemaHook(requireReadScope),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:  "./ent",
		Package: "github.com/rapportcrm/rapport/ent",
		Features: []gen.Feature{
			gen.FeatureVersionedMigration,
			gen.FeatureUpsert,
			gen.FeatureExecQuery,
			gen.FeatureModifier,
			gen.FeatureIntercept,
			gen.FeatureLock,
			gen.FeatureNamedEdges,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// requireReadScope declares the crm:read scope on the Query fields entgql
// writes itself (node, nodes), so every root field of the graph carries one.
func requireReadScope(_ *gen.Graph, s *ast.Schema) error {
	q, ok := s.Types["Query"]
	if !ok {
		return nil
	}
	for _, f := range q.Fields {
		if f.Directives.ForName("scope") != nil {
			continue
		}
		f.Directives = append(f.Directives, &ast.Directive{
			Name: "scope",
			Arguments: ast.ArgumentList{{
				Name:  "requires",
				Value: &ast.Value{Kind: ast.EnumValue, Raw: "CRM_READ"},
			}},
		})
	}
	return nil
}
