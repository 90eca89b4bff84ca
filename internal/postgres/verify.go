package postgres

import (
	"context"
	"fmt"
	"strings"
)

// Violation is one broken ledger invariant.
type Violation struct {
	Invariant string
	Detail    string
}

// VerifySummary counts what Verify looked at.
type VerifySummary struct {
	Businesses int64
	Entries    int64
	Lines      int64
	Accounts   int64
}

// violationsMax bounds how many rows each check reports.
const violationsMax = 100

// invariantChecks are the invariants of DESIGN.md §2, each a query returning one
// text column per violation. $1 is a business id or ” for all businesses.
var invariantChecks = []struct{ name, sql string }{
	{"1 every entry balances per currency", `
		SELECT business_id || ' entry ' || entry_id || ' ' || currency || ': debits ' ||
			sum(amount) FILTER (WHERE direction = 'debit') || ' credits ' || sum(amount) FILTER (WHERE direction = 'credit')
		FROM ledger_lines WHERE ($1 = '' OR business_id = $1)
		GROUP BY business_id, entry_id, currency
		HAVING sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) <> 0`},
	{"2 stored balances equal the sum of their lines", `
		WITH sums AS (
			SELECT business_id, owner_id, purpose, currency, shard,
				sum(amount) FILTER (WHERE direction = 'debit' AND phase IN ('posted', 'post_pending')) AS dp,
				sum(amount) FILTER (WHERE direction = 'credit' AND phase IN ('posted', 'post_pending')) AS cp,
				sum(CASE WHEN direction <> 'debit' OR phase = 'posted' THEN 0 WHEN phase = 'pending' THEN amount ELSE -amount END) AS dpend,
				sum(CASE WHEN direction <> 'credit' OR phase = 'posted' THEN 0 WHEN phase = 'pending' THEN amount ELSE -amount END) AS cpend
			FROM ledger_lines WHERE ($1 = '' OR business_id = $1)
			GROUP BY business_id, owner_id, purpose, currency, shard)
		SELECT coalesce(b.business_id, s.business_id) || ' ' || coalesce(b.owner_id, s.owner_id) || '/' ||
			coalesce(b.purpose, s.purpose) || '/' || coalesce(b.currency, s.currency) || ' shard ' || coalesce(b.shard, s.shard) ||
			': stored ' || coalesce(b.debits_posted, 0) || '/' || coalesce(b.credits_posted, 0) || '/' ||
			coalesce(b.debits_pending, 0) || '/' || coalesce(b.credits_pending, 0) || ' lines ' ||
			coalesce(s.dp, 0) || '/' || coalesce(s.cp, 0) || '/' || coalesce(s.dpend, 0) || '/' || coalesce(s.cpend, 0)
		FROM (SELECT * FROM ledger_balances WHERE ($1 = '' OR business_id = $1)) b
		FULL JOIN sums s USING (business_id, owner_id, purpose, currency, shard)
		WHERE coalesce(b.debits_posted, 0) <> coalesce(s.dp, 0) OR coalesce(b.credits_posted, 0) <> coalesce(s.cp, 0)
			OR coalesce(b.debits_pending, 0) <> coalesce(s.dpend, 0) OR coalesce(b.credits_pending, 0) <> coalesce(s.cpend, 0)`},
	{"3 per business and currency all accounts sum to zero", `
		SELECT business_id || ' ' || currency || ': posted ' || sum(credits_posted - debits_posted) ||
			' pending ' || sum(credits_pending - debits_pending)
		FROM ledger_balances WHERE ($1 = '' OR business_id = $1)
		GROUP BY business_id, currency
		HAVING sum(credits_posted - debits_posted) <> 0 OR sum(credits_pending - debits_pending) <> 0`},
	{"4 no guarded account below zero available", `
		SELECT business_id || ' ' || owner_id || '/' || purpose || '/' || currency || ': available ' ||
			(credits_posted - debits_posted - debits_pending)
		FROM ledger_balances WHERE ($1 = '' OR business_id = $1) AND NOT may_go_negative
			AND credits_posted - debits_posted - debits_pending < 0`},
	{"5 deposits match their entries", `
		SELECT d.business_id || ' deposit ' || d.id || ' ' || d.status || ': entry ' || d.entry_id ||
			coalesce(' is ' || e.phase, ' missing') || coalesce(' hold ' || h.status, '')
		FROM deposits d
		LEFT JOIN ledger_entries e ON e.business_id = d.business_id AND e.id = d.entry_id
		LEFT JOIN ledger_holds h ON h.business_id = d.business_id AND h.entry_id = d.entry_id
		WHERE ($1 = '' OR d.business_id = $1) AND NOT (
			(d.status = 'pending' AND e.phase = 'pending' AND h.status = 'pending') OR
			(d.status = 'completed' AND ((e.phase = 'posted' AND h.entry_id IS NULL) OR (e.phase = 'pending' AND h.status = 'posted'))) OR
			(d.status = 'rejected' AND e.phase = 'posted' AND h.entry_id IS NULL))`},
	{"5 payouts match their holds", `
		SELECT p.business_id || ' payout ' || p.id || ' ' || p.status || ': hold ' || p.hold_id || coalesce(' is ' || h.status, ' missing')
		FROM payouts p LEFT JOIN ledger_holds h ON h.business_id = p.business_id AND h.entry_id = p.hold_id
		WHERE ($1 = '' OR p.business_id = $1) AND h.status IS DISTINCT FROM (CASE p.status
			WHEN 'completed' THEN 'posted' WHEN 'failed' THEN 'voided' WHEN 'cancelled' THEN 'voided' ELSE 'pending' END)`},
	{"5 transfers and conversions have their entries", `
		SELECT r.business_id || ' ' || r.id || ': entry ' || r.entry_id || ' missing'
		FROM (SELECT business_id, id, entry_id FROM transfers UNION ALL SELECT business_id, id, entry_id FROM conversions) r
		LEFT JOIN ledger_entries e ON e.business_id = r.business_id AND e.id = r.entry_id
		WHERE ($1 = '' OR r.business_id = $1) AND (e.id IS NULL OR e.phase <> 'posted')`},
	// One index lookup (ledger_entries_pending) per hold, whatever the statistics
	// say: joined instead, a planner that believed there were few holds compared
	// every hold with every entry (TestVerifyHoldCheckUsesAnIndex).
	{"5 every hold ended by exactly one entry", `
		SELECT h.business_id || ' hold ' || h.entry_id || ' ' || h.status || ': ' || h.ending || ' ending entries'
		FROM (SELECT h.business_id, h.entry_id, h.status,
				(SELECT count(*) FROM ledger_entries e WHERE e.business_id = h.business_id AND e.pending_id = h.entry_id) AS ending
			FROM ledger_holds h WHERE ($1 = '' OR h.business_id = $1)) h
		WHERE h.ending <> CASE h.status WHEN 'pending' THEN 0 ELSE 1 END`},
	{"6 every event refers to a profile of its business", `
		SELECT ev.business_id || ' event ' || ev.id || ': profile ' || ev.profile_id || ' unknown'
		FROM events ev
		WHERE ($1 = '' OR ev.business_id = $1) AND ev.profile_id <> ev.business_id
			AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.business_id = ev.business_id AND c.id = ev.profile_id)`},
	// Beyond DESIGN.md §2: what migration 20261207000200 moved from constraints
	// to construction. A line is keyed by (entry, posting, side); its id is
	// unique by ledger.NewID, checked here.
	{"7 every line id is unique", `
		SELECT business_id || ' line ' || id || ': ' || count(*) || ' lines'
		FROM ledger_lines WHERE ($1 = '' OR business_id = $1)
		GROUP BY business_id, id HAVING count(*) > 1`},
	// The append-only tables have no foreign key to businesses (row-level
	// security confines a tenant's writes to its business; businesses are never
	// deleted): every business they name exists.
	{"8 every ledger, transfer, payout, event, audit and idempotency row belongs to a business", `
		SELECT r.tbl || ': business ' || r.business_id || ' does not exist'
		FROM (SELECT DISTINCT 'ledger_entries' AS tbl, business_id FROM ledger_entries
			UNION SELECT DISTINCT 'ledger_lines', business_id FROM ledger_lines
			UNION SELECT DISTINCT 'ledger_holds', business_id FROM ledger_holds
			UNION SELECT DISTINCT 'transfers', business_id FROM transfers
			UNION SELECT DISTINCT 'payouts', business_id FROM payouts
			UNION SELECT DISTINCT 'events', business_id FROM events
			UNION SELECT DISTINCT 'audit_log', business_id FROM audit_log
			UNION SELECT DISTINCT 'idempotency_keys', business_id FROM idempotency_keys) r
		WHERE ($1 = '' OR r.business_id = $1)
			AND NOT EXISTS (SELECT 1 FROM businesses b WHERE b.id = r.business_id)`},
	// Beyond DESIGN.md §2: a profile's transfers are listed by the lines that
	// moved them (migration 20261207000600), so every transfer has exactly two
	// visible transfer lines naming it, the sender's debit and the recipient's
	// credit, of its entry and dated with it.
	{"9 every transfer is listed by its two lines", `
		SELECT t.business_id || ' transfer ' || t.id || ': ' ||
			CASE WHEN l.lines IS NULL THEN 'no transfer lines'
				ELSE l.lines || ' transfer lines (debit ' || coalesce(l.debit_owner, '-') || ', credit ' ||
					coalesce(l.credit_owner, '-') || ', entries ' || l.min_entry || '..' || l.max_entry || ', at ' ||
					l.min_at || '..' || l.max_at || ', all visible ' || l.visible || ')' END
		FROM (SELECT * FROM transfers WHERE ($1 = '' OR business_id = $1)) t
		LEFT JOIN (SELECT business_id, resource_id, count(*) AS lines, bool_and(visible) AS visible,
				min(entry_id) AS min_entry, max(entry_id) AS max_entry, min(created_at) AS min_at, max(created_at) AS max_at,
				count(*) FILTER (WHERE direction = 'debit') AS debits,
				max(owner_id) FILTER (WHERE direction = 'debit') AS debit_owner,
				max(owner_id) FILTER (WHERE direction = 'credit') AS credit_owner
			FROM ledger_lines WHERE ($1 = '' OR business_id = $1) AND type = 'transfer'
			GROUP BY business_id, resource_id) l ON l.business_id = t.business_id AND l.resource_id = t.id
		WHERE l.lines IS NULL OR l.lines <> 2 OR l.debits <> 1 OR NOT l.visible
			OR l.min_entry <> t.entry_id OR l.max_entry <> t.entry_id OR l.min_at <> t.created_at OR l.max_at <> t.created_at
			OR l.debit_owner <> t.from_profile_id OR l.credit_owner <> t.to_profile_id`},
}

