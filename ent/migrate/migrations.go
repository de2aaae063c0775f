package migrate

import "embed"

// Migrations holds the versioned migration files, one directory per dialect
// (postgres, sqlite), generated from the ent schema by `make migration` and
// applied by `rapport migrate` and at `rapport serve` start.
//
//go:embed migrations
var Migrations embed.FS
