package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/tallyhq/tally/ledger"
)

// lockBalancesSQL locks the balance rows of the given keys in the order given (the
// global (account, shard) order, as recordSQL's upsert) and returns their sums:
// one primary-key lookup per key (see idempotencyLookupSQL). Keys without a row
// are absent.
const lockBalancesSQL = `SELECT d.ord, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending
	FROM unnest($2::text[], $3::text[], $4::text[], $5::int2[]) WITH ORDINALITY AS d(owner_id, purpose, currency, shard, ord)
	CROSS JOIN LATERAL (SELECT debits_posted, credits_posted, debits_pending, credits_pending FROM ledger_balances
		WHERE business_id = $1 AND owner_id = d.owner_id AND purpose = d.purpose AND currency = d.currency AND shard = d.shard
		FOR UPDATE) b
	ORDER BY d.ord`

// createBalancesSQL creates missing balance rows with zero sums.
const createBalancesSQL = `INSERT INTO ledger_balances (business_id, owner_id, purpose, currency, shard, normal_side, may_go_negative)
	SELECT $1, d.owner_id, d.purpose, d.currency, d.shard, d.normal_side, d.may_go_negative
	FROM unnest($2::text[], $3::text[], $4::text[], $5::int2[], $6::text[], $7::bool[]) WITH ORDINALITY
		AS d(owner_id, purpose, currency, shard, normal_side, may_go_negative, ord)
	ORDER BY d.ord
	ON CONFLICT DO NOTHING`

// recordManySQL writes what RecordMany decided: every balance row's summed
// deltas (rows it holds locked), then the entries and their lines. The row
// trigger ledger_balances_guard still checks every row it changes.
const recordManySQL = `WITH bal AS (
	UPDATE ledger_balances b SET debits_posted = b.debits_posted + d.dp, credits_posted = b.credits_posted + d.cp,
		debits_pending = b.debits_pending + d.dpend, credits_pending = b.credits_pending + d.cpend
	FROM unnest($2::text[], $3::text[], $4::text[], $5::int2[], $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[])
		AS d(owner_id, purpose, currency, shard, dp, cp, dpend, cpend)
	WHERE b.business_id = $1 AND b.owner_id = d.owner_id AND b.purpose = d.purpose AND b.currency = d.currency
		AND b.shard = d.shard
	RETURNING 1
), e AS (
	SELECT * FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::text[])
		AS e(id, kind, resource_id, description, created_at, phase)
), ent AS (
	INSERT INTO ledger_entries (business_id, id, kind, phase, resource_id, description, created_at)
	SELECT $1, e.id, e.kind, e.phase, e.resource_id, e.description, e.created_at FROM e
), hold AS (
	INSERT INTO ledger_holds (business_id, entry_id, created_at, updated_at)
	SELECT $1, e.id, e.created_at, e.created_at FROM e WHERE e.phase = 'pending'
), lin AS (
	INSERT INTO ledger_lines (business_id, id, entry_id, posting, owner_id, purpose, currency, shard, type, direction,
		phase, amount, available_after, visible, resource_id, description, created_at)
	SELECT $1, l.id, l.entry_id, l.posting, l.owner_id, l.purpose, l.currency, l.shard, l.type, l.direction, l.phase,
		l.amount, l.available_after, l.visible, l.resource_id, l.description, l.created_at
	FROM unnest($16::text[], $17::text[], $18::int2[], $19::text[], $20::text[], $21::text[], $22::int2[], $23::text[],
		$24::text[], $25::numeric[], $26::numeric[], $27::bool[], $28::text[], $29::text[], $30::timestamptz[], $31::text[])
		AS l(id, entry_id, posting, owner_id, purpose, currency, shard, type, direction, amount, available_after, visible,
			resource_id, description, created_at, phase)
)
SELECT count(*) FROM bal`