// Verify checks every ledger invariant over the whole database, or one business
// when business is set, calling progress before each check. It returns the
// violations found (at most violationsMax per check).
func (s *Store) Verify(ctx context.Context, business string, progress func(string)) (VerifySummary, []Violation, error) {
	var sum VerifySummary
	err := s.db.DB.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM businesses WHERE $1 = '' OR id = $1),
			(SELECT count(*) FROM ledger_entries WHERE $1 = '' OR business_id = $1),
			(SELECT count(*) FROM ledger_lines WHERE $1 = '' OR business_id = $1),
			(SELECT count(DISTINCT (business_id, owner_id, purpose, currency)) FROM ledger_balances WHERE $1 = '' OR business_id = $1)`,
		business).Scan(&sum.Businesses, &sum.Entries, &sum.Lines, &sum.Accounts)
	if err != nil {
		return sum, nil, translate(err)
	}
	var out []Violation
	for _, c := range invariantChecks {
		if progress != nil {
			progress(c.name)
		}
		rows, err := s.db.DB.QueryContext(ctx, strings.TrimSpace(c.sql)+fmt.Sprintf(" LIMIT %d", violationsMax), business)
		if err != nil {
			return sum, out, fmt.Errorf("check %q: %w", c.name, translate(err))
		}
		for rows.Next() {
			var detail string
			if err := rows.Scan(&detail); err != nil {
				rows.Close()
				return sum, out, translate(err)
			}
			out = append(out, Violation{Invariant: c.name, Detail: detail})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return sum, out, translate(err)
		}
	}
	return sum, out, nil
}
