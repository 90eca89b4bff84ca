package postgres

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
