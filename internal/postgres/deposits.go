package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/ledger"
)

type depositRow struct {
	bun.BaseModel         `bun:"table:deposits"`
	BusinessID            string          `bun:"business_id,pk"`
	ID                    string          `bun:"id,pk"`
	ProfileID             string          `bun:"profile_id"`
	Status                string          `bun:"status"`
	Currency              string          `bun:"currency"`
	Network               string          `bun:"network"`
	Amount                decimal.Decimal `bun:"amount,type:numeric"`
	ToAddress             string          `bun:"to_address"`
	FromAddress           string          `bun:"from_address"`
	TxHash                string          `bun:"tx_hash"`
	OutputIndex           int             `bun:"output_index"`
	Confirmations         int             `bun:"confirmations"`
	RequiredConfirmations int             `bun:"required_confirmations"`
	EntryID               string          `bun:"entry_id"`
	CreatedAt             time.Time       `bun:"created_at"`
	UpdatedAt             time.Time       `bun:"updated_at"`
	CompletedAt           *time.Time      `bun:"completed_at"`
}

func (r depositRow) domain() ledger.Deposit {
	d := ledger.Deposit{ID: r.ID, Business: r.BusinessID, ProfileID: r.ProfileID, Status: r.Status, Currency: r.Currency,
		Network: r.Network, Amount: r.Amount, ToAddress: r.ToAddress, FromAddress: r.FromAddress, TxHash: r.TxHash,
		OutputIndex: r.OutputIndex, Confirmations: r.Confirmations, RequiredConfirmations: r.RequiredConfirmations,
		EntryID: r.EntryID, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), CompletedAt: r.CompletedAt}
	if d.CompletedAt != nil {
		t := d.CompletedAt.UTC()
		d.CompletedAt = &t
	}
	return d
}

func depositToRow(d ledger.Deposit) depositRow {
	return depositRow{BusinessID: d.Business, ID: d.ID, ProfileID: d.ProfileID, Status: d.Status, Currency: d.Currency,
		Network: d.Network, Amount: d.Amount, ToAddress: d.ToAddress, FromAddress: d.FromAddress, TxHash: d.TxHash,
		OutputIndex: d.OutputIndex, Confirmations: d.Confirmations, RequiredConfirmations: d.RequiredConfirmations,
		EntryID: d.EntryID, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, CompletedAt: d.CompletedAt}
}

// DepositReport is what a rail says it saw on chain or at the bank.
type DepositReport struct {
	Network       string
	Currency      ledger.Currency
	Amount        decimal.Decimal
	ToAddress     string
	FromAddress   string
	TxHash        string
	OutputIndex   int
	Confirmations int
	// OnlyBusiness, when set, refuses addresses of other businesses (sandbox deposits).
	OnlyBusiness string
}

// DepositOutcome says what a report did: Created on the first report, Event the
// outbox event to write ("" when nothing changed).
type DepositOutcome struct {
	Deposit ledger.Deposit
	Created bool
	Event   string
}

