package postgres

import "context"

// AppRole is the role a business's write transaction acts as: it owns no table and
// cannot bypass row-level security, so the tenant_isolation policy of every
// tenant table (migration 20261122001100) limits it to the rows of the business in
// app.business_id.
const AppRole = "tally_app"

// ActAs confines the rest of the transaction to one business, as the second wall
// behind every query's own business_id filter (DESIGN.md §4): it sets
// app.business_id and switches to AppRole, both transaction-local (SET LOCAL), so
// nothing leaks to the next user of the pooled connection. Where the role was not
// set up (the migrating role may not create roles) only the setting is made. It
// costs one round trip. Call it first, before any query of the transaction;
// operator work (rails, workers, verify) does not call it.
func (t *Tx) ActAs(ctx context.Context, business string) error {
	_, err := t.tx.Tx.ExecContext(ctx, `SELECT set_config('app.business_id', $1, true),
		CASE WHEN pg_has_role($2, 'MEMBER') AND has_schema_privilege($2, current_schema(), 'USAGE')
			THEN set_config('role', $2, true) END`, business, AppRole)
	return translate(err)
}
