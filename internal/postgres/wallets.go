package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/ledger"
)

type walletRow struct {
	bun.BaseModel `bun:"table:wallets"`
	BusinessID    string    `bun:"business_id,pk"`
	ID            string    `bun:"id,pk"`
	CustomerID    string    `bun:"customer_id"`
	Network       string    `bun:"network"`
	Address       string    `bun:"address"`
	Label         string    `bun:"label"`
	CreatedAt     time.Time `bun:"created_at"`
}

func (r walletRow) domain() ledger.Wallet {
	return ledger.Wallet{ID: r.ID, Business: r.BusinessID, Customer: r.CustomerID, Network: r.Network,
		Address: r.Address, Label: r.Label, CreatedAt: r.CreatedAt.UTC()}
}

// CreateWallet inserts w. An address already registered on the network by any
// customer of the business is wallet_exists, naming the wallet that holds it.
func (t *Tx) CreateWallet(ctx context.Context, w ledger.Wallet) error {
	r := walletRow{BusinessID: w.Business, ID: w.ID, CustomerID: w.Customer, Network: w.Network,
		Address: w.Address, Label: w.Label, CreatedAt: w.CreatedAt}
	// ON CONFLICT DO NOTHING keeps the transaction usable for the lookup below.
	res, err := t.tx.NewInsert().Model(&r).On("CONFLICT (business_id, network, address) DO NOTHING").Exec(ctx)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var existing walletRow
	err = t.tx.NewSelect().Model(&existing).
		Where("business_id = ? AND network = ? AND address = ?", w.Business, w.Network, w.Address).Scan(ctx)
	if err != nil {
		return translate(err)
	}
	e := ledger.ParamErrorf(ledger.CodeWalletExists, "address",
		"this %s address is already registered as wallet %s of customer %s", w.Network, existing.ID, existing.CustomerID)
	e.Details = map[string]any{"customer_id": existing.CustomerID, "wallet_id": existing.ID}
	return e
}

// FindWallets returns up to page.Limit+1 wallets of one customer, newest first.
func (s *Store) FindWallets(ctx context.Context, business, customer string, page ledger.Page) ([]ledger.Wallet, error) {
	return readAs(ctx, s, business, func(s *Store) ([]ledger.Wallet, error) {
		var rows []walletRow
		q := s.q.NewSelect().Model(&rows).Where("business_id = ? AND customer_id = ?", business, customer)
		if c := page.After; c != nil {
			q = q.Where("(created_at, id) < (?, ?)", c.CreatedAt, c.ID)
		}
		if err := scanOnce(ctx, s.raw, s.db, q.OrderExpr("created_at DESC, id DESC").Limit(int64(page.Limit+1)), &rows); err != nil {
			return nil, err
		}
		out := make([]ledger.Wallet, len(rows))
		for i, r := range rows {
			out[i] = r.domain()
		}
		return out, nil
	})
}

// FindWallet returns one wallet of business; another business's wallet is
// not_found, exactly like one that never existed. Payouts use it to resolve
// wallet_id.
func (s *Store) FindWallet(ctx context.Context, business, id string) (ledger.Wallet, error) {
	return readAs(ctx, s, business, func(s *Store) (ledger.Wallet, error) {
		return findWallet(ctx, s.q, business, id)
	})
}

func findWallet(ctx context.Context, db bun.IDB, business, id string) (ledger.Wallet, error) {
	if !ledger.ValidID(id, ledger.PrefixWallet) {
		return ledger.Wallet{}, ledger.Errorf(ledger.CodeNotFound, "wallet %q not found", id)
	}
	var r walletRow
	err := db.NewSelect().Model(&r).Where("business_id = ? AND id = ?", business, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Wallet{}, ledger.Errorf(ledger.CodeNotFound, "wallet %q not found", id)
	}
	if err != nil {
		return ledger.Wallet{}, translate(err)
	}
	return r.domain(), nil
}

// DeleteWallet removes one wallet of one customer; a wallet of another customer or
// business is not_found. The address is free to register again afterwards.
func (t *Tx) DeleteWallet(ctx context.Context, business, customer, id string) (ledger.Wallet, error) {
	if !ledger.ValidID(id, ledger.PrefixWallet) {
		return ledger.Wallet{}, ledger.Errorf(ledger.CodeNotFound, "wallet %q not found", id)
	}
	var r walletRow
	err := t.tx.NewDelete().Model(&r).
		Where("business_id = ? AND customer_id = ? AND id = ?", business, customer, id).
		Returning("*").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Wallet{}, ledger.Errorf(ledger.CodeNotFound, "wallet %q not found", id)
	}
	if err != nil {
		return ledger.Wallet{}, translate(err)
	}
	return r.domain(), nil
}