// RecordMany applies posted and pending entries of one business in order, as a
// set, in the transaction: the batch form of Record (the TigerBeetle lesson: a few
// round trips for many entries, not one each). A pending entry opens its hold;
// ending a hold stays with PostHold/VoidHold. It locks every balance row the
// entries touch in the global (account, shard) order, creating missing rows;
// decides with the locked sums, entry by entry and exactly as Record's guards
// would, which entries fit (one that would overdraw a guarded account fails alone
// with insufficient_funds, and the entries after it see the balances without it);
// and writes the survivors' balance changes, entries, holds and lines with one
// statement. errs[i] is entry i's refusal (validation or funds); lines[i] its
// lines when it was recorded. err is a database failure: the transaction is then
// unusable. Round trips: two, three when a balance row is new, whatever the count.
func (t *Tx) RecordMany(ctx context.Context, es []ledger.Entry) (lines [][]Line, errs []error, err error) {
	lines, errs = make([][]Line, len(es)), make([]error, len(es))
	if len(es) == 0 {
		return lines, errs, nil
	}
	business := es[0].Business
	deltas := make([]map[shardKey]ledger.Balance, len(es))
	seen := map[shardKey]bool{}
	var keys []shardKey
	for i := range es {
		e := &es[i]
		if e.Business != business || (e.Phase != ledger.PhasePosted && e.Phase != ledger.PhasePending) || e.PendingID != "" {
			return nil, nil, fmt.Errorf("postgres: RecordMany takes posted and pending entries of one business (entry %d)", i)
		}
		if errs[i] = e.Validate(); errs[i] != nil {
			continue
		}
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now()
		}
		lines[i], deltas[i] = entryLines(*e)
		for k := range deltas[i] {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sortShardKeys(keys)
	cur, err := t.lockBalances(ctx, business, keys)
	if err != nil {
		return nil, nil, err
	}

	// Decide, in order, as Record would one statement at a time.
	total := map[shardKey]ledger.Balance{}
	for i := range es {
		if errs[i] != nil {
			continue
		}
		next := make(map[shardKey]ledger.Balance, len(deltas[i]))
		for k, d := range deltas[i] {
			b := cur[k].Add(d)
			if b.DebitsPending.IsNegative() || b.CreditsPending.IsNegative() ||
				(k.account.Guarded() && b.Available().IsNegative()) {
				errs[i] = insufficient(es[i])
				break
			}
			next[k] = b
		}
		if errs[i] != nil {
			lines[i] = nil
			continue
		}
		for k, b := range next {
			cur[k] = b
			total[k] = total[k].Add(deltas[i][k])
		}
		later := laterAvailable(lines[i])
		for j := range lines[i] {
			if later[j] != nil {
				l := &lines[i][j]
				v := cur[shardKey{l.Account, l.Shard}].Available().Sub(*later[j])
				l.AvailableAfter = &v
			}
		}
	}
	if len(total) == 0 {
		return lines, errs, nil
	}
	return lines, errs, t.writeMany(ctx, business, keys, total, es, lines)
}

// lockBalances locks the rows of keys (sorted) and returns their sums, creating
// the rows that do not exist yet with zero sums.
func (t *Tx) lockBalances(ctx context.Context, business string, keys []shardKey) (map[shardKey]ledger.Balance, error) {
	cur := make(map[shardKey]ledger.Balance, len(keys))
	lock := func(keys []shardKey) error {
		n := len(keys)
		owner, purpose, currency, shard := make([]string, n), make([]string, n), make([]string, n), make([]int16, n)
		for i, k := range keys {
			owner[i], purpose[i], currency[i], shard[i] = k.account.Owner, string(k.account.Purpose), k.account.Currency, k.shard
		}
		rows, err := t.tx.Tx.QueryContext(ctx, lockBalancesSQL, business, owner, purpose, currency, shard)
		if err != nil {
			return translate(err)
		}
		defer rows.Close()
		for rows.Next() {
			var ord int
			var b ledger.Balance
			if err := rows.Scan(&ord, &b.DebitsPosted, &b.CreditsPosted, &b.DebitsPending, &b.CreditsPending); err != nil {
				return translate(err)
			}
			cur[keys[ord-1]] = b
		}
		return translate(rows.Err())
	}
	if err := lock(keys); err != nil {
		return nil, err
	}
	var missing []shardKey
	for _, k := range keys {
		if _, ok := cur[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return cur, nil
	}
	// First use of an account: create its row, then lock it. Taking these locks
	// after the others may deadlock with a concurrent writer; PostgreSQL breaks the
	// cycle and InTx retries the transaction.
	n := len(missing)
	owner, purpose, currency, shard := make([]string, n), make([]string, n), make([]string, n), make([]int16, n)
	normal, may := make([]string, n), make([]bool, n)
	for i, k := range missing {
		owner[i], purpose[i], currency[i], shard[i] = k.account.Owner, string(k.account.Purpose), k.account.Currency, k.shard
		normal[i], may[i] = string(k.account.NormalSide()), !k.account.Guarded()
	}
	if _, err := t.tx.Tx.ExecContext(ctx, createBalancesSQL, business, owner, purpose, currency, shard, normal, may); err != nil {
		return nil, translate(err)
	}
	if err := lock(missing); err != nil {
		return nil, err
	}
	if len(cur) != len(keys) {
		return nil, fmt.Errorf("postgres: %d of %d balance rows could not be locked", len(keys)-len(cur), len(keys))
	}
	return cur, nil
}

// writeMany runs recordManySQL for the recorded entries.
func (t *Tx) writeMany(ctx context.Context, business string, keys []shardKey, total map[shardKey]ledger.Balance,
	es []ledger.Entry, lines [][]Line) error {
	var bOwner, bPurpose, bCur, bDP, bCP, bDPend, bCPend []string
	var bShard []int16
	for _, k := range keys { // the lock order, though the rows are locked already
		d, ok := total[k]
		if !ok {
			continue
		}
		bOwner, bPurpose, bCur, bShard = append(bOwner, k.account.Owner), append(bPurpose, string(k.account.Purpose)),
			append(bCur, k.account.Currency), append(bShard, k.shard)
		bDP, bCP = append(bDP, d.DebitsPosted.String()), append(bCP, d.CreditsPosted.String())
		bDPend, bCPend = append(bDPend, d.DebitsPending.String()), append(bCPend, d.CreditsPending.String())
	}
	var eID, eKind, eRes, eDesc, ePhase []string
	var eAt []time.Time
	var lID, lEntry, lOwner, lPurpose, lCur, lType, lDir, lAmount, lRes, lDesc, lPhase []string
	var lAfter []*string
	var lPosting, lShard []int16
	var lVisible []bool
	var lAt []time.Time
	for i, e := range es {
		if lines[i] == nil {
			continue
		}
		eID, eKind, eRes, eDesc, eAt = append(eID, e.ID), append(eKind, e.Kind), append(eRes, e.ResourceID),
			append(eDesc, e.Description), append(eAt, e.CreatedAt)
		ePhase = append(ePhase, string(e.Phase))
		for _, l := range lines[i] {
			var after *string
			if l.AvailableAfter != nil {
				v := l.AvailableAfter.String()
				after = &v
			}
			lID, lEntry, lPosting, lOwner = append(lID, l.ID), append(lEntry, l.EntryID), append(lPosting, int16(l.Posting)), append(lOwner, l.Account.Owner)
			lPurpose, lCur, lShard = append(lPurpose, string(l.Account.Purpose)), append(lCur, l.Account.Currency), append(lShard, l.Shard)
			lType, lDir, lAmount = append(lType, string(l.Type)), append(lDir, string(l.Direction)), append(lAmount, l.Amount.String())
			lAfter, lVisible, lRes = append(lAfter, after), append(lVisible, l.Visible), append(lRes, l.ResourceID)
			lDesc, lAt, lPhase = append(lDesc, l.Description), append(lAt, l.CreatedAt), append(lPhase, string(l.Phase))
		}
	}
	rows := len(bOwner)
	return t.write(ctx, queuedWrite{sql: recordManySQL, args: []any{business, bOwner, bPurpose, bCur, bShard, bDP, bCP, bDPend, bCPend,
		eID, eKind, eRes, eDesc, eAt, ePhase,
		lID, lEntry, lPosting, lOwner, lPurpose, lCur, lShard, lType, lDir, lAmount, lAfter, lVisible, lRes, lDesc, lAt, lPhase},
		rows: func(changed int64) error {
			if changed != int64(rows) {
				return fmt.Errorf("postgres: RecordMany changed %d of %d locked balance rows", changed, rows)
			}
			return nil
		}})
}
