package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/ledger"
)

// Line is one stored ledger line: a profile's view of one side of a posting.
type Line struct {
	ID             string
	EntryID        string
	Posting        int
	Account        ledger.Account
	Shard          int16
	Type           ledger.LineType
	Direction      ledger.Direction
	Phase          ledger.Phase
	Amount         decimal.Decimal
	AvailableAfter *decimal.Decimal
	Visible        bool
	ResourceID     string
	Description    string
	CreatedAt      time.Time
}

type shardKey struct {
	account ledger.Account
	shard   int16
}

// recordSQL applies one entry in ONE statement (DESIGN.md §3): it upserts every
// balance row the entry touches, in the global (account, shard) order so
// concurrent entries lock rows in the same order and cannot deadlock; a row whose
// guard fails (a guarded account would drop below zero available, or a hold's
// pending sums would go negative) is locked but left unchanged and not returned,
// and a freshly inserted row that breaks a guard fails the ok check.
// Only when every row changed are the entry, its lines and its hold written; the
// caller otherwise rolls back the transaction (or savepoint), undoing the rows
// that did change. available_after of a guarded account's line is the account's
// final available balance less the deltas of its later lines in the entry.
const recordSQL = `WITH bal AS (
	INSERT INTO ledger_balances AS b (business_id, owner_id, purpose, currency, shard, normal_side, may_go_negative,
		debits_posted, credits_posted, debits_pending, credits_pending)
	SELECT $1, d.owner_id, d.purpose, d.currency, d.shard, d.normal_side, d.may_go_negative, d.dp, d.cp, d.dpend, d.cpend
	FROM unnest($2::text[], $3::text[], $4::text[], $5::int2[], $6::text[], $7::bool[], $8::numeric[], $9::numeric[],
		$10::numeric[], $11::numeric[]) WITH ORDINALITY
		AS d(owner_id, purpose, currency, shard, normal_side, may_go_negative, dp, cp, dpend, cpend, ord)
	ORDER BY d.ord
	ON CONFLICT (business_id, owner_id, purpose, currency, shard) DO UPDATE SET
		debits_posted = b.debits_posted + EXCLUDED.debits_posted,
		credits_posted = b.credits_posted + EXCLUDED.credits_posted,
		debits_pending = b.debits_pending + EXCLUDED.debits_pending,
		credits_pending = b.credits_pending + EXCLUDED.credits_pending
	WHERE (b.may_go_negative OR b.credits_posted + EXCLUDED.credits_posted - b.debits_posted - EXCLUDED.debits_posted
			- b.debits_pending - EXCLUDED.debits_pending >= 0)
		AND b.debits_pending + EXCLUDED.debits_pending >= 0 AND b.credits_pending + EXCLUDED.credits_pending >= 0
	RETURNING b.owner_id, b.purpose, b.currency, b.shard, b.credits_posted - b.debits_posted - b.debits_pending AS available,
		b.may_go_negative, b.debits_pending, b.credits_pending
), ok AS (
	-- Every row changed, and none that was freshly inserted broke a guard (a debit
	-- to an account that did not exist yet inserts it below zero).
	SELECT count(*) = $12 AND coalesce(bool_and((may_go_negative OR available >= 0)
		AND debits_pending >= 0 AND credits_pending >= 0), false) AS ok FROM bal
), ent AS (
	INSERT INTO ledger_entries (business_id, id, kind, phase, pending_id, resource_id, description, created_at)
	SELECT $1, $13, $14, $15, $16, $17, $18, $19 FROM ok WHERE ok.ok
), hold AS (
	INSERT INTO ledger_holds (business_id, entry_id, created_at, updated_at)
	SELECT $1, $13, $19, $19 FROM ok WHERE ok.ok AND $15 = 'pending'
), lin AS (
	INSERT INTO ledger_lines (business_id, id, entry_id, posting, owner_id, purpose, currency, shard, type, direction,
		phase, amount, available_after, visible, resource_id, description, created_at)
	SELECT $1, l.id, $13, l.posting, l.owner_id, l.purpose, l.currency, l.shard, l.type, l.direction, $15, l.amount,
		CASE WHEN l.later IS NULL THEN NULL ELSE bal.available - l.later END, l.visible, $17, $18, $19
	FROM unnest($20::text[], $21::int2[], $22::text[], $23::text[], $24::text[], $25::int2[], $26::text[], $27::text[],
		$28::numeric[], $29::numeric[], $30::bool[])
		AS l(id, posting, owner_id, purpose, currency, shard, type, direction, amount, later, visible)
	LEFT JOIN bal ON bal.owner_id = l.owner_id AND bal.purpose = l.purpose AND bal.currency = l.currency AND bal.shard = l.shard
	WHERE (SELECT ok FROM ok)
	RETURNING id, available_after
)
SELECT id, available_after FROM lin`

