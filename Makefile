GO ?= go

.PHONY: generate test bench lint run migration build

## generate: regenerate ent, entgql and gqlgen code from their sources
generate:
	$(GO) run -mod=mod ./ent/entc.go
	$(GO) run github.com/99designs/gqlgen generate --config gqlgen.yml
