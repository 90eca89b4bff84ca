package main

import (
	"runtime/debug"
	"testing"
)

// restoreGC puts the process's collector settings back after a test.
func restoreGC(t *testing.T) {
	pct := debug.SetGCPercent(-1)
	debug.SetGCPercent(pct)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
	})
}

func TestTuneGCDefaults(t *testing.T) {
	restoreGC(t)
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(1 << 40)
	pct, limit := tuneGC()
	if pct != serveGCPercent || limit != serveMemoryLimit {
		t.Fatalf("tuneGC() = %d, %d; want %d, %d", pct, limit, serveGCPercent, serveMemoryLimit)
	}
}

// The standard variables win: the runtime read them at start, tuneGC leaves them be.
func TestTuneGCKeepsTheEnvironments(t *testing.T) {
	restoreGC(t)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(1 << 30)
	pct, limit := tuneGC()
	if pct != 150 || limit != 1<<30 {
		t.Fatalf("tuneGC() = %d, %d; want 150, %d", pct, limit, 1<<30)
	}
}