// Record applies entry e in the transaction with one statement (recordSQL):
// guarded accounts never drop below zero available (insufficient_funds), hot
// accounts are credited on one of their shard rows, accounts are created on first
// use, and a pending entry opens a hold. It returns the lines written.
func (t *Tx) Record(ctx context.Context, e ledger.Entry) ([]Line, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now()
	}
	lines, deltas := entryLines(e)
	keys := make([]shardKey, 0, len(deltas))
	for k := range deltas {
		keys = append(keys, k)
	}
	sortShardKeys(keys)
	n := len(keys)
	bOwner, bPurpose, bCur, bNormal := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	bShard, bMay := make([]int16, n), make([]bool, n)
	bDP, bCP, bDPend, bCPend := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, k := range keys {
		d := deltas[k]
		bOwner[i], bPurpose[i], bCur[i], bShard[i] = k.account.Owner, string(k.account.Purpose), k.account.Currency, k.shard
		bNormal[i], bMay[i] = string(k.account.NormalSide()), !k.account.Guarded()
		bDP[i], bCP[i], bDPend[i], bCPend[i] = d.DebitsPosted.String(), d.CreditsPosted.String(), d.DebitsPending.String(), d.CreditsPending.String()
	}
	m := len(lines)
	lID, lOwner, lPurpose, lCur, lType, lDir := make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m)
	lPosting, lShard := make([]int16, m), make([]int16, m)
	lAmount, lLater := make([]string, m), make([]*string, m)
	lVisible := make([]bool, m)
	later := laterAvailable(lines)
	for i, l := range lines {
		lID[i], lOwner[i], lPurpose[i], lCur[i] = l.ID, l.Account.Owner, string(l.Account.Purpose), l.Account.Currency
		lType[i], lDir[i], lPosting[i], lShard[i] = string(l.Type), string(l.Direction), int16(l.Posting), l.Shard
		lAmount[i], lVisible[i] = l.Amount.String(), l.Visible
		if later[i] != nil {
			v := later[i].String()
			lLater[i] = &v
		}
	}
	var pendingID *string
	if e.PendingID != "" {
		pendingID = &e.PendingID
	}
	rows, err := t.tx.Tx.QueryContext(ctx, recordSQL, e.Business,
		bOwner, bPurpose, bCur, bShard, bNormal, bMay, bDP, bCP, bDPend, bCPend, n,
		e.ID, e.Kind, string(e.Phase), pendingID, e.ResourceID, e.Description, e.CreatedAt,
		lID, lPosting, lOwner, lPurpose, lCur, lShard, lType, lDir, lAmount, lLater, lVisible)
	if err != nil {
		return nil, t.recordError(e, err)
	}
	defer rows.Close()
	after := make(map[string]decimal.NullDecimal, m)
	for rows.Next() {
		var id string
		var a decimal.NullDecimal
		if err := rows.Scan(&id, &a); err != nil {
			return nil, translate(err)
		}
		after[id] = a
	}
	if err := rows.Err(); err != nil {
		return nil, t.recordError(e, err)
	}
	if len(after) == 0 {
		// A guard failed: nothing of the entry was written; the caller rolls back.
		if e.PendingID != "" {
			panic(fmt.Sprintf("ledger: ending hold %s would drive pending sums negative", e.PendingID))
		}
		return nil, insufficient(e)
	}
	for i := range lines {
		if a := after[lines[i].ID]; a.Valid {
			v := a.Decimal
			lines[i].AvailableAfter = &v
		}
	}
	return lines, nil
}