// ReportDeposit books a rail's report (API.md §6). The same (network, tx_hash,
// output_index) is serialised by an advisory lock and never credits twice: a known
// deposit only gains confirmations, and completes once they reach the network's
// requirement. A risk-listed source is rejected to the business's suspense account;
// an unknown address is recorded as unmatched (Deposit.Business empty).
func (t *Tx) ReportDeposit(ctx context.Context, r DepositReport) (DepositOutcome, error) {
	h := sha256.Sum256([]byte(r.Network + "\x00" + r.TxHash + "\x00" + strconv.Itoa(r.OutputIndex)))
	if _, err := t.tx.Tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(binary.BigEndian.Uint64(h[:8]))); err != nil {
		return DepositOutcome{}, translate(err)
	}
	network, ok := r.Currency.Network(r.Network)
	if !ok {
		return DepositOutcome{}, ledger.ParamErrorf(ledger.CodeNetworkUnsupported, "network", "network %q is not supported for %s", r.Network, r.Currency.Code)
	}
	var existing depositRow
	err := t.tx.NewSelect().Model(&existing).Where("network = ? AND tx_hash = ? AND output_index = ?", r.Network, r.TxHash, r.OutputIndex).Scan(ctx)
	if err == nil {
		if r.OnlyBusiness != "" && existing.BusinessID != r.OnlyBusiness {
			return DepositOutcome{}, ledger.ParamErrorf(ledger.CodeValidation, "tx_hash", "this transaction was already reported for another address")
		}
		return t.confirmDeposit(ctx, existing.domain(), r.Confirmations)
	}
	if ne := notFound(err, "deposit", r.TxHash); ledger.ErrorCode(ne) != ledger.CodeNotFound {
		return DepositOutcome{}, ne
	}
	addr, err := t.routeDepositAddress(ctx, r.Network, r.ToAddress)
	if err != nil {
		return DepositOutcome{}, err
	}
	if r.OnlyBusiness != "" && (addr == nil || addr.Business != r.OnlyBusiness) {
		return DepositOutcome{}, ledger.ParamErrorf(ledger.CodeValidation, "to_address", "to_address must be one of your deposit addresses on %s", r.Network)
	}
	now := now()
	d := ledger.Deposit{ID: ledger.NewID(ledger.PrefixDeposit), Currency: r.Currency.Code, Network: r.Network, Amount: r.Amount,
		ToAddress: r.ToAddress, FromAddress: r.FromAddress, TxHash: r.TxHash, OutputIndex: r.OutputIndex,
		Confirmations: r.Confirmations, RequiredConfirmations: network.Confirmations, CreatedAt: now, UpdatedAt: now}
	if addr == nil {
		// Recorded for the operator; a repeated report keeps the first id and only
		// raises the confirmations.
		d.Status = ledger.DepositUnmatched
		var inserted bool
		err := t.tx.Tx.QueryRowContext(ctx, `INSERT INTO unmatched_deposits (network, tx_hash, output_index, id, currency, amount,
			to_address, from_address, confirmations, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (network, tx_hash, output_index) DO UPDATE SET confirmations = GREATEST(unmatched_deposits.confirmations, EXCLUDED.confirmations)
			RETURNING id, confirmations, created_at, xmax = 0`,
			d.Network, d.TxHash, d.OutputIndex, d.ID, d.Currency, d.Amount, d.ToAddress, d.FromAddress, d.Confirmations, now).
			Scan(&d.ID, &d.Confirmations, &d.CreatedAt, &inserted)
		d.CreatedAt = d.CreatedAt.UTC()
		return DepositOutcome{Deposit: d, Created: inserted}, translate(err)
	}
	d.Business, d.ProfileID = addr.Business, addr.ProfileID
	risky, err := t.Risky(ctx, r.Network, r.FromAddress)
	if err != nil {
		return DepositOutcome{}, err
	}
	closed := false
	if strings.HasPrefix(d.ProfileID, ledger.PrefixCustomer) {
		cust, err := t.ShareLockCustomer(ctx, d.Business, d.ProfileID)
		if err != nil {
			return DepositOutcome{}, err
		}
		closed = cust.Status == ledger.CustomerClosed
	}
	settlement := ledger.BusinessAccount(d.Business, ledger.SettlementPurpose(d.Network), d.Currency)
	e := ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: d.Business, Kind: "deposit", ResourceID: d.ID,
		Description: "Deposit " + d.TxHash, CreatedAt: now, Phase: ledger.PhasePosted,
		Postings: []ledger.Posting{{Debit: settlement, Credit: ledger.ProfileAccount(d.ProfileID, d.Currency), Amount: d.Amount, Type: ledger.LineDeposit}}}
	switch {
	case risky, closed:
		// Never credited to the profile: held in the business's suspense account for
		// review (a risk-listed source, or a customer that was closed).
		reason := "risk-listed source"
		if !risky {
			reason = "customer closed"
		}
		d.Status, e.Description = ledger.DepositRejected, "Rejected deposit "+d.TxHash+" ("+reason+")"
		e.Postings[0].Credit = ledger.BusinessAccount(d.Business, ledger.PurposeSuspense, d.Currency)
	case d.Confirmations >= d.RequiredConfirmations:
		d.Status, d.CompletedAt = ledger.DepositCompleted, &now
	default:
		d.Status, e.Phase = ledger.DepositPending, ledger.PhasePending
	}
	d.EntryID = e.ID
	if _, err := t.Record(ctx, e); err != nil {
		return DepositOutcome{}, err
	}
	row := depositToRow(d)
	if _, err := t.tx.NewInsert().Model(&row).Exec(ctx); err != nil {
		if constraint(err, "23505") == "deposits_chain_output" {
			// Reported before for another business, whose row this transaction
			// cannot see under row-level security (a sandbox deposit).
			return DepositOutcome{}, ledger.ParamErrorf(ledger.CodeValidation, "tx_hash", "this transaction was already reported for another address")
		}
		return DepositOutcome{}, translate(err)
	}
	return DepositOutcome{Deposit: d, Created: true, Event: "deposit." + d.Status}, nil
}

