package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"
	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/ledger"
)

type transferRow struct {
	bun.BaseModel `bun:"table:transfers"`
	BusinessID    string            `bun:"business_id,pk"`
	ID            string            `bun:"id,pk"`
	FromProfileID string            `bun:"from_profile_id"`
	ToProfileID   string            `bun:"to_profile_id"`
	Status        string            `bun:"status"`
	Currency      string            `bun:"currency"`
	Amount        decimal.Decimal   `bun:"amount,type:numeric"`
	Description   *string           `bun:"description"`
	Metadata      map[string]string `bun:"metadata,type:jsonb"`
	EntryID       string            `bun:"entry_id"`
	CreatedAt     time.Time         `bun:"created_at"`
}

func (r transferRow) domain() ledger.Transfer {
	t := ledger.Transfer{ID: r.ID, Business: r.BusinessID, FromProfileID: r.FromProfileID, ToProfileID: r.ToProfileID,
		Status: r.Status, Currency: r.Currency, Amount: r.Amount, Description: deref(r.Description), Metadata: r.Metadata,
		EntryID: r.EntryID, CreatedAt: r.CreatedAt.UTC()}
	if t.Metadata == nil {
		t.Metadata = map[string]string{}
	}
	return t
}

// BookTransfers posts the transfers' entries as a set, in order (RecordMany: a
// few round trips for a whole batch). errs[i] is transfer i's refusal
// (insufficient_funds); every other transfer gets its status, time and entry id.
// SaveTransfers then stores the transfer rows.
func (t *Tx) BookTransfers(ctx context.Context, trs []ledger.Transfer) (errs []error, err error) {
	es := make([]ledger.Entry, len(trs))
	for i := range trs {
		trs[i].CreatedAt, trs[i].Status = now(), "completed"
		es[i] = TransferEntry(trs[i])
	}
	if _, errs, err = t.RecordMany(ctx, es); err != nil {
		return nil, err
	}
	for i := range trs {
		if errs[i] == nil {
			trs[i].EntryID = es[i].ID
		}
	}
	return errs, nil
}

// TransferEntry is the posted entry that moves a transfer's money.
func TransferEntry(tr ledger.Transfer) ledger.Entry {
	return ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: tr.Business, Kind: "transfer", Phase: ledger.PhasePosted,
		ResourceID: tr.ID, Description: tr.Description, CreatedAt: tr.CreatedAt,
		Postings: []ledger.Posting{{Debit: ledger.ProfileAccount(tr.FromProfileID, tr.Currency),
			Credit: ledger.ProfileAccount(tr.ToProfileID, tr.Currency), Amount: tr.Amount, Type: ledger.LineTransfer}}}
}

// SaveTransfers stores booked transfers with one statement.
func (t *Tx) SaveTransfers(ctx context.Context, trs []ledger.Transfer) error {
	if len(trs) == 0 {
		return nil
	}
	rows := make([]transferRow, len(trs))
	for i, tr := range trs {
		rows[i] = transferRow{BusinessID: tr.Business, ID: tr.ID, FromProfileID: tr.FromProfileID, ToProfileID: tr.ToProfileID,
			Status: tr.Status, Currency: tr.Currency, Amount: tr.Amount, Description: nullable(tr.Description),
			Metadata: tr.Metadata, EntryID: tr.EntryID, CreatedAt: tr.CreatedAt}
		if rows[i].Metadata == nil {
			rows[i].Metadata = map[string]string{}
		}
	}
	return t.insertTransfers(ctx, rows)
}

// shareLockCustomersSQL share-locks the customers $2 (sorted: the lock order)
// of business $1, one primary-key lookup each (see idempotencyLookupSQL).
const shareLockCustomersSQL = `SELECT c.id, c.status
	FROM unnest($2::text[]) WITH ORDINALITY AS k(id, ord)
	CROSS JOIN LATERAL (SELECT id, status FROM customers WHERE business_id = $1 AND id = k.id FOR SHARE) c
	ORDER BY k.ord`

