// Package crashtest holds tests that run the real tally binary and break its
// environment: SIGKILL mid-load (crash_test.go) and a database outage
// (outage_test.go). They need PostgreSQL binaries or DATABASE_URL, like every
// other test; `make soak` runs the crash cycles longer.
package crashtest