// confirmDeposit raises a known deposit's confirmations and completes it (posting
// its hold) once they reach the requirement. Confirmations never go down.
func (t *Tx) confirmDeposit(ctx context.Context, d ledger.Deposit, confirmations int) (DepositOutcome, error) {
	out := DepositOutcome{Deposit: d}
	if confirmations <= d.Confirmations {
		return out, nil
	}
	d.Confirmations, d.UpdatedAt = confirmations, now()
	if d.Status == ledger.DepositPending && confirmations >= d.RequiredConfirmations {
		if _, err := t.PostHold(ctx, d.Business, d.EntryID, "Deposit "+d.TxHash+" confirmed"); err != nil {
			return out, err
		}
		d.Status, d.CompletedAt = ledger.DepositCompleted, &d.UpdatedAt
		out.Event = "deposit.completed"
	}
	row := depositToRow(d)
	if _, err := t.tx.NewUpdate().Model(&row).Column("status", "confirmations", "updated_at", "completed_at").WherePK().Exec(ctx); err != nil {
		return out, translate(err)
	}
	out.Deposit = d
	return out, nil
}

// FindDeposit returns one deposit of a profile.
func (s *Store) FindDeposit(ctx context.Context, business, profile, id string) (ledger.Deposit, error) {
	return readAs(ctx, s, business, func(s *Store) (ledger.Deposit, error) {
		var r depositRow
		err := s.q.NewSelect().Model(&r).Where("business_id = ? AND profile_id = ? AND id = ?", business, profile, id).Scan(ctx)
		if err != nil {
			return ledger.Deposit{}, notFound(err, "deposit", id)
		}
		return r.domain(), nil
	})
}

// ListDeposits pages through a profile's deposits.
func (s *Store) ListDeposits(ctx context.Context, business, profile string, p ledger.Page) ([]ledger.Deposit, error) {
	return readAs(ctx, s, business, func(s *Store) ([]ledger.Deposit, error) {
		var rows []depositRow
		err := scanOnce(ctx, s.raw, s.db, keyset(s.q.NewSelect().Model(&rows).Where("business_id = ? AND profile_id = ?", business, profile), p), &rows)
		out := make([]ledger.Deposit, len(rows))
		for i, r := range rows {
			out[i] = r.domain()
		}
		return out, translate(err)
	})
}

// ListUnmatchedDeposits pages through deposits to unknown addresses (operator).
func (s *Store) ListUnmatchedDeposits(ctx context.Context, p ledger.Page) ([]ledger.Deposit, error) {
	q := `SELECT id, currency, network, amount, to_address, from_address, tx_hash, output_index, confirmations, created_at
		FROM unmatched_deposits`
	args := []any{}
	if c := p.After; c != nil {
		q += ` WHERE (created_at, id) < ($1, $2)`
		args = append(args, c.CreatedAt, c.ID)
	}
	args = append(args, p.Limit+1)
	q += ` ORDER BY created_at DESC, id DESC LIMIT $` + string(rune('0'+len(args)))
	rows, err := s.db.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []ledger.Deposit
	for rows.Next() {
		d := ledger.Deposit{Status: ledger.DepositUnmatched}
		if err := rows.Scan(&d.ID, &d.Currency, &d.Network, &d.Amount, &d.ToAddress, &d.FromAddress, &d.TxHash,
			&d.OutputIndex, &d.Confirmations, &d.CreatedAt); err != nil {
			return nil, translate(err)
		}
		d.CreatedAt = d.CreatedAt.UTC()
		d.UpdatedAt = d.CreatedAt
		out = append(out, d)
	}
	return out, translate(rows.Err())
}
