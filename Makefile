GO ?= go
# Tests talk to real PostgreSQL and Redis when these are set (see README).
RAPPORT_TEST_DATABASE_URL ?=
RAPPORT_TEST_REDIS_URL ?=
export RAPPORT_TEST_DATABASE_URL RAPPORT_TEST_REDIS_URL

.PHONY: generate test bench lint run migration build check-generated

## build: compile the rapport binary into bin/
build:
	$(GO) build -o bin/rapport ./cmd/rapport

## generate: regenerate ent, entgql and gqlgen code from their sources
generate:
	$(GO) run -mod=mod ./ent/entc.go
	$(GO) tool gqlgen generate --config gqlgen.yml

## migration: write a new versioned migration from the ent schema (make migration name=add_x)
migration:
	@test -n "$(name)" || (echo "usage: make migration name=<what_changed>"; exit 2)
	$(GO) run ./tools/migration -name $(name)

## test: every test on SQLite, and on PostgreSQL and Redis when the RAPPORT_TEST_* URLs are set
test:
	$(GO) test -count=1 -timeout 30m ./...

## bench: Go micro-benchmarks, then seed 1,000,000 profiles on PostgreSQL and measure the API (see README)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
	$(GO) run ./bench

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^ent/')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## check-generated: fail when generated code differs from what its sources produce
check-generated: generate
	@git diff --exit-code -- ent graph resolvers go.mod go.sum || (echo "generated code is out of date: run make generate and commit"; exit 1)

## run: the service with the embedded database and demo data
run:
	$(GO) run ./cmd/rapport serve --demo
