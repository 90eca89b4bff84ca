package postgres

// Statements whose plans the external tests check.
const (
	IdempotencyLookupSQL  = idempotencyLookupSQL
	ShareLockCustomersSQL = shareLockCustomersSQL
	LockBalancesSQL       = lockBalancesSQL
)