// sortShardKeys puts balance rows in the global (account, shard) order every
// writer locks them in, so concurrent entries cannot deadlock.
func sortShardKeys(keys []shardKey) {
	names := make([]string, len(keys)) // each account's String once, not once per comparison
	for i, k := range keys {
		names[i] = k.account.String()
	}
	sort.Sort(byAccountShard{keys, names})
}

type byAccountShard struct {
	keys  []shardKey
	names []string
}

func (s byAccountShard) Len() int { return len(s.keys) }
func (s byAccountShard) Less(i, j int) bool {
	if s.names[i] != s.names[j] {
		return s.names[i] < s.names[j]
	}
	return s.keys[i].shard < s.keys[j].shard
}
func (s byAccountShard) Swap(i, j int) {
	s.keys[i], s.keys[j] = s.keys[j], s.keys[i]
	s.names[i], s.names[j] = s.names[j], s.names[i]
}

// entryLines expands entry e into its stored lines (a debit and a credit line per
// posting) and sums, per balance row, how the entry changes it.
func entryLines(e ledger.Entry) ([]Line, map[shardKey]ledger.Balance) {
	shardOf := e.ShardKey()
	lines := make([]Line, 0, 2*len(e.Postings))
	deltas := make(map[shardKey]ledger.Balance, 2*len(e.Postings))
	for i, p := range e.Postings {
		for _, side := range [2]struct {
			a   ledger.Account
			dir ledger.Direction
		}{{p.Debit, ledger.Debit}, {p.Credit, ledger.Credit}} {
			k := shardKey{side.a, side.a.Shard(shardOf)}
			deltas[k] = deltas[k].Add(ledger.Delta(side.dir, e.Phase, p.Amount))
			lines = append(lines, Line{
				ID: ledger.NewID(ledger.PrefixLine), EntryID: e.ID, Posting: i, Account: side.a, Shard: k.shard,
				Type: p.Type, Direction: side.dir, Phase: e.Phase, Amount: p.Amount,
				Visible: ledger.Visible(side.a, side.dir, e.Phase), ResourceID: e.ResourceID,
				Description: e.Description, CreatedAt: e.CreatedAt,
			})
		}
	}
	return lines, deltas
}

// laterAvailable returns, for each line of a guarded account, the sum of how the
// entry's later lines change that account's available balance (nil for other
// lines): the line's available_after is the account's available balance after the
// whole entry less this sum.
func laterAvailable(lines []Line) []*decimal.Decimal {
	out := make([]*decimal.Decimal, len(lines))
	for i := range lines {
		if !lines[i].Account.Guarded() {
			continue
		}
		var v decimal.Decimal // an entry has a few lines: summing the later ones beats a map
		for _, l := range lines[i+1:] {
			if l.Account == lines[i].Account {
				v = v.Add(ledger.Delta(l.Direction, l.Phase, l.Amount).Available())
			}
		}
		out[i] = &v
	}
	return out
}

func insufficient(e ledger.Entry) error {
	return ledger.Errorf(ledger.CodeInsufficientFunds, "insufficient funds: the available %s balance is too low", e.Postings[0].Debit.Currency)
}

// recordError maps the statement's failure: a new guarded account that would
// start below zero trips the table's guard constraint.
func (t *Tx) recordError(e ledger.Entry, err error) error {
	if constraint(err, "23514") == "ledger_balances_guarded" {
		return insufficient(e)
	}
	return translate(err)
}

