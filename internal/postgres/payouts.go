package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/shopspring/decimal"
	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/ledger"
)

type payoutRow struct {
	bun.BaseModel `bun:"table:payouts"`
	BusinessID    string              `bun:"business_id,pk"`
	ID            string              `bun:"id,pk"`
	ProfileID     string              `bun:"profile_id"`
	Status        string              `bun:"status"`
	Currency      string              `bun:"currency"`
	Network       string              `bun:"network"`
	Amount        decimal.Decimal     `bun:"amount,type:numeric"`
	Fee           decimal.Decimal     `bun:"fee,type:numeric"`
	Address       string              `bun:"address"`
	WalletID      *string             `bun:"wallet_id"`
	Beneficiary   *ledger.Beneficiary `bun:"beneficiary,type:jsonb"`
	TxHash        *string             `bun:"tx_hash"`
	FailureReason *string             `bun:"failure_reason"`
	Reference     *string             `bun:"reference"`
	Description   *string             `bun:"description"`
	Metadata      map[string]string   `bun:"metadata,type:jsonb"`
	HoldID        string              `bun:"hold_id"`
	CreatedAt     time.Time           `bun:"created_at"`
	UpdatedAt     time.Time           `bun:"updated_at"`
}

func (r payoutRow) domain() ledger.Payout {
	p := ledger.Payout{ID: r.ID, Business: r.BusinessID, ProfileID: r.ProfileID, Status: r.Status, Currency: r.Currency,
		Network: r.Network, Amount: r.Amount, Fee: r.Fee, Address: r.Address, WalletID: deref(r.WalletID),
		Beneficiary: r.Beneficiary, TxHash: deref(r.TxHash), FailureReason: deref(r.FailureReason),
		Reference: deref(r.Reference), Description: deref(r.Description), Metadata: r.Metadata, HoldID: r.HoldID,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if p.Metadata == nil {
		p.Metadata = map[string]string{}
	}
	return p
}

func payoutToRow(p ledger.Payout) payoutRow {
	r := payoutRow{BusinessID: p.Business, ID: p.ID, ProfileID: p.ProfileID, Status: p.Status, Currency: p.Currency,
		Network: p.Network, Amount: p.Amount, Fee: p.Fee, Address: p.Address, WalletID: nullable(p.WalletID),
		Beneficiary: p.Beneficiary, TxHash: nullable(p.TxHash), FailureReason: nullable(p.FailureReason),
		Reference: nullable(p.Reference), Description: nullable(p.Description), Metadata: p.Metadata, HoldID: p.HoldID,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	return r
}

// CreatePayout holds amount + fee on the paying profile at once (one conditional
// debit; insufficient_funds otherwise) and stores the payout as pending.
func (t *Tx) CreatePayout(ctx context.Context, p ledger.Payout) (ledger.Payout, error) {
	hold := PayoutHold(&p, ledger.NewID(ledger.PrefixEntry))
	if _, err := t.Record(ctx, hold); err != nil {
		return p, err
	}
	return p, t.SavePayouts(ctx, []ledger.Payout{p})
}

// PayoutHold makes p a new pending payout (status, times, hold id: entryID, a
// new entry id) and returns the pending entry that holds its amount and fee;
// recording that entry and SavePayouts place it (CreatePayout, or the API's
// combiner batches).
func PayoutHold(p *ledger.Payout, entryID string) ledger.Entry {
	p.CreatedAt, p.UpdatedAt, p.Status = now(), now(), ledger.PayoutPending
	hold := ledger.Entry{ID: entryID, Business: p.Business, Kind: "payout", Phase: ledger.PhasePending,
		ResourceID: p.ID, Description: "Payout to " + p.Address, CreatedAt: p.CreatedAt,
		Postings: []ledger.Posting{{Debit: ledger.ProfileAccount(p.ProfileID, p.Currency),
			Credit: ledger.BusinessAccount(p.Business, ledger.SettlementPurpose(p.Network), p.Currency),
			Amount: p.Amount, Type: ledger.LinePayout}}}
	if p.Fee.IsPositive() {
		hold.Postings = append(hold.Postings, ledger.Posting{Debit: ledger.ProfileAccount(p.ProfileID, p.Currency),
			Credit: ledger.BusinessAccount(p.Business, ledger.PurposeFees, p.Currency), Amount: p.Fee, Type: ledger.LinePayoutFee})
	}
	p.HoldID = hold.ID
	return hold
}

// insertPayoutsSQL writes payout rows: one constant statement over arrays, so
// pgx prepares it once per connection and it can wait in a pipeline (Tx.write).
const insertPayoutsSQL = `INSERT INTO payouts (business_id, id, profile_id, status, currency, network, amount, fee, address,
		wallet_id, beneficiary, tx_hash, failure_reason, reference, description, metadata, hold_id, created_at, updated_at)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[], $8::numeric[],
		$9::text[], $10::text[], $11::jsonb[], $12::text[], $13::text[], $14::text[], $15::text[], $16::jsonb[], $17::text[],
		$18::timestamptz[], $19::timestamptz[])`

// SavePayouts stores placed payouts with one statement.
func (t *Tx) SavePayouts(ctx context.Context, ps []ledger.Payout) error {
	if len(ps) == 0 {
		return nil
	}
	n := len(ps)
	biz, ids, profile, status, cur, network := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amount, fee, address, meta, hold := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	wallet, benef, txHash, failure, ref, desc := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	created, updated := make([]time.Time, n), make([]time.Time, n)
	for i, p := range ps {
		r := payoutToRow(p)
		m, err := json.Marshal(r.Metadata)
		if err != nil {
			return err
		}
		if r.Beneficiary != nil {
			b, err := json.Marshal(r.Beneficiary)
			if err != nil {
				return err
			}
			v := string(b)
			benef[i] = &v
		}
		biz[i], ids[i], profile[i], status[i], cur[i], network[i] = r.BusinessID, r.ID, r.ProfileID, r.Status, r.Currency, r.Network
		amount[i], fee[i], address[i], meta[i], hold[i] = r.Amount.String(), r.Fee.String(), r.Address, string(m), r.HoldID
		wallet[i], txHash[i], failure[i], ref[i], desc[i] = r.WalletID, r.TxHash, r.FailureReason, r.Reference, r.Description
		created[i], updated[i] = r.CreatedAt, r.UpdatedAt
	}
	return t.write(ctx, queuedWrite{sql: insertPayoutsSQL, args: []any{biz, ids, profile, status, cur, network, amount, fee, address,
		wallet, benef, txHash, failure, ref, desc, meta, hold, created, updated}})
}

// lockPayout reads a payout under a row lock. An empty business means the rail
// (operator) addresses it by id alone.
func (t *Tx) lockPayout(ctx context.Context, business, profile, id string) (ledger.Payout, error) {
	var r payoutRow
	q := t.tx.NewSelect().Model(&r).Where("id = ?", id).For("UPDATE")
	if business != "" {
		q = q.Where("business_id = ?", business)
	}
	if profile != "" {
		q = q.Where("profile_id = ?", profile)
	}
	if err := q.Scan(ctx); err != nil {
		return ledger.Payout{}, notFound(err, "payout", id)
	}
	return r.domain(), nil
}

// PayoutTransition is one step of the payout lifecycle.
type PayoutTransition struct {
	To            string // processing, completed, failed, cancelled
	TxHash        string
	FailureReason string
}

// allowedFrom lists the states each transition may start from (API.md §7).
var allowedFrom = map[string][]string{
	ledger.PayoutProcessing: {ledger.PayoutPending},
	ledger.PayoutCompleted:  {ledger.PayoutPending, ledger.PayoutProcessing},
	ledger.PayoutFailed:     {ledger.PayoutPending, ledger.PayoutProcessing},
	ledger.PayoutCancelled:  {ledger.PayoutPending},
}

// AdvancePayout moves a payout along its lifecycle under its row lock, so a cancel
// and a rail racing each other leave exactly one outcome: completing posts the
// hold, failing and cancelling void it in full (fee included). business and
// profile scope the lookup ("" for the rail). A transition from a state that does
// not allow it is invalid_state.
func (t *Tx) AdvancePayout(ctx context.Context, business, profile, id string, tr PayoutTransition) (ledger.Payout, error) {
	p, err := t.lockPayout(ctx, business, profile, id)
	if err != nil {
		return p, err
	}
	ok := false
	for _, from := range allowedFrom[tr.To] {
		ok = ok || p.Status == from
	}
	if !ok {
		return p, ledger.Errorf(ledger.CodeInvalidState, "payout %s is %s and cannot become %s", p.ID, p.Status, tr.To)
	}
	switch tr.To {
	case ledger.PayoutCompleted:
		if _, err := t.PostHold(ctx, p.Business, p.HoldID, "Payout "+p.ID+" completed"); err != nil {
			return p, err
		}
		p.TxHash = tr.TxHash
	case ledger.PayoutFailed, ledger.PayoutCancelled:
		if _, err := t.VoidHold(ctx, p.Business, p.HoldID, ledger.LinePayoutReversal, "Payout "+p.ID+" "+tr.To); err != nil {
			return p, err
		}
		p.FailureReason = tr.FailureReason
	}
	p.Status, p.UpdatedAt = tr.To, now()
	row := payoutToRow(p)
	_, err = t.tx.NewUpdate().Model(&row).Column("status", "tx_hash", "failure_reason", "updated_at").WherePK().Exec(ctx)
	return p, translate(err)
}

// FindPayout returns one payout of a profile.
func (s *Store) FindPayout(ctx context.Context, business, profile, id string) (ledger.Payout, error) {
	return readAs(ctx, s, business, func(s *Store) (ledger.Payout, error) {
		var r payoutRow
		err := s.q.NewSelect().Model(&r).Where("business_id = ? AND profile_id = ? AND id = ?", business, profile, id).Scan(ctx)
		if err != nil {
			return ledger.Payout{}, notFound(err, "payout", id)
		}
		return r.domain(), nil
	})
}

// ListPayouts pages through a profile's payouts; with business empty it lists
// every business's payouts in a status (the rail's view).
func (s *Store) ListPayouts(ctx context.Context, business, profile, status string, p ledger.Page) ([]ledger.Payout, error) {
	return readAs(ctx, s, business, func(s *Store) ([]ledger.Payout, error) {
		var rows []payoutRow
		q := s.q.NewSelect().Model(&rows)
		if business != "" {
			q = q.Where("business_id = ? AND profile_id = ?", business, profile)
		}
		if status != "" {
			q = q.Where("status = ?", status)
		}
		err := scanOnce(ctx, s.raw, s.db, keyset(q, p), &rows)
		out := make([]ledger.Payout, len(rows))
		for i, r := range rows {
			out[i] = r.domain()
		}
		return out, translate(err)
	})
}

// ClaimSandboxPayouts locks up to limit open payouts of sandbox businesses that
// have not changed for at least minAge, skipping rows another replica holds, and
// returns their ids. The caller advances them in the same transaction.
func (t *Tx) ClaimSandboxPayouts(ctx context.Context, minAge time.Duration, limit int) ([]ledger.Payout, error) {
	var rows []payoutRow
	err := t.tx.NewSelect().Model(&rows).
		Where("status IN ('pending', 'processing')").
		Where("updated_at < now() - ?::interval", minAge.String()).
		Where("business_id IN (SELECT id FROM businesses WHERE mode = 'sandbox')").
		OrderExpr("updated_at").Limit(int64(limit)).For("UPDATE SKIP LOCKED").Scan(ctx)
	out := make([]ledger.Payout, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, translate(err)
}

// WalletAddress returns the address of a profile's wallet for a payout on network.
// Another profile's or business's wallet is not_found.
func (t *Tx) WalletAddress(ctx context.Context, business, profile, walletID, network string) (string, error) {
	var addr, walletNetwork string
	err := t.tx.Tx.QueryRowContext(ctx, `SELECT address, network FROM wallets WHERE business_id = $1 AND customer_id = $2 AND id = $3`,
		business, profile, walletID).Scan(&addr, &walletNetwork)
	if err != nil {
		e := notFound(err, "wallet", walletID)
		if le, ok := e.(*ledger.Error); ok {
			le.Param = "wallet_id"
		}
		return "", e
	}
	if walletNetwork != network {
		return "", ledger.ParamErrorf(ledger.CodeValidation, "wallet_id", "wallet %s is on %s, not %s", walletID, walletNetwork, network)
	}
	return addr, nil
}
