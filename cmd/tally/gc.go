package main

import (
	"os"
	"runtime/debug"
)

// The collector's defaults for `tally serve`. The server's live heap is small
// (~15 MB under load) and it allocates fast (~115 MB/s at 3,600 transfers/s, most
// of it pgx's encoded parameters), so at Go's default GOGC=100 it collected about
// eight times a second: 15% of its CPU in the transfers profile. GOGC=400 lets the
// heap grow to five times the live one between collections; the soft limit keeps
// that growth from taking the process past its memory budget when the live heap
// is larger (1,000-transfer batches). Both yield to the standard GOGC and
// GOMEMLIMIT variables. A/B, transfers at 32 clients, alternating 10 s runs on one
// database (docs/scaling.md): 3,766 / 3,489 / 3,401 req/s at the defaults, 4,108 /
// 3,739 / 3,548 with these.
const (
	serveGCPercent   = 400
	serveMemoryLimit = 112 << 20 // bytes: batch RSS 124 MB at 112 MiB, 135–144 MB at 128 MiB
)

// tuneGC applies the defaults above where the environment does not set them and
// reports what is in effect.
func tuneGC() (gcPercent int, memoryLimit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
	gcPercent = debug.SetGCPercent(-1)
	debug.SetGCPercent(gcPercent)
	return gcPercent, debug.SetMemoryLimit(-1)
}
