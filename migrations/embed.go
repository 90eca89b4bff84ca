// Package migrations holds the forward-only SQL schema, embedded into the binary and
// applied by bun/migrate under its lock (see internal/postgres.Migrate).
package migrations

import "embed"

// FS holds every *.up.sql and *.down.sql file of this folder.
//
//go:embed *.sql
var FS embed.FS