// ShareLockCustomers reads the status of several customers at once, share-locking
// their rows in id order (see ShareLockCustomer). Unknown ids are absent.
func (t *Tx) ShareLockCustomers(ctx context.Context, business string, ids []string) (map[string]ledger.CustomerStatus, error) {
	out := make(map[string]ledger.CustomerStatus, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	return out, t.readAll(ctx, shareLockCustomersRead(business, ids, out))
}

// ClaimAndShareLock is ClaimIdempotencyKeys and ShareLockCustomers in one round
// trip when the transaction has its own connection (InTxAs): the statements are
// independent, so the combiner sends them together.
func (t *Tx) ClaimAndShareLock(ctx context.Context, business string, keys []string, hashes [][]byte, customers []string) (
	stored []*StoredResponse, errs []error, statuses map[string]ledger.CustomerStatus, err error) {
	c := newIdempotencyClaim(business, keys, hashes)
	statuses = make(map[string]ledger.CustomerStatus, len(customers))
	var reads []queuedRead
	if len(keys) > 0 {
		reads = c.reads()
	}
	if len(customers) > 0 {
		reads = append(reads, shareLockCustomersRead(business, customers, statuses))
	}
	if err := t.readAll(ctx, reads...); err != nil {
		return nil, nil, nil, err
	}
	return c.stored, c.errs, statuses, nil
}

func shareLockCustomersRead(business string, ids []string, out map[string]ledger.CustomerStatus) queuedRead {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	return queuedRead{sql: shareLockCustomersSQL, args: []any{business, slices.Compact(sorted)},
		read: func(rows rowScanner) error {
			for rows.Next() {
				var id, status string
				if err := rows.Scan(&id, &status); err != nil {
					return err
				}
				out[id] = ledger.CustomerStatus(status)
			}
			return rows.Err()
		}}
}

// insertTransfers writes transfer rows with one constant statement over arrays, so
// pgx prepares it once per connection whatever the batch size.
func (t *Tx) insertTransfers(ctx context.Context, rows []transferRow) error {
	n := len(rows)
	biz, ids, from, to, status, cur := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amount, meta, entry := make([]string, n), make([]string, n), make([]string, n)
	desc := make([]*string, n)
	created := make([]time.Time, n)
	for i, r := range rows {
		m, err := json.Marshal(r.Metadata)
		if err != nil {
			return err
		}
		biz[i], ids[i], from[i], to[i], status[i], cur[i] = r.BusinessID, r.ID, r.FromProfileID, r.ToProfileID, r.Status, r.Currency
		amount[i], meta[i], entry[i], desc[i], created[i] = r.Amount.String(), string(m), r.EntryID, r.Description, r.CreatedAt
	}
	return t.write(ctx, queuedWrite{sql: `INSERT INTO transfers (business_id, id, from_profile_id, to_profile_id, status, currency,
			amount, description, metadata, entry_id, created_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[],
			$8::text[], $9::jsonb[], $10::text[], $11::timestamptz[])`,
		args: []any{biz, ids, from, to, status, cur, amount, desc, meta, entry, created}})
}

// FindTransfer returns a transfer that the profile sent or received.
func (s *Store) FindTransfer(ctx context.Context, business, profile, id string) (ledger.Transfer, error) {
	return readAs(ctx, s, business, func(s *Store) (ledger.Transfer, error) {
		var r transferRow
		err := s.q.NewSelect().Model(&r).Where("business_id = ? AND id = ?", business, id).
			Where("(from_profile_id = ? OR to_profile_id = ?)", profile, profile).Scan(ctx)
		if err != nil {
			return ledger.Transfer{}, notFound(err, "transfer", id)
		}
		return r.domain(), nil
	})
}

// listTransfersSQL pages through a profile's transfers by the lines that moved
// them (migration 20261207000600): each transfer has one line of type transfer
// per profile, of the transfer's entry and dated with it, read newest first from
// ledger_lines_transfers and joined to its transfer row before the limit, so a
// transfer line that names no transfer of this profile (the ledger's own tests
// book such lines) is skipped, not counted. The keyset position is the line's
// (created_at, id): index order, no sort. %s is the cursor's condition or nothing.
const listTransfersSQL = `SELECT t.*, l.created_at AS line_created_at, l.id AS line_id
	FROM ledger_lines l
	JOIN transfers t ON t.business_id = $1 AND t.id = l.resource_id AND t.entry_id = l.entry_id
		AND (t.from_profile_id = $2 OR t.to_profile_id = $2)
	WHERE l.business_id = $1 AND l.owner_id = $2 AND l.visible AND l.type = 'transfer'%s
	ORDER BY l.created_at DESC, l.id DESC LIMIT $3`

var (
	listTransfersFirstSQL = fmt.Sprintf(listTransfersSQL, "")
	listTransfersAfterSQL = fmt.Sprintf(listTransfersSQL, ` AND (l.created_at, l.id) < ($4, $5)`)
)

// ListedTransfer is a transfer in a profile's list. Position is its keyset
// position there: the time and id of the profile's line of the transfer.
type ListedTransfer struct {
	ledger.Transfer
	Position ledger.Cursor
}

// listedTransferRow is a row of listTransfersSQL.
type listedTransferRow struct {
	transferRow
	LineCreatedAt time.Time `bun:"line_created_at"`
	LineID        string    `bun:"line_id"`
}

// ListTransfers pages through transfers the profile sent or received, newest
// first.
func (s *Store) ListTransfers(ctx context.Context, business, profile string, p ledger.Page) ([]ListedTransfer, error) {
	return readAs(ctx, s, business, func(s *Store) ([]ListedTransfer, error) {
		query, args := listTransfersFirstSQL, []any{business, profile, p.Limit + 1}
		if c := p.After; c != nil {
			query, args = listTransfersAfterSQL, append(args, c.CreatedAt, c.ID)
		}
		var rows []listedTransferRow
		err := scanAll(ctx, s.raw, s.db, &rows, query, args...)
		out := make([]ListedTransfer, len(rows))
		for i, r := range rows {
			out[i] = ListedTransfer{Transfer: r.domain(), Position: ledger.Cursor{CreatedAt: r.LineCreatedAt.UTC(), ID: r.LineID}}
		}
		return out, translate(err)
	})
}
