package postgres

import "time"

// Statements whose plans the external tests check.
const (
	IdempotencyLookupSQL  = idempotencyLookupSQL
	ShareLockCustomersSQL = shareLockCustomersSQL
	LockBalancesSQL       = lockBalancesSQL
)

// VerifyCheckSQL is the query of the invariant check named name.
func VerifyCheckSQL(name string) string {
	for _, c := range invariantChecks {
		if c.name == name {
			return c.sql
		}
	}
	return ""
}

// ProfileCacheTTL is how long a profile read now would be cached.
func (s *Store) ProfileCacheTTL() time.Duration {
	s.profiles.mu.Lock()
	defer s.profiles.mu.Unlock()
	return s.profiles.ttl
}

// ProfileWatchPID is the backend WatchProfiles listens on; 0 while it does not.
func (s *Store) ProfileWatchPID() uint32 { return s.watch.pid.Load() }

// Statements of the transfer list and the ledger history, for plan checks.
var (
	ListTransfersFirstSQL = listTransfersFirstSQL
	HistoryQuery          = historyQuery
)
