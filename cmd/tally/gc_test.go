package main

import (
	"runtime/debug"
	"testing"
)

// tuneGC sets serve's defaults where GOGC and GOMEMLIMIT are unset, and leaves
// what the runtime read from them alone where they are set.
func TestTuneGC(t *testing.T) {
	pct := debug.SetGCPercent(-1)
	debug.SetGCPercent(pct)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
	})
	for _, tc := range []struct {
		name, gogc, gomemlimit string
		runtimePct             int   // what the runtime would have read from the environment
		runtimeLimit           int64 // likewise
		wantPct                int
		wantLimit              int64
	}{
		{"defaults", "", "", 100, 1 << 40, serveGCPercent, serveMemoryLimit},
		{"environment", "150", "1GiB", 150, 1 << 30, 150, 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			t.Setenv("GOMEMLIMIT", tc.gomemlimit)
			debug.SetGCPercent(tc.runtimePct)
			debug.SetMemoryLimit(tc.runtimeLimit)
			if p, l := tuneGC(); p != tc.wantPct || l != tc.wantLimit {
				t.Fatalf("tuneGC() = %d, %d; want %d, %d", p, l, tc.wantPct, tc.wantLimit)
			}
		})
	}
}