// PostHold posts hold holdID in full; VoidHold releases it in full. The hold's
// status changes from pending exactly once, under the row lock of a conditional
// UPDATE, so racing post/void calls have one winner; the losers get invalid_state.
// lineType, when set, retypes the new lines (a voided payout is payout_reversal).
func (t *Tx) PostHold(ctx context.Context, business, holdID, description string) ([]Line, error) {
	return t.endHold(ctx, business, holdID, ledger.PhasePostPending, "", description)
}

// VoidHold releases hold holdID in full (see PostHold).
func (t *Tx) VoidHold(ctx context.Context, business, holdID string, lineType ledger.LineType, description string) ([]Line, error) {
	return t.endHold(ctx, business, holdID, ledger.PhaseVoidPending, lineType, description)
}

func (t *Tx) endHold(ctx context.Context, business, holdID string, phase ledger.Phase, lineType ledger.LineType, description string) ([]Line, error) {
	status := "posted"
	if phase == ledger.PhaseVoidPending {
		status = "voided"
	}
	entryID := ledger.NewID(ledger.PrefixEntry)
	res, err := t.tx.Tx.ExecContext(ctx, `UPDATE ledger_holds SET status = $3, ended_by = $4, updated_at = now()
		WHERE business_id = $1 AND entry_id = $2 AND status = 'pending'`, business, holdID, status, entryID)
	if err != nil {
		return nil, translate(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, ledger.Errorf(ledger.CodeInvalidState, "hold %s is not pending", holdID)
	}
	hold, err := t.loadEntry(ctx, business, holdID)
	if err != nil {
		return nil, err
	}
	e := ledger.Entry{ID: entryID, Business: business, Kind: hold.Kind, Phase: phase, PendingID: holdID,
		ResourceID: hold.ResourceID, Description: description, Postings: hold.Postings}
	if lineType != "" {
		for i := range e.Postings {
			e.Postings[i].Type = lineType
		}
	}
	return t.Record(ctx, e)
}

// loadEntry rebuilds an entry's postings from its lines.
func (t *Tx) loadEntry(ctx context.Context, business, id string) (ledger.Entry, error) {
	e := ledger.Entry{ID: id, Business: business}
	var phase string
	err := t.tx.Tx.QueryRowContext(ctx, `SELECT kind, phase, resource_id, description, created_at FROM ledger_entries
		WHERE business_id = $1 AND id = $2`, business, id).Scan(&e.Kind, &phase, &e.ResourceID, &e.Description, &e.CreatedAt)
	if err != nil {
		return e, translate(err)
	}
	e.Phase = ledger.Phase(phase)
	rows, err := t.tx.Tx.QueryContext(ctx, `SELECT posting, direction, owner_id, purpose, currency, amount, type FROM ledger_lines
		WHERE business_id = $1 AND entry_id = $2 ORDER BY posting, direction`, business, id)
	if err != nil {
		return e, translate(err)
	}
	defer rows.Close()
	byPosting := map[int]*ledger.Posting{}
	var order []int
	for rows.Next() {
		var n int
		var dir, owner, purpose, cur, typ string
		var amt decimal.Decimal
		if err := rows.Scan(&n, &dir, &owner, &purpose, &cur, &amt, &typ); err != nil {
			return e, translate(err)
		}
		p, seen := byPosting[n]
		if !seen {
			p = &ledger.Posting{Amount: amt, Type: ledger.LineType(typ)}
			byPosting[n] = p
			order = append(order, n)
		}
		a := ledger.Account{Owner: owner, Purpose: ledger.Purpose(purpose), Currency: cur}
		if ledger.Direction(dir) == ledger.Debit {
			p.Debit = a
		} else {
			p.Credit = a
		}
	}
	if err := rows.Err(); err != nil {
		return e, translate(err)
	}
	sort.Ints(order)
	for _, n := range order {
		e.Postings = append(e.Postings, *byPosting[n])
	}
	return e, nil
}

// CurrencyBalance is one currency's balance of one profile.
type CurrencyBalance struct {
	Currency string
	ledger.Balance
}

// ProfileBalances returns every currency the profile's main accounts hold or have
// held, ordered by currency.
func (s *Store) ProfileBalances(ctx context.Context, business, owner string) ([]CurrencyBalance, error) {
	return readAs(ctx, s, business, func(s *Store) ([]CurrencyBalance, error) {
		return profileBalances(ctx, s.raw, business, owner)
	})
}

// ProfileBalancesMany is ProfileBalances for several profiles of one business in
// one statement (the balance reads of concurrent requests, gathered by the API's
// read combiner). Each profile's list is ordered by currency; a profile with no
// balances has no key.
func (s *Store) ProfileBalancesMany(ctx context.Context, business string, owners []string) (map[string][]CurrencyBalance, error) {
	return readAs(ctx, s, business, func(s *Store) (map[string][]CurrencyBalance, error) {
		// One primary-key range scan per owner (the lateral subquery), whatever
		// the table's statistics say about the business.
		rows, err := s.raw.QueryContext(ctx, `SELECT o.owner, b.currency, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending
			FROM unnest($2::text[]) AS o(owner)
			CROSS JOIN LATERAL (SELECT currency, debits_posted, credits_posted, debits_pending, credits_pending
				FROM ledger_balances WHERE business_id = $1 AND owner_id = o.owner AND purpose = 'main') b
			ORDER BY o.owner, b.currency`, business, owners)
		if err != nil {
			return nil, translate(err)
		}
		defer rows.Close()
		out := make(map[string][]CurrencyBalance, len(owners))
		for rows.Next() {
			var owner string
			var b CurrencyBalance
			if err := rows.Scan(&owner, &b.Currency, &b.DebitsPosted, &b.CreditsPosted, &b.DebitsPending, &b.CreditsPending); err != nil {
				return nil, translate(err)
			}
			out[owner] = append(out[owner], b)
		}
		return out, translate(rows.Err())
	})
}

// ProfileBalances reads balances inside the transaction.
func (t *Tx) ProfileBalances(ctx context.Context, business, owner string) ([]CurrencyBalance, error) {
	return profileBalances(ctx, t.tx.Tx, business, owner)
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func profileBalances(ctx context.Context, db queryer, business, owner string) ([]CurrencyBalance, error) {
	rows, err := db.QueryContext(ctx, `SELECT currency, debits_posted, credits_posted, debits_pending, credits_pending
		FROM ledger_balances WHERE business_id = $1 AND owner_id = $2 AND purpose = 'main' ORDER BY currency`, business, owner)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []CurrencyBalance
	for rows.Next() {
		var b CurrencyBalance
		if err := rows.Scan(&b.Currency, &b.DebitsPosted, &b.CreditsPosted, &b.DebitsPending, &b.CreditsPending); err != nil {
			return nil, translate(err)
		}
		out = append(out, b)
	}
	return out, translate(rows.Err())
}

// BalancesZero reports whether every balance of the profile (main accounts) is zero:
// nothing owned, held or pending. Closing a customer requires it.
func (t *Tx) BalancesZero(ctx context.Context, business, owner string) (bool, error) {
	bs, err := t.ProfileBalances(ctx, business, owner)
	if err != nil {
		return false, err
	}
	for _, b := range bs {
		if !b.IsZero() {
			return false, nil
		}
	}
	return true, nil
}

// AccountBalance sums all shards of one account.
func (s *Store) AccountBalance(ctx context.Context, business string, a ledger.Account) (ledger.Balance, error) {
	return readAs(ctx, s, business, func(s *Store) (ledger.Balance, error) {
		var b ledger.Balance
		err := s.raw.QueryRowContext(ctx, `SELECT COALESCE(sum(debits_posted), 0), COALESCE(sum(credits_posted), 0),
				COALESCE(sum(debits_pending), 0), COALESCE(sum(credits_pending), 0)
			FROM ledger_balances WHERE business_id = $1 AND owner_id = $2 AND purpose = $3 AND currency = $4`,
			business, a.Owner, string(a.Purpose), a.Currency).Scan(&b.DebitsPosted, &b.CreditsPosted, &b.DebitsPending, &b.CreditsPending)
		return b, translate(err)
	})
}

// HistoryFilter narrows a profile's ledger history.
type HistoryFilter struct {
	Currency      string
	Type          string
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
}

// History returns a page of the profile's visible lines, newest first, keyset
// paginated on (created_at, id). It fetches one row more than the page to tell
// whether another page exists. The visible lines are indexed in two parts,
// transfer lines (ledger_lines_transfers, which also lists a profile's
// transfers) and the others (ledger_lines_history); without a type filter the
// query reads a page from each range and keeps the newest of the two.
func (s *Store) History(ctx context.Context, business, owner string, f HistoryFilter, page ledger.Page) ([]Line, error) {
	return readAs(ctx, s, business, func(s *Store) ([]Line, error) {
		query, args := historyQuery(business, owner, f, page)
		rows, err := s.raw.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, translate(err)
		}
		defer rows.Close()
		var out []Line
		for rows.Next() {
			var l Line
			var cur, typ, dir, phase string
			var after decimal.NullDecimal
			if err := rows.Scan(&l.ID, &l.EntryID, &l.Posting, &cur, &typ, &dir, &phase, &l.Amount, &after, &l.ResourceID, &l.Description, &l.CreatedAt); err != nil {
				return nil, translate(err)
			}
			l.Account = ledger.Account{Owner: owner, Purpose: ledger.PurposeMain, Currency: cur}
			l.Type, l.Direction, l.Phase, l.Visible = ledger.LineType(typ), ledger.Direction(dir), ledger.Phase(phase), true
			if after.Valid {
				v := after.Decimal
				l.AvailableAfter = &v
			}
			l.CreatedAt = l.CreatedAt.UTC()
			out = append(out, l)
		}
		return out, translate(rows.Err())
	})
}

// historyQuery is History's statement and arguments.
func historyQuery(business, owner string, f HistoryFilter, page ledger.Page) (string, []any) {
	var cond strings.Builder
	args := []any{business, owner}
	add := func(c string, v any) {
		args = append(args, v)
		fmt.Fprintf(&cond, " AND "+c, len(args))
	}
	if f.Currency != "" {
		add("currency = $%d", f.Currency)
	}
	if f.Type != "" {
		add("type = $%d", f.Type)
	}
	if f.CreatedAfter != nil {
		add("created_at > $%d", *f.CreatedAfter)
	}
	if f.CreatedBefore != nil {
		add("created_at < $%d", *f.CreatedBefore)
	}
	if c := page.After; c != nil {
		args = append(args, c.CreatedAt, c.ID)
		fmt.Fprintf(&cond, " AND (created_at, id) < ($%d, $%d)", len(args)-1, len(args))
	}
	part := func(index string) string { // the predicate of that index's partial range
		return `SELECT id, entry_id, posting, currency, type, direction, phase, amount, available_after, resource_id, description, created_at
		FROM ledger_lines WHERE business_id = $1 AND owner_id = $2 AND visible AND ` + index + cond.String()
	}
	args = append(args, page.Limit+1)
	page1 := fmt.Sprintf(" ORDER BY created_at DESC, id DESC LIMIT $%d", len(args))
	switch {
	case f.Type == string(ledger.LineTransfer):
		return part("type = 'transfer'") + page1, args
	case f.Type != "":
		return part("type <> 'transfer'") + page1, args
	}
	// A page from each range, then the page of the two.
	return "(" + part("type <> 'transfer'") + page1 + ") UNION ALL (" + part("type = 'transfer'") + page1 + ")" + page1, args
}
